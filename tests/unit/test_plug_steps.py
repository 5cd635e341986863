"""Golden tests without root: what plugging and unplugging a guest port does on the host.

A recording host stands in for the kernel (the netlink socket and :mod:`kvmnet.host.tap`'s
adapters): the tap-on-a-Linux-bridge plugger runs unchanged and the test compares the host
calls it made, in order, and its ``describe()`` (the shell form), with golden lists.  The
plugger registry and the drivers' allocation (which plug a network hands out) are checked
here too.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kvmnet.errors import HostError, UnsupportedError
from kvmnet.host import tap as taps
from kvmnet.model.frozen import replace
from kvmnet.model.modes import owns_bridge
from kvmnet.model.network import Bandwidth, Network, Rate, Vlan, VlanTag
from kvmnet.model.port import NetworkPort, PlugType
from kvmnet.network.drivers import MODES, driver_for, mode_of
from kvmnet.port import plugs, ports
from kvmnet.port.plugs.base import PlugOptions, load_record
from kvmnet.port.plugs.tap_bridge import TapBridgePlugger
from kvmnet.xmlio.network import parse_network

UUID = "5d744f21-ba4a-4d6e-bdb2-30a35ff3207d"
OWNER = "c7a5fdbd-edaf-9455-926a-d65c16db1809"
NAT = """<network><name>nat1</name><forward mode='nat'/>
  <bridge name='virbr9' macTableManager='libvirt'/>
  <ip address='192.168.9.1' netmask='255.255.255.0'/>
</network>"""


class RecordingHost:
    """The kernel as a list of calls: a fake netlink socket plus :mod:`kvmnet.host.tap`'s
    adapters patched to record (their pure command builders stay real)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        self.links: dict[str, int] = {"virbr9": 1}
        rec = self.calls.append

        def create_tap(name: str, *, mac: str | None = None, mtu: int | None = None,
                       multi_queue: bool = False, up: bool = False, nl: object = None) -> str:
            name = name.replace("%d", "0")
            self.links[name] = len(self.links) + 1
            rec(f"create_tap {name} mac={mac} mtu={mtu} multi_queue={multi_queue} up={up}")
            return name

        def port_vlans(ifname: str, bridge: str, tags: list[int], **kw: Any) -> list[str]:
            rec(f"vlan_filtering? {bridge} enable={kw.pop('enable')}")
            return taps.vlan_batch(ifname, tags, **kw)

        monkeypatch.setattr(taps, "create_tap", create_tap)
        monkeypatch.setattr(taps, "get_mtu", lambda name: (rec(f"get_mtu {name}"), 1500)[1])
        monkeypatch.setattr(taps, "ifindex", lambda name: self.links.get(name))
        monkeypatch.setattr(taps, "check_linux_bridge",
                            lambda nl, name: rec(f"check_linux_bridge {name}"))
        monkeypatch.setattr(taps, "port_vlans", port_vlans)
        monkeypatch.setattr(taps, "bridge_batch",
                            lambda lines: rec("bridge -batch " + "; ".join(lines)) if lines
                            else None)
        monkeypatch.setattr(taps, "apply_bandwidth", lambda name, i, o: (
            rec(f"tc {name} in={tuple(i) if i else None} out={tuple(o) if o else None}"), [])[1])
        monkeypatch.setattr(taps, "clear_bandwidth", lambda name: rec(f"tc clear {name}"))

    # the Netlink methods the plugger calls
    def set_master(self, name: str, master: str | None) -> None:
        self.calls.append(f"set_master {name} {master}")

    def bridge_port_set(self, name: str, **kw: Any) -> None:
        self.calls.append(f"bridge_port_set {name} {sorted(kw.items())}")

    def set_link_up(self, name: str) -> None:
        self.calls.append(f"link_up {name}")

    def set_link_down(self, name: str) -> None:
        self.calls.append(f"link_down {name}")

    def delete_link(self, name: str) -> None:
        self.links.pop(name, None)
        self.calls.append(f"delete_link {name}")


