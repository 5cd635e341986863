"""Golden step lists of the Open vSwitch plugger, on the engine's recording host (no root).

What plugging a guest port into an OVS bridge does, in ovs-vsctl's shell form (what libvirt's
virNetDevOpenvswitchAddPort runs), for the VLAN shapes libvirt knows (access, trunk, native
tagged/untagged), libvirt's external_ids and both bandwidth directions; that unplugging and a
plug killed at any change leave nothing; and that a network on an OVS bridge starts by
checking the bridge in OVSDB.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kvmnet.engine.recording import Killed, RecordingHost
from kvmnet.engine.step import Step
from kvmnet.engine.steps.ovsnet import vlan_columns
from kvmnet.host import tap as taps
from kvmnet.model.network import Bandwidth, Rate, VirtualPort, Vlan, VlanTag
from kvmnet.model.port import NetworkPort
from kvmnet.network.drivers import driver_for
from kvmnet.network.drivers.base import PlanContext
from kvmnet.port import plugs, ports
from kvmnet.port.plugs.base import PlugOptions, load_record
from kvmnet.port.plugs.ovs import OvsPlugger
from kvmnet.xmlio.network import parse_network

UUID = "5d744f21-ba4a-4d6e-bdb2-30a35ff3207d"
VM = "c7a5fdbd-edaf-9455-926a-d65c16db1809"
IID = "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa3b"
ROOT = "/srv/kvmnet"
NET = """<network><name>ovs</name><forward mode='bridge'/><bridge name='ovsbr0'/>
  <virtualport type='openvswitch'/>
  <portgroup name='blue' default='yes'><vlan><tag id='10'/></vlan></portgroup>
  <portgroup name='trunk'><vlan trunk='yes'><tag id='10'/><tag id='20'/></vlan></portgroup>
  <portgroup name='native'><vlan trunk='yes'><tag id='10' nativeMode='untagged'/><tag id='20'/>
  </vlan></portgroup>
  <portgroup name='gold'><virtualport><parameters profileid='gold'/></virtualport>
    <bandwidth><inbound average='1000' peak='2000' burst='256'/>
      <outbound average='500' burst='64'/></bandwidth></portgroup>
