"""Bridge-mode networks on Open vSwitch, and guest ports on them, without guests (root).

A private Open vSwitch (``kvmnet ovs start``, userspace datapath) runs in each test's host
namespace; ports are plugged with ``net-port-create`` as a guest's start plugs them, and the real
``ovs-vsctl`` on the same database checks what a user would check: the tap is a port of the
bridge with libvirt's external_ids, its VLAN columns and QoS rows; what kvmnet made goes again
(also after a crash midway, a vanished tap or a network restart).
"""
from __future__ import annotations

import json
import os
import re
import signal
import uuid
from collections.abc import Iterator

import pytest

from tests.functional.kvmnet_env import KvEnv, assert_one_error, describe, kvenv, requires_kvmnet_root
from tests.functional.ovs_env import OvsEnv, ok, requires_ovs

pytestmark = [*requires_kvmnet_root, *requires_ovs]
__all__ = ["kvenv"]

VM = "6b5cf2a4-7b1f-4b8e-9a8c-0d9e0f1a2b3c"
NET = """<network>
  <name>ovsnet</name>
  <forward mode='bridge'/>
  <bridge name='ovsbr0'/>
  <virtualport type='openvswitch'/>
  <portgroup name='vlan10' default='yes'>
    <vlan><tag id='10'/></vlan>
  </portgroup>
  <portgroup name='trunk'>
    <vlan trunk='yes'><tag id='10' nativeMode='untagged'/><tag id='20'/></vlan>
  </portgroup>
  <portgroup name='shaped'>
    <virtualport><parameters profileid='gold'/></virtualport>
    <bandwidth><inbound average='1000' peak='2000' burst='256'/><outbound average='500'/></bandwidth>
  </portgroup>
</network>
"""


@pytest.fixture
def ovsnet(kvenv: KvEnv) -> Iterator[OvsEnv]:
    """The private Open vSwitch with bridge ovsbr0 and network ovsnet (NET) started on it;
    afterwards the network goes and the switch stops, leaving no daemon."""
    ovs = OvsEnv.of(kvenv)
    ovs.start("ovsbr0")
    try:
        kvenv.start(NET)
        yield ovs
    finally:
        kvenv.kv("net-destroy", "ovsnet")
        ovs.stop()


def port_xml(mac: str, group: str | None = None, extra: str = "") -> str:
    g = f"<group>{group}</group>" if group else ""
    return (f"<networkport><uuid>{uuid.uuid4()}</uuid>"
            f"<owner><name>vm</name><uuid>{VM}</uuid></owner>{g}"
            f"<mac address='{mac}'/>{extra}</networkport>")


def create_port(env: KvEnv, mac: str, group: str | None = None, extra: str = "") -> str:
    """Plug a port on network ovsnet; returns its tap."""
    path = env.write_xml(f"port-{mac.replace(':', '')}", port_xml(mac, group, extra))
    proc = env.kv("net-port-create", "ovsnet", str(path))
    assert proc.returncode == 0, describe(proc)
    for p in _ports(env):
        if p["mac"] == mac:
            return str(p["tap"])
    raise AssertionError(f"no port with MAC {mac}")


def test_start_needs_the_ovs_bridge_and_names_the_fix(kvenv: KvEnv) -> None:
    ovs = OvsEnv.of(kvenv)
    ovs.start()
    try:
        kvenv.define(NET)
        plan = ok(kvenv, "net-plan", "ovsnet")
        assert "br-exists ovsbr0" in plan
        proc = kvenv.kv("net-start", "ovsnet")
        assert "`kvmnet ovs add-br ovsbr0`" in assert_one_error(proc)
        assert "ovsnet" not in ok(kvenv, "net-list", "--name").split()
        ovs.add_br("ovsbr0")
        kvenv.ok("net-start", "ovsnet")
        assert "ovsnet" in ok(kvenv, "net-list", "--name").split()
        kvenv.ok("net-destroy", "ovsnet")
        assert ovs.vsctl("br-exists", "ovsbr0", check=False).returncode == 0  # still there: not ours
        assert ovs.out("list-br").split() == ["ovsbr0"]
    finally:
        ovs.stop()


