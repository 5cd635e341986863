"""The macvtap ("direct") driver without root: pool allocation, live counts, the start's steps,
and the plugger's steps as golden lists through the recording host."""
from __future__ import annotations

from pathlib import Path

import pytest

from kvmnet.engine.recording import RecordingHost
from kvmnet.errors import ConflictError, ValidationError
from kvmnet.host import tap as taps
from kvmnet.model.frozen import replace
from kvmnet.model.port import NetworkPort, Plug, PlugType
from kvmnet.network.drivers import driver_for, live_view
from kvmnet.network.drivers.base import PlanContext
from kvmnet.network.drivers.direct import choose, host_access_name, with_counts
from kvmnet.port.plugs import macvtap as plugger
from kvmnet.port.plugs.base import PlugOptions, load_record
from kvmnet.xmlio.network import format_network, parse_network

UUID = "5d744f21-ba4a-4d6e-bdb2-30a35ff3207d"
NET_UUID = "81ff0d90-c91e-6742-64da-4a736edb9a9b"
CTX = PlanContext(dnsmasq_dir="/d", pid_file="/p", lease_helper="/l", servers_file="/s",
                  conf_file="/c", leases_file="/f", root="/", python="/py")


def net(mode: str, pool: str = "<interface dev='eth1'/><interface dev='eth2'/>",
        extra: str = "") -> str:
    return (f"<network xmlns:kvmnet='https://kvmnet.org/xmlns/network/1.0'><name>mv</name>"
            f"<uuid>{NET_UUID}</uuid>{extra}<forward mode='{mode}'>{pool}</forward></network>")


# -- allocation (libvirt's networkAllocatePort) -------------------------------------------------
@pytest.mark.parametrize("mode", ["bridge", "private", "vepa"])
def test_shared_modes_take_the_least_used_device_first_in_pool_order(mode: str) -> None:
    pool = ("eth1", "eth2", "eth3")
    assert choose("mv", mode, pool, {}) == "eth1"
    assert choose("mv", mode, pool, {"eth1": 1}) == "eth2"
    assert choose("mv", mode, pool, {"eth1": 2, "eth2": 1, "eth3": 1}) == "eth2"
    assert choose("mv", mode, pool, {"eth1": 5, "eth2": 5, "eth3": 5}) == "eth1"  # never full


def test_passthrough_takes_a_device_of_its_own_and_says_when_none_is_left() -> None:
    pool = ("eth1", "eth2")
    assert choose("mv", "passthrough", pool, {"eth1": 1}) == "eth2"
    with pytest.raises(ConflictError) as info:
        choose("mv", "passthrough", pool, {"eth1": 1, "eth2": 1})
    assert str(info.value) == (
        "network 'mv' has no free device left: passthrough gives each guest a device of its "
        "own, and all 2 (eth1, eth2) are in use; stop a guest or add <interface dev=.../> "
        "devices to the network")
    with pytest.raises(ValidationError, match="no devices in its pool"):
        choose("mv", "bridge", (), {})


def test_live_xml_shows_connections_per_device_and_none_when_unused() -> None:
    live = with_counts(parse_network(net("vepa")), {"eth2": 3})
    text = format_network(live)
    assert "<interface dev='eth1'/>" in text
    assert "<interface dev='eth2' connections='3'/>" in text


@pytest.mark.parametrize("mode", ["bridge", "private", "vepa", "passthrough"])
def test_every_macvtap_mode_shows_its_live_pool_through_the_modes_one_hook(mode: str) -> None:
    # net-dumpxml of an active network asks kvmnet.network.drivers.live_view, whatever the mode
    text = format_network(live_view(None, parse_network(net(mode)),  # type: ignore[arg-type]
                                    {"eth1": 2}))
    assert "<interface dev='eth1' connections='2'/>" in text
    assert "<interface dev='eth2'/>" in text