def nat(extra: str = "") -> Network:
    return parse_network(NAT.replace("</network>", extra + "</network>"))


def a_port(net: Network, **kw: Any) -> NetworkPort:
    port = replace(NetworkPort(uuid=UUID, owner_name="vm", owner_uuid=OWNER,
                               mac="52:54:00:00:00:01"), **kw)
    return ports.allocate(net, port)


FULL = {"isolated": True, "vlan": Vlan(tags=(VlanTag(id=42),)),
            "bandwidth": Bandwidth(inbound=Rate(average=1000, peak=2000, burst=512),
                                outbound=Rate(average=500))}


def test_plug_then_unplug_golden(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    host = RecordingHost(monkeypatch)
    port = a_port(nat(), **FULL)
    plugger = plugs.plugger(plugs.key_of(port))
    opts = PlugOptions(vlan_filtering=True, owned_bridge=True)
    rec = plugger.plug(host, tmp_path, port, "nat1", opts)  # type: ignore[arg-type]
    assert host.calls == [
        "get_mtu virbr9",
        "create_tap vnet0 mac=fe:54:00:00:00:01 mtu=1500 multi_queue=False up=True",
        "set_master vnet0 virbr9",
        "bridge_port_set vnet0 [('hairpin', True), ('isolated', True)]",
        "vlan_filtering? virbr9 enable=True",
        ("bridge -batch link set dev vnet0 learning off flood off; "
        "fdb add 52:54:00:00:00:01 dev vnet0 master temp; "
        "vlan add dev vnet0 vid 42 pvid untagged; vlan del dev vnet0 vid 1"),
        "tc vnet0 in=(1000, 2000, 512) out=(500, None, None)",
    ]
    assert load_record(tmp_path, UUID) == rec
    assert rec["tap"] == "vnet0" and rec["tc"] is True and rec["plug_type"] == "network"
    # the port's journal, in the engine's one format: a created tap takes its qdiscs along
    data = json.loads((tmp_path / f"{UUID}.json").read_text())
    assert data["owner"] == UUID and data["state"] == "active"
    assert data["steps"] == [{"kind": "tap", "name": "vnet0", "mac": "fe:54:00:00:00:01",
                              "ifindex": 2}]
    assert data["info"]["tap"] == "vnet0" and "undo" not in data["info"]

    host.calls.clear()
    plugs.plugger(plugs.record_key(rec)).unplug(host, rec)  # type: ignore[arg-type]
    assert host.calls == ["delete_link vnet0"]


def test_adopted_device_is_restored_golden(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    host = RecordingHost(monkeypatch)
    host.links["veth1"] = 5
    monkeypatch.setattr(taps, "get_mac", lambda name: "02:00:00:00:00:05")
    monkeypatch.setattr(taps, "set_mac", lambda name, mac: host.calls.append(f"mac {name} {mac}"))
    monkeypatch.setattr(taps, "set_mtu", lambda name, mtu: host.calls.append(f"mtu {name} {mtu}"))
    port = replace(a_port(nat()), plug=replace(a_port(nat()).plug, mac_table_manager=None))
    plugger = TapBridgePlugger()
    rec = plugger.plug(host, tmp_path, port, "nat1",  # type: ignore[arg-type]
                       PlugOptions(device="veth1", mtu=9000, owned_bridge=True))
    assert host.calls == ["get_mtu virbr9", "get_mtu veth1", "mac veth1 fe:54:00:00:00:01",
                          "mtu veth1 9000",
                          "set_master veth1 virbr9",
                          "bridge_port_set veth1 [('hairpin', True), ('isolated', None)]",
                          "link_up veth1"]
    host.calls.clear()
    plugger.detach(host, rec)  # type: ignore[arg-type]
    assert host.calls == ["link_down veth1", "set_master veth1 None"]
    host.calls.clear()
    plugger.unplug(host, rec)  # type: ignore[arg-type]
    assert host.calls == ["set_master veth1 None", "mac veth1 02:00:00:00:00:05",
                          "mtu veth1 1500"]


def test_failed_plug_undoes_everything(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    host = RecordingHost(monkeypatch)

    def fail(lines: list[str]) -> None:
        raise HostError("bridge said no")

    monkeypatch.setattr(taps, "bridge_batch", fail)
    with pytest.raises(HostError, match="bridge said no"):
        TapBridgePlugger().plug(host, tmp_path, a_port(nat()), "nat1",  # type: ignore[arg-type]
                                PlugOptions(owned_bridge=True))
    assert host.calls[-1] == "delete_link vnet0"
    assert list(tmp_path.iterdir()) == []


def test_plug_runs_on_the_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The executor runs the plug's steps (its undo journalled first); their describe() is
    what a person would type."""
    from kvmnet.engine.host import Host

    host = RecordingHost(monkeypatch)
    host.links["veth1"] = 5
    monkeypatch.setattr(taps, "get_mac", lambda name: "02:00:00:00:00:05")
    monkeypatch.setattr(taps, "set_mac", lambda name, mac: None)
    monkeypatch.setattr(taps, "set_mtu", lambda name, mtu: None)
    seen: list[tuple[str, str, int]] = []
    perform = Host.perform

    def recording(self: Host, step: Any, ctx: Any) -> None:
        seen.append((step.kind, step.describe(), len(ctx_journal(tmp_path))))
        perform(self, step, ctx)

    def ctx_journal(directory: Path) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = json.loads(
            (directory / f"{UUID}.json").read_text())["steps"]
        return steps

    monkeypatch.setattr(Host, "perform", recording)
    port = a_port(nat(), bandwidth=Bandwidth(outbound=Rate(average=500)))
    rec = TapBridgePlugger().plug(host, tmp_path, port, "nat1",  # type: ignore[arg-type]
                                  PlugOptions(device="veth1", mtu=1400, owned_bridge=True))
    assert seen == [
        ("tap.adopt", "ip link set dev veth1 address fe:54:00:00:00:01 mtu 1400", 1),
        ("tap.attach", ("ip link set dev veth1 master virbr9\n"
                       "bridge link set dev veth1 hairpin on\n"
                       "bridge link set dev veth1 learning off flood off\n"
                       "bridge fdb add 52:54:00:00:00:01 dev veth1 master temp\n"
                       "ip link set dev veth1 up"), 1),
        ("tap.tc", ("tc qdisc add dev veth1 ingress\n"
                   "tc filter add dev veth1 parent ffff: protocol all u32 match u32 0 0 police "
                   "rate 500kbps burst 500kb mtu 64kb drop flowid :1"), 2),
    ]  # each undo is on disk before its step runs (the third number)
    assert rec["undo"] == [
        {"kind": "tap.restore", "name": "veth1", "mac": "02:00:00:00:00:05", "mtu": 1500},
        {"kind": "tap.tc", "name": "veth1"}]
    host.calls.clear()
    TapBridgePlugger().unplug(host, rec)  # type: ignore[arg-type]
    assert host.calls == ["tc clear veth1", "set_master veth1 None"]


def test_a_tap_journalled_before_it_was_made_is_found_by_its_mac(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed right after creating the tap, the journal on disk still has the template name
    and no ifindex: the undo deletes the link of that template with the tap's MAC, and never
    a link whose name made the create fail."""
    import socket

    from kvmnet.engine.executor import Context, undo
    from kvmnet.engine.host import Host
    from kvmnet.engine.journal import Journal

    host = RecordingHost(monkeypatch)
    macs = {"vnet0": "fe:54:00:00:00:09", "vnet1": "fe:54:00:00:00:01", "lo": "00:00:00:00:00:00"}
    monkeypatch.setattr(taps, "get_mac", lambda name: macs[name])
    monkeypatch.setattr(socket, "if_nameindex",
                        lambda: [(1, "lo"), (2, "vnet0"), (3, "vnet1"), (4, "virbr9")])
    entries = [{"kind": "tap", "name": "vnet%d", "mac": "fe:54:00:00:00:01", "ifindex": None},
               {"kind": "tap", "name": "lo", "mac": "fe:54:00:00:00:01", "ifindex": None}]
    failures = undo(Journal(Path("x.json"), "p", "starting", entries),
                    Context(Host(), nl=host))
    assert failures == [] and host.calls == ["delete_link vnet1"]
    host.calls.clear()  # a create that failed made nothing, whatever has the name and MAC
    failed = [{"kind": "tap", "name": "vnet1", "mac": "fe:54:00:00:00:01", "ifindex": None,
               "made": False}]
    assert undo(Journal(Path("x.json"), "p", "starting", failed), Context(Host(), nl=host)) == []
    assert host.calls == []


def test_describe_golden() -> None:
    port = a_port(nat(), **FULL)
    lines = plugs.plugger(plugs.key_of(port)).describe(
        port, PlugOptions(tap_name="vnet7", mtu=1400, vlan_filtering=True))
    assert lines == [
        "ip tuntap add dev vnet7 mode tap",
        "ip link set dev vnet7 address fe:54:00:00:00:01 mtu 1400 up",
        "ip link set dev vnet7 master virbr9",
        "bridge link set dev vnet7 isolated on hairpin on",
        "ip link set dev virbr9 type bridge vlan_filtering 1",
        "bridge link set dev vnet7 learning off flood off",
        "bridge fdb add 52:54:00:00:00:01 dev vnet7 master temp",
        "bridge vlan add dev vnet7 vid 42 pvid untagged",
        "bridge vlan del dev vnet7 vid 1",
        "tc qdisc add dev vnet7 root handle 1: htb default 1",
        ("tc class add dev vnet7 parent 1: classid 1:1 htb rate 1000kbps ceil 2000kbps "
        "burst 512kb quantum 85"),
        "tc qdisc add dev vnet7 parent 1:1 handle 2: sfq perturb 10",
        "tc filter add dev vnet7 parent 1:0 protocol all prio 1 handle 1 fw flowid 1",
        "tc qdisc add dev vnet7 ingress",
        ("tc filter add dev vnet7 parent ffff: protocol all u32 match u32 0 0 police rate "
        "500kbps burst 500kb mtu 64kb drop flowid :1"),
    ]


# -- the registries -------------------------------------------------------------------------------
@pytest.mark.parametrize("xml, plug_type, key", [
    (NAT, PlugType.NETWORK, "network"),
    ("<network><name>b</name><forward mode='bridge'/><bridge name='br0'/></network>",
     PlugType.BRIDGE, "bridge"),
    (("<network><name>o</name><forward mode='bridge'/><bridge name='ovsbr'/>"
     "<virtualport type='openvswitch'/></network>"), PlugType.BRIDGE, "bridge/openvswitch"),
    ("<network><name>m</name><forward mode='vepa'><interface dev='eth0'/></forward></network>",
     PlugType.DIRECT, "direct"),
    (("<network><name>h</name><forward mode='hostdev' managed='yes'><pf dev='eth0'/></forward>"
     "</network>"), PlugType.HOSTDEV_PCI, "hostdev-pci"),
])
def test_the_driver_decides_the_plug(xml: str, plug_type: PlugType, key: str) -> None:
    net = parse_network(xml)
    plug = driver_for(net).plug_for(net, net.virtualport, None)
    assert plug.type is plug_type
    port = replace(NetworkPort(uuid=UUID, owner_name="vm", owner_uuid=OWNER,
                               mac="52:54:00:00:00:01"), plug=plug, virtualport=net.virtualport)
    assert plugs.key_of(port) == key
    if key in plugs.PLUGGERS:
        wanted = plugs.PLUGGERS[key].rpartition(":")[2]
        assert type(plugs.plugger(key)).__name__ == wanted
        if key in ("network", "bridge"):
            assert isinstance(plugs.plugger(key), TapBridgePlugger)
    else:
        with pytest.raises(UnsupportedError, match=plugs.MISSING[key]):
            plugs.plugger(key)


def test_every_mode_has_rules_and_a_driver() -> None:
    for name, rules in MODES.items():
        assert rules.name == name and rules.driver
        net = parse_network(f"<network><name>x</name><forward mode='{name}'/></network>"
                            if name != "none" else "<network><name>x</name></network>")
        assert mode_of(net) is rules
        driver = driver_for(net)
        assert driver.mode.value == name and driver.rules is rules
        assert driver.owns_bridge is (name in ("nat", "route", "open", "none"))
        assert owns_bridge(net.forward_mode.value) is driver.owns_bridge


# -- on the engine's recording host (no kernel at all) ------------------------------------------
def recorded(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The engine's recording host, with the plugger's reads before its steps (bridge MTU,
    ifindex, an adopted link's MAC) answered here."""
    from kvmnet.engine.recording import RecordingHost as EngineRecordingHost

    monkeypatch.setattr(taps, "get_mtu", lambda name: 1500)
    monkeypatch.setattr(taps, "ifindex", lambda name: 7)
    monkeypatch.setattr(taps, "get_mac", lambda name: "02:00:00:00:00:05")
    return EngineRecordingHost(links=["virbr9"])


def test_plug_and_unplug_step_list(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    host = recorded(monkeypatch)
    port = a_port(nat(), **FULL)
    plugger = plugs.plugger(plugs.key_of(port))
    rec = plugger.plug(host.netlink(), tmp_path, port, "nat1",
                       PlugOptions(vlan_filtering=True, owned_bridge=True), host=host)
    assert host.log == [
        ("ip tuntap add dev vnet%d mode tap\n"
        "ip link set dev vnet%d address fe:54:00:00:00:01 mtu 1500 up"),
        ("ip link set dev vnet%d master virbr9\n"
        "bridge link set dev vnet%d isolated on hairpin on\n"
        "ip link set dev virbr9 type bridge vlan_filtering 1\n"
        "bridge link set dev vnet%d learning off flood off\n"
        "bridge fdb add 52:54:00:00:00:01 dev vnet%d master temp\n"
        "bridge vlan add dev vnet%d vid 42 pvid untagged\n"
        "bridge vlan del dev vnet%d vid 1"),
        ("tc qdisc add dev vnet%d root handle 1: htb default 1\n"
        "tc class add dev vnet%d parent 1: classid 1:1 htb rate 1000kbps ceil 2000kbps "
        "burst 512kb quantum 85\n"
        "tc qdisc add dev vnet%d parent 1:1 handle 2: sfq perturb 10\n"
        "tc filter add dev vnet%d parent 1:0 protocol all prio 1 handle 1 fw flowid 1\n"
        "tc qdisc add dev vnet%d ingress\n"
        "tc filter add dev vnet%d parent ffff: protocol all u32 match u32 0 0 police rate "
        "500kbps burst 500kb mtu 64kb drop flowid :1"),
    ]
    assert host.leftovers() == [host.log[0]]
    assert plugger.describe(port, PlugOptions(mtu=1500, vlan_filtering=True)) == \
        "\n".join(host.log).splitlines()  # describe() is the step list
    host.log.clear()
    plugger.unplug(host.netlink(), rec, host=host)
    assert host.log == ["ip link del vnet%d"] and host.leftovers() == []


@pytest.mark.parametrize("device", [None, "veth1"])
def test_plug_killed_at_each_change_converges(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              device: str | None) -> None:
    """Killed at each change of a plug, the journal left on disk undoes everything."""
    from kvmnet.engine.recording import Killed

    port = a_port(nat(), bandwidth=Bandwidth(outbound=Rate(average=500)))
    opts = PlugOptions(device=device, owned_bridge=True)
    for k in range(1, 4):
        host = recorded(monkeypatch)
        host.kill_at = k
        with pytest.raises(Killed):
            TapBridgePlugger().plug(host.netlink(), tmp_path, port, "nat1", opts, host=host)
        host.kill_at = None
        rec = load_record(tmp_path, UUID)
        if rec is None:  # killed before the first undo record: nothing was changed
            assert host.leftovers() == [], k
            continue
        TapBridgePlugger().unplug(host.netlink(), rec, host=host)
        assert host.leftovers() == [], (k, host.log)
        (tmp_path / f"{UUID}.json").unlink()