def test_ports_get_libvirt_columns_and_go_again(kvenv: KvEnv, ovsnet: OvsEnv) -> None:
    access = create_port(kvenv, "52:54:00:00:10:01")
    trunk = create_port(kvenv, "52:54:00:00:10:02", "trunk")
    iid = str(uuid.uuid4())
    shaped = create_port(kvenv, "52:54:00:00:10:03", "shaped",
                         f"<virtualport type='openvswitch'><parameters interfaceid='{iid}'/>"
                         "</virtualport>")
    assert sorted(ovsnet.ports("ovsbr0")) == sorted([access, trunk, shaped])

    port = ovsnet.columns("Port", access, "tag", "trunks", "vlan_mode", "external_ids")
    assert port["tag"] == 10 and port["trunks"] == [] and port["vlan_mode"] == []
    assert port["external_ids"]["kvmnet-owner"] == os.path.abspath(kvenv.root)
    iface = ovsnet.columns("Interface", access, "external_ids", "error", "ofport")
    ids = iface["external_ids"]
    assert ids["attached-mac"] == "52:54:00:00:10:01" and ids["vm-id"] == VM
    assert ids["iface-status"] == "active"
    # no interfaceid anywhere: allocation made one (libvirt's networkAllocatePort), not the
    # port's UUID, and the port's XML shows it
    assert ids["iface-id"] == interfaceid_of(kvenv, port["external_ids"]["kvmnet-port"])
    assert ids["iface-id"] != port["external_ids"]["kvmnet-port"]
    assert iface["error"] == [] and iface["ofport"] > 0

    port = ovsnet.columns("Port", trunk, "tag", "trunks", "vlan_mode")
    assert port == {"tag": 10, "trunks": [10, 20], "vlan_mode": "native-untagged"}

    iface = ovsnet.columns("Interface", shaped, "external_ids", "ingress_policing_rate")
    assert iface["external_ids"]["iface-id"] == iid
    assert iface["external_ids"]["port-profile"] == "gold"
    assert iface["ingress_policing_rate"] == 4000  # outbound 500 kB/s -> 4000 kbit/s
    assert ovsnet.count("QoS") == 1 and ovsnet.count("Queue") == 1
    qos_port = ovsnet.columns("Port", shaped, "qos", "external_ids")
    qos = ovsnet.columns("QoS", qos_port["qos"], "type", "other_config", "queues",
                      "external_ids")
    assert qos["type"] == "linux-htb"
    assert qos["other_config"]["max-rate"] == "16000000"  # peak 2000 kB/s in bit/s
    # libvirt's marks (virNetDevOpenvswitchInterfaceSetTxQos): the guest and the tap, on
    # the QoS, its queue and the port
    marks = {"vm-id": VM, "ifname": shaped}
    queue = ovsnet.columns("Queue", qos["queues"][0], "external_ids")
    for ids in (qos["external_ids"], queue["external_ids"], qos_port["external_ids"]):
        assert marks.items() <= ids.items(), ids

    for tap in (access, trunk, shaped):
        uuid_ = next(p["uuid"] for p in _ports(kvenv) if p["tap"] == tap)
        kvenv.ok("net-port-delete", "ovsnet", uuid_)
        assert tap not in ovsnet.ports("ovsbr0") and not kvenv.link_exists(tap)
    assert ovsnet.count("QoS") == 0 and ovsnet.count("Queue") == 0


def _ports(env: KvEnv) -> list[dict[str, str]]:
    return list(json.loads(ok(env, "net-port-list", "ovsnet", "--json")))


def interfaceid_of(env: KvEnv, port_uuid: str) -> str:
    """The interfaceid in ``net-port-dumpxml``, which must show an Open vSwitch profile."""
    text = ok(env, "net-port-dumpxml", "ovsnet", port_uuid)
    found = re.search(r"<virtualport type='openvswitch'>\n\s*<parameters interfaceid='([^']+)'"
                      r"(?: profileid='[^']+')?/>\n\s*</virtualport>", text)
    assert found is not None, text
    return found.group(1)


def iface_id(ovs: OvsEnv, tap: str) -> str:
    return str(ovs.columns("Interface", tap, "external_ids")["external_ids"]["iface-id"])