</network>"""


def port_on(group: str | None = None, **kw: Any) -> NetworkPort:
    return ports.allocate(parse_network(NET), NetworkPort(
        uuid=UUID, owner_name="vm1", owner_uuid=VM, mac="52:54:00:00:00:01", group=group, **kw))


@pytest.mark.parametrize("vlan, expected", [
    (None, {"tag": None, "trunks": [], "vlan_mode": None}),
    (Vlan(tags=(VlanTag(id=7),)), {"tag": 7, "trunks": [], "vlan_mode": None}),
    (Vlan(tags=(VlanTag(id=7), VlanTag(id=8)), trunk=True),
     {"tag": None, "trunks": [7, 8], "vlan_mode": None}),
    (Vlan(tags=(VlanTag(id=7, native_mode="tagged"), VlanTag(id=8)), trunk=True),
     {"tag": 7, "trunks": [7, 8], "vlan_mode": "native-tagged"}),
    (Vlan(tags=(VlanTag(id=7), VlanTag(id=8, native_mode="untagged")), trunk=True),
     {"tag": 8, "trunks": [7, 8], "vlan_mode": "native-untagged"}),
])
def test_vlan_columns_as_libvirt_sets_them(vlan: Vlan | None, expected: dict[str, Any]) -> None:
    port = NetworkPort(uuid=UUID, owner_name="vm", owner_uuid=VM, mac="52:54:00:00:00:01",
                       vlan=vlan)
    assert vlan_columns(port) == expected


def describe(port: NetworkPort, **opts: Any) -> list[str]:
    return plugs.plugger(plugs.key_of(port)).describe(
        port, PlugOptions(state_root=ROOT, **opts))


OWNER_IDS = (f"'external_ids:kvmnet-owner=\"{ROOT}\"' "
             f"'external_ids:kvmnet-port=\"{UUID}\"'")


def test_describe_access_port_golden() -> None:
    # no interfaceid anywhere: allocation generates one (libvirt's networkAllocatePort), a
    # UUID of its own, not the port's
    port = port_on()
    assert port.virtualport is not None
    iid = port.virtualport.param("interfaceid")
    assert iid is not None and iid != UUID
    assert describe(port, tap_name="vnet7", mtu=1500) == [
        "ip tuntap add dev vnet7 mode tap",
        "ip link set dev vnet7 address fe:54:00:00:00:01 mtu 1500 up",
        (f"ovs-vsctl --no-wait add-port ovsbr0 vnet7 tag=10 {OWNER_IDS} "
         "-- set Interface vnet7 'external_ids:attached-mac=\"52:54:00:00:00:01\"' "
         f"'external_ids:iface-id=\"{iid}\"' external_ids:iface-status=active "
         f"'external_ids:vm-id=\"{VM}\"'"),
    ]


QOS_IDS = f"external_ids:ifname=veth1 'external_ids:vm-id=\"{VM}\"'"
QOS_CONF = ("other_config:min-rate=8000000 other_config:burst=2097152 "
            "other_config:max-rate=16000000")


def test_describe_trunk_profile_and_bandwidth_golden() -> None:
    lines = describe(port_on("native"), tap_name="vnet7", mtu=1500)
    assert " tag=10 trunks=10,20 vlan_mode=native-untagged " in lines[2]
    lines = describe(port_on("gold", virtualport=VirtualPort(parameters=(("interfaceid", IID),))),
                     device="veth1")
    assert lines == [
        "ip link set dev veth1 address fe:54:00:00:00:01",
        (f"ovs-vsctl --no-wait add-port ovsbr0 veth1 {OWNER_IDS} "
         "-- set Interface veth1 'external_ids:attached-mac=\"52:54:00:00:00:01\"' "
         f"'external_ids:iface-id=\"{IID}\"' external_ids:iface-status=active "
         "external_ids:ifname=veth1 external_ids:port-profile=gold "
         f"'external_ids:vm-id=\"{VM}\"' "
         # outbound 500 kB/s, burst 64 kB (what the guest sends): policed, kbit/s and kbit
         "ingress_policing_rate=4000 ingress_policing_burst=512 "
         # inbound (what it receives): linux-htb in bit/s, libvirt's order and keys on the
         # QoS and its queue (min-rate the average, burst 256 KiB in bits, max-rate the
         # peak), which carry the guest and the tap (vm-id, ifname) as the port does
         f"-- set Port veth1 qos=@qos {QOS_IDS} -- --id=@qos create QoS type=linux-htb "
         f"{QOS_CONF} queues:0=@q {QOS_IDS} -- --id=@q create Queue {QOS_CONF} {QOS_IDS}"),
    ]


def recorded(monkeypatch: pytest.MonkeyPatch) -> RecordingHost:
    monkeypatch.setattr(taps, "get_mtu", lambda name: 1500)
    monkeypatch.setattr(taps, "ifindex", lambda name: 7)
    return RecordingHost(links=["ovsbr0"])


def test_plug_and_unplug_step_list(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    host = recorded(monkeypatch)
    port = port_on("gold")
    plugger = OvsPlugger()
    opts = PlugOptions(state_root=ROOT)
    rec = plugger.plug(host.netlink(), tmp_path, port, "ovs", opts, host=host)
    assert [text.split(" vnet%d")[0] for text in host.log] == [
        "ip tuntap add dev", "ovs-vsctl --no-wait add-port ovsbr0"]
    assert plugger.describe(port, PlugOptions(mtu=1500, state_root=ROOT)) == \
        "\n".join(host.log).splitlines()  # describe() is the step list
    assert rec["plugger"] == "bridge/openvswitch" and plugs.record_key(rec) == rec["plugger"]
    assert len(host.leftovers()) == 2  # the tap and the OVS port (its QoS goes with it)
    assert "qos=@qos" in host.log[1]
    host.log.clear()
    plugger.unplug(host.netlink(), rec, host=host)
    # the OVS port first, then the tap
    assert host.log == ["ovs-vsctl --if-exists del-port ovsbr0 vnet%d", "ip link del vnet%d"]
    assert host.leftovers() == []


@pytest.mark.parametrize("device", [None, "veth1"])
def test_plug_killed_at_each_change_converges(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              device: str | None) -> None:
    """Killed at each change of a plug, the journal left on disk undoes everything."""
    monkeypatch.setattr(taps, "get_mac", lambda name: "02:00:00:00:00:05")
    port = port_on("gold")
    opts = PlugOptions(device=device, state_root=ROOT)
    for k in range(1, 3):  # two changes: the tap, the OVS port
        host = recorded(monkeypatch)
        host.kill_at = k
        with pytest.raises(Killed):
            OvsPlugger().plug(host.netlink(), tmp_path, port, "ovs", opts, host=host)
        host.kill_at = None
        rec = load_record(tmp_path, UUID)
        if rec is None:
            assert host.leftovers() == [], k
            continue
        plugs.plugger(plugs.record_key(rec)).unplug(host.netlink(), rec, host=host)
        assert host.leftovers() == [], (k, host.log)
        (tmp_path / f"{UUID}.json").unlink()


def test_a_network_on_an_ovs_bridge_checks_it_in_ovsdb() -> None:
    net = parse_network(NET)
    ctx = PlanContext(dnsmasq_dir="/d", pid_file="/p", lease_helper="/h", servers_file="/s",
                      conf_file="/c", leases_file="/l", root="/", python="python3")
    steps = driver_for(net).plan(net, ctx).steps()
    assert [s.kind for s in steps] == ["ovsnet.bridge"]
    assert steps[0].describe() == "ovs-vsctl br-exists ovsbr0  # network ovs needs it"
    linux = parse_network("<network><name>l</name><forward mode='bridge'/>"
                          "<bridge name='br0'/></network>")
    assert [s.kind for s in driver_for(linux).plan(linux, ctx).steps()] == ["link.exists"]


def test_a_bridge_interface_with_an_ovs_virtualport_gets_the_ovs_plugger() -> None:
    from kvmnet.model.frozen import replace
    from kvmnet.model.port import Plug, PlugType

    port = replace(NetworkPort(uuid=UUID, owner_name="vm", owner_uuid=VM,
                               mac="52:54:00:00:00:01", virtualport=VirtualPort("openvswitch")),
                   plug=Plug(type=PlugType.BRIDGE, bridge="ovsbr0"))
    assert plugs.key_of(port) == "bridge/openvswitch"
    assert type(plugs.plugger(plugs.key_of(port))) is OvsPlugger


def test_bandwidth_rates_round_trip_libvirt_units() -> None:
    port = port_on(bandwidth=Bandwidth(outbound=Rate(average=125)))
    text = "\n".join(describe(port, tap_name="vnet0"))
    assert "ingress_policing_rate=1000 -- " not in text and text.endswith(
        "ingress_policing_rate=1000")  # 125 kB/s = 1 Mbit/s, no burst: OVS's default
    assert "qos" not in text


def test_a_guest_start_describes_its_ovs_ports() -> None:
    """A guest's ``port.plug`` step carries the interface's own settings: on a bridge with an
    openvswitch virtualport it describes the OVS plugger's steps, on a network the
    ``<networkport>`` it creates (with the settings, which win over the portgroup's)."""
    from kvmnet.engine.steps.port import PlugPort
    from kvmnet.model.precedence import settings_from_json, settings_json

    vlan = Vlan(tags=(VlanTag(id=20),))
    settings = settings_json(VirtualPort("openvswitch", (("interfaceid", IID),)), vlan,
                             Bandwidth(outbound=Rate(average=10, burst=2)))
    assert settings_from_json(settings) == (VirtualPort("openvswitch", (("interfaceid", IID),)),
                                            vlan, Bandwidth(outbound=Rate(average=10, burst=2)))
    step = PlugPort(uuid=UUID, bridge="ovsbr0", mac="52:54:00:00:00:01", owner_name="vm1",
                    owner_uuid=VM, tap_name="vnet3", settings=settings)
    lines = step.describe().splitlines()
    assert lines[:2] == ["ip tuntap add dev vnet3 mode tap",
                         "ip link set dev vnet3 address fe:54:00:00:00:01 up"]
    assert lines[2].startswith("ovs-vsctl --no-wait add-port ovsbr0 vnet3 tag=20 ")
    assert f'iface-id="{IID}"' in lines[2]
    assert lines[2].endswith("ingress_policing_rate=80 ingress_policing_burst=16")
    step = PlugPort(uuid=UUID, network="ovs", mac="52:54:00:00:00:01", owner_name="vm1",
                    owner_uuid=VM, portgroup="blue", settings=settings)
    assert step.describe().splitlines()[-6:] == [
        "  <mac address='52:54:00:00:00:01'/>",
        f"  <virtualport type='openvswitch'><parameters interfaceid='{IID}'/></virtualport>",
        "  <bandwidth><outbound average='10' burst='2'/></bandwidth>",
        "  <vlan><tag id='20'/></vlan>",
        "</networkport>",
        "EOF"]
    assert Step.from_json(step.to_json()) == step


def test_concurrent_ovsdb_undos_go_in_groups_and_each_thread_gets_its_outcome(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Unplugging many ports runs their undos in threads: the one holding the OVSDB
    connection commits every deletion queued meanwhile in one go (a group), and a group that
    fails fails for each of its threads, the others' undos stand."""
    import threading
    import time

    from kvmnet.engine.step import Undo
    from kvmnet.errors import OvsError
    from kvmnet.port.plugs.ovs import SharedOvsHost

    host = SharedOvsHost()
    monkeypatch.setattr(host, "ovsdb", lambda remote: None)
    groups: list[list[int]] = []
    n = 20

    class Delete(Undo):
        kind = "ovsdb.test"

        @staticmethod
        def undo(entry: dict[str, Any], ctx: Any) -> None:
            raise AssertionError("undone one at a time")

        @staticmethod
        def undo_many(entries: list[dict[str, Any]], ctx: Any) -> None:
            groups.append([e["n"] for e in entries])
            if len(groups) == 1:  # the first holds the connection until the rest queued up
                deadline = time.monotonic() + 10
                while len(host._queue) < n - 1 and time.monotonic() < deadline:
                    time.sleep(0.01)
            if 7 in groups[-1]:
                raise OvsError("the database refused it")

    outcome: dict[int, str] = {}

    def unplug(i: int) -> None:
        try:
            host.revert(Delete, {"n": i}, None)  # type: ignore[arg-type]
            outcome[i] = "ok"
        except OvsError as exc:
            outcome[i] = str(exc)

    first = threading.Thread(target=unplug, args=(0,))
    first.start()
    while not groups:
        time.sleep(0.001)
    rest = [threading.Thread(target=unplug, args=(i,)) for i in range(1, n)]
    for t in rest:
        t.start()
    for t in [first, *rest]:
        t.join(timeout=20)
    assert len(groups) == 2 and groups[0] == [0]
    assert sorted(groups[1]) == list(range(1, n))
    assert outcome[0] == "ok"
    assert {outcome[i] for i in range(1, n)} == {"the database refused it"}