@pytest.mark.parametrize("xml", [
    "<network><name>hb</name><forward mode='bridge'/><bridge name='br0'/></network>",
    ("<network><name>n</name><forward mode='nat' dev='eth1'/><ip address='192.0.2.1' "
     "prefix='24'/></network>"),
])
def test_a_network_without_a_device_pool_shows_its_definition_live(xml: str) -> None:
    defined = parse_network(xml)
    assert live_view(None, defined, {"eth1": 2}) is defined  # type: ignore[arg-type]


def test_device_use_counts_the_network_port_records(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts come from the port records (complete or half-made): nothing to go stale."""
    _fake_links(monkeypatch)
    for i, mac in enumerate(("52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:03")):
        plug(tmp_path, f"{UUID[:-1]}{i}", mac, pool=("eth1", "eth2"))
    assert plugger.device_use(tmp_path) == {"eth1": 2, "eth2": 1}
    (tmp_path / f"{UUID[:-1]}0.json").unlink()
    assert plugger.device_use(tmp_path) == {"eth1": 1, "eth2": 1}


# -- the start --------------------------------------------------------------------------------
def test_start_checks_the_pool_and_says_what_the_host_cannot_do() -> None:
    steps = driver_for(parse_network(net("private"))).plan(parse_network(net("private")),
                                                           CTX).steps()
    assert [s.describe() for s in steps] == [
        "# needs the existing link eth1", "# needs the existing link eth2",
        ("# network 'mv': the host cannot reach its macvtap guests through the parent device "
        "(a macvtap limit); see <kvmnet:host-access> in the README to give the host a way in")]


def test_bridge_mode_gets_the_driver_of_its_kind_of_network_from_the_registry() -> None:
    # a <bridge>: the host bridge must exist, ports go on it; devices: a macvtap pool
    on_bridge = parse_network("<network><name>hb</name><forward mode='bridge'/>"
                              "<bridge name='br0'/></network>")
    on_devices = parse_network(net("bridge"))
    assert driver_for(on_bridge).plan(on_bridge, CTX).requires_links == ("br0",)
    assert driver_for(on_bridge).device_pool(on_bridge) == ()
    assert driver_for(on_devices).plan(on_devices, CTX).requires_links == ("eth1", "eth2")
    assert driver_for(on_devices).device_pool(on_devices) == ("eth1", "eth2")
    neither = parse_network("<network><name>b</name><forward mode='bridge'/></network>")
    with pytest.raises(ValidationError, match="names no bridge and no forward device"):
        driver_for(neither).plan(neither, CTX)


def test_host_access_is_a_macvlan_with_the_host_address_on_the_first_device() -> None:
    n = parse_network(net("bridge", extra=(
        "<metadata><kvmnet:host-access address='192.0.2.10/24'/></metadata>")))
    steps = driver_for(n).plan(n, CTX).steps()
    name = host_access_name(n)
    assert name == "kvmnet-81ff0d90"
    assert [s.describe() for s in steps] == [
        "# needs the existing link eth1", "# needs the existing link eth2",
        (f"ip link add link eth1 name {name} address 02:81:ff:0d:90:c9 type macvlan mode "
        f"bridge\nip link set dev {name} up"),
        f"ip addr add 192.0.2.10/24 dev {name}"]


@pytest.mark.parametrize("extra, mode, words", [
    ("<metadata><kvmnet:host-access address='192.0.2.10/24'/></metadata>", "private",
     "needs forward mode='bridge'"),
    ("<metadata><kvmnet:host-access address='192.0.2.10'/></metadata>", "bridge",
     "needs the LAN's prefix"),
    ("<metadata><kvmnet:host-access address='nope'/></metadata>", "bridge",
     "is not an address with a prefix"),
])
def test_host_access_refusals(extra: str, mode: str, words: str) -> None:
    n = parse_network(net(mode, extra=extra))
    with pytest.raises(ValidationError, match=words):
        driver_for(n).plan(n, CTX)


@pytest.mark.parametrize("vport, needs", [
    (("<virtualport type='802.1Qbg'><parameters managerid='11' typeid='1193047' "
     "typeidversion='2'/></virtualport>"), "lldpad and a VDP-capable switch"),
    ("<virtualport type='802.1Qbh'><parameters profileid='web'/></virtualport>",
     "a NIC with 802.1Qbh support"),
])
def test_switch_profiles_are_kept_and_the_start_says_they_are_not_applied(vport: str,
                                                                          needs: str) -> None:
    n = parse_network(net("vepa", extra="") .replace("</forward>", f"</forward>{vport}"))
    assert "<parameters" in format_network(n)  # kept in the XML
    notes = [s.describe() for s in driver_for(n).plan(n, CTX).steps()
             if s.kind == "note"]
    assert any(needs in note and "guests are plugged without it" in note for note in notes)


def test_a_pf_pool_is_checked_when_the_start_runs_not_when_it_is_planned() -> None:
    n = parse_network(net("passthrough", pool="<pf dev='eth1'/>"))
    steps = [s.describe() for s in driver_for(n).plan(n, CTX).steps()]
    assert steps[:2] == ["# needs the existing link eth1",
                         "ls /sys/class/net/eth1/device/virtfn*/net  # eth1 must have VFs"]


# -- the plugger ------------------------------------------------------------------------------
def _fake_links(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(taps, "ifindex", lambda name: 7 if name.startswith("eth") else None)
    monkeypatch.setattr(taps, "get_mtu", lambda name: 1500)
    monkeypatch.setattr(plugger, "node_dir", lambda dirs: Path(dirs[0]) / "macvtap")


def plug(directory: Path, uuid: str, mac: str, *, pool: tuple[str, ...] = (),
         mode: str = "bridge", host: RecordingHost | None = None) -> dict[str, object]:
    port = replace(NetworkPort(uuid=uuid, owner_name="vm", owner_uuid=uuid, mac=mac),
                   plug=Plug(type=PlugType.DIRECT, mode=mode))
    return plugger.make(None, directory, port, "mv",  # type: ignore[arg-type]
                        PlugOptions(pool=pool, state_dirs=("/run/kvmnet",)),
                        host or RecordingHost())


def test_plug_and_unplug_golden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_links(monkeypatch)
    host = RecordingHost()
    rec = plug(tmp_path, UUID, "52:54:00:12:34:56", pool=("eth1", "eth2"), mode="vepa",
               host=host)
    assert host.log == [
        ("ip link add link eth1 name macvtap%d address 52:54:00:12:34:56 type macvtap mode "
        "vepa\nip link set dev macvtap%d up"),
        (f"mknod -m 600 /run/kvmnet/macvtap/{UUID} c $(cut -d: -f1 /sys/class/net/macvtap%d/"
        "macvtap/tap$(cat /sys/class/net/macvtap%d/ifindex)/dev) $(cut -d: -f2 "
        "/sys/class/net/macvtap%d/macvtap/tap$(cat /sys/class/net/macvtap%d/ifindex)/dev)")]
    assert rec["dev"] == "eth1" and rec["mac"] == rec["tap_mac"] == "52:54:00:12:34:56"
    saved = load_record(tmp_path, UUID)
    assert saved is not None and [e["kind"] for e in saved["undo"]] == ["macvtap",
                                                                        "macvtap.node"]
    host.log.clear()
    plugger.MacvtapPlugger().unplug(None, saved, host=host)  # type: ignore[arg-type]
    assert host.log == ["ip link del macvtap%d", f"rm -f /run/kvmnet/macvtap/{UUID}"]
    assert host.leftovers() == []


def test_a_guest_interface_names_its_device(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_links(monkeypatch)
    port = replace(NetworkPort(uuid=UUID, owner_name="vm", owner_uuid=UUID,
                               mac="52:54:00:12:34:56"),
                   plug=Plug(type=PlugType.DIRECT, dev="eth9", mode="private"))
    rec = plugger.make(None, tmp_path, port, None,  # type: ignore[arg-type]
                       PlugOptions(state_dirs=("/run/kvmnet",)), RecordingHost())
    assert rec["dev"] == "eth9" and rec["mode"] == "private"