def test_the_iface_id_is_the_ports_interfaceid_and_outlives_a_network_restart(
        kvenv: KvEnv, ovsnet: OvsEnv) -> None:
    """The OVS Interface's external_ids:iface-id is the port's interfaceid, as net-port-dumpxml
    shows it: generated for a port whose interface has no <virtualport>, the guest's own when
    its (untyped) <virtualport> has one -- its instanceid is not an Open vSwitch parameter and
    stays out of the port.  A network restart re-plugs both with the same ids."""
    bare = create_port(kvenv, "52:54:00:00:50:01")
    iid, inst = str(uuid.uuid4()), str(uuid.uuid4())
    typeless = create_port(kvenv, "52:54:00:00:50:02", extra=(
        f"<virtualport><parameters instanceid='{inst}' interfaceid='{iid}'/></virtualport>"))
    uuids = {p["tap"]: p["uuid"] for p in _ports(kvenv)}
    generated = interfaceid_of(kvenv, uuids[bare])
    assert generated not in (uuids[bare], iid)
    assert iface_id(ovsnet, bare) == generated
    assert iface_id(ovsnet, typeless) == interfaceid_of(kvenv, uuids[typeless]) == iid
    assert inst not in ok(kvenv, "net-port-dumpxml", "ovsnet", uuids[typeless])

    kvenv.ok("net-destroy", "ovsnet")
    kvenv.ok("net-start", "ovsnet")
    assert sorted(ovsnet.ports("ovsbr0")) == sorted([bare, typeless])
    assert iface_id(ovsnet, bare) == interfaceid_of(kvenv, uuids[bare]) == generated
    assert iface_id(ovsnet, typeless) == iid


def test_ports_survive_a_network_restart(kvenv: KvEnv, ovsnet: OvsEnv) -> None:
    tap = create_port(kvenv, "52:54:00:00:20:01", "trunk")
    kvenv.ok("net-destroy", "ovsnet")
    assert ovsnet.ports("ovsbr0") == []  # off the switch...
    assert kvenv.link_exists(tap)  # ...but kept, down
    assert "UP" not in kvenv.host.ip("link", "show", tap).split(">")[0]
    kvenv.ok("net-start", "ovsnet")
    assert ovsnet.ports("ovsbr0") == [tap]
    assert ovsnet.columns("Port", tap, "vlan_mode")["vlan_mode"] == "native-untagged"


def test_killed_midway_or_vanished_tap_leaves_no_stale_port(kvenv: KvEnv, ovsnet: OvsEnv) -> None:
    # kvmnet killed right after the OVS port was added (before the port's record is
    # complete): the next net-destroy removes the half-made port
    path = kvenv.write_xml("killed", port_xml("52:54:00:00:30:01"))
    proc = kvenv.kv("net-port-create", "ovsnet", str(path),
                    env={"KVMNET_FAULT_KILL_AFTER": "ovsdb.port"})
    assert proc.returncode == -signal.SIGKILL, describe(proc)
    assert len(ovsnet.ports("ovsbr0")) == 1  # the stale port a crash leaves
    kvenv.ok("net-destroy", "ovsnet")
    assert ovsnet.ports("ovsbr0") == []
    assert [n for n in kvenv.host.ip("-o", "link").split() if n.startswith("vnet")] == []

    # a tap deleted behind kvmnet's back: ovs reconcile removes its OVS port, only that one
    kvenv.ok("net-start", "ovsnet")
    gone = create_port(kvenv, "52:54:00:00:30:02")
    kept = create_port(kvenv, "52:54:00:00:30:03")
    kvenv.host.ip("link", "del", gone)
    ovsnet.add_port("ovsbr0", "foreign", "--", "set", "Interface", "foreign", "type=internal")
    out = ok(kvenv, "ovs", "reconcile")
    assert gone in out
    assert sorted(ovsnet.ports("ovsbr0")) == sorted([kept, "foreign"])
    assert ok(kvenv, "ovs", "reconcile").strip() == ""  # idempotent


def test_a_vanished_tap_loses_its_ovs_port_at_the_next_network_command(kvenv: KvEnv, ovsnet: OvsEnv) -> None:
    first = create_port(kvenv, "52:54:00:00:40:01")
    kvenv.host.ip("link", "del", first)
    kvenv.ok("net-destroy", "ovsnet")  # the destroy takes its OVS port out
    assert ovsnet.ports("ovsbr0") == []
    kvenv.ok("net-start", "ovsnet")
    second = create_port(kvenv, "52:54:00:00:40:02")
    kvenv.ok("net-destroy", "ovsnet")
    kvenv.host.ip("link", "del", second)  # gone while the network is down
    proc = kvenv.ok("net-start", "ovsnet")  # the start drops the port, says so
    assert "stale guest port" in proc.stderr and ovsnet.ports("ovsbr0") == []
    assert _ports(kvenv) == []


def _plug_one_refused(root: str, vswitchd: int) -> tuple[str, str, str, str, str | None]:
    """In the namespace: a port ovs-vswitchd opened, then one whose tap vanished while
    ovs-vswitchd was stopped (SIGSTOP); settle both.  Returns the taps, the UUIDs and the
    error settling raised (None: it did not)."""
    import kvmnet
    from kvmnet.errors import OvsError
    from kvmnet.host.netlink import Netlink
    from kvmnet.port import ports

    os.environ["KVMNET_ROOT"] = root  # a forked child: the test's own environment stays
    conn = kvmnet.open(root)
    good = ports.plug(conn, "ovsnet", mac="52:54:00:00:20:01")
    ports.settle(conn, [good.uuid])  # a tap ovs-vswitchd opened: fine
    os.kill(vswitchd, signal.SIGSTOP)
    try:
        bad = ports.plug(conn, "ovsnet", mac="52:54:00:00:20:02")  # does not wait for it
        with Netlink() as nl:
            nl.delete_link(bad.tap)
    finally:
        os.kill(vswitchd, signal.SIGCONT)
    try:
        ports.settle(conn, [good.uuid, bad.uuid])
    except OvsError as exc:
        return good.tap, bad.tap, good.uuid, bad.uuid, str(exc)
    return good.tap, bad.tap, good.uuid, bad.uuid, None


def test_a_tap_the_switch_cannot_open_is_reported(kvenv: KvEnv, ovsnet: OvsEnv) -> None:
    """Plugging does not wait for ovs-vswitchd (the hot path); settling does (a guest start
    does, once, after plugging its NICs; so does net-port-create), and reports a tap
    ovs-vswitchd could not open, naming the port and ovs-vswitchd's own words."""
    good, bad, good_uuid, bad_uuid, message = kvenv.host.call(
        _plug_one_refused, str(kvenv.root), ovsnet.pid("ovs-vswitchd"))
    assert message is not None, "settling a port whose tap vanished did not fail"
    assert f"port {bad} on bridge ovsbr0" in message and f"port {good} " not in message
    assert "No such device" in message, message
    # what a user sees: the Interface's error, as ovs-vsctl reports it
    assert "No such device" in str(ovsnet.columns("Interface", bad, "error")["error"])
    for port_uuid in (good_uuid, bad_uuid):
        kvenv.ok("net-port-delete", "ovsnet", port_uuid)
    assert ovsnet.ports("ovsbr0") == []


def _plug_and_unplug_many(root: str, n: int) -> tuple[int, list[str]]:
    """In the namespace: ``n`` ports (every fourth shaped: a QoS and a Queue row each), then
    all unplugged at once.  Returns how many OVS ports there were and the failures."""
    import kvmnet
    from kvmnet.host.ovsdb import Switch
    from kvmnet.port import ports

    os.environ["KVMNET_ROOT"] = root
    conn = kvmnet.open(root)
    made = [ports.plug(conn, "ovsnet", mac=f"52:54:00:00:30:{i:02x}",
                       portgroup="shaped" if i % 4 == 0 else None).uuid for i in range(n)]
    with Switch.open(None, wait=False) as sw:
        plugged = len(sw.list_ports("ovsbr0"))
    return plugged, ports.unplug_many(conn, made)


def test_many_ports_unplugged_at_once_leave_no_row(kvenv: KvEnv, ovsnet: OvsEnv) -> None:
    """Unplugging many ports at once (their OVSDB deletions gathered into a few
    transactions) removes every Port, Interface, QoS and Queue row kvmnet made, and only
    those: a port someone else added stays."""
    ovsnet.tap("other0")
    ovsnet.add_port("ovsbr0", "other0")
    plugged, failures = kvenv.host.call(_plug_and_unplug_many, str(kvenv.root), 40)
    assert plugged == 41 and failures == []
    assert ovsnet.ports("ovsbr0") == ["other0"]
    assert ovsnet.count("Interface") == 2  # other0 and the bridge's own
    assert ovsnet.count("QoS") == 0 and ovsnet.count("Queue") == 0
