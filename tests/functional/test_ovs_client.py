"""The OVSDB client (kvmnet.ovs.client.Switch) and the private daemons, for real (root).

Every test gets its own namespace and ``KVMNET_ROOT`` with ``kvmnet ovs start`` run in it
(tests/functional/ovs_env.py); the real ovs-vsctl reads the same database to check what the
client did.
"""
from __future__ import annotations

import pytest

from kvmnet.errors import OvsError
from tests.functional.netns import requires_root
from tests.functional.ovs_env import OvsEnv, ovs

pytestmark = requires_root
_ = ovs  # the private Open vSwitch fixture


def _dump(env: OvsEnv) -> str:
    return "".join(env.vsctl("list", t).stdout for t in ("Bridge", "Port", "Interface", "QoS",
                                                         "Queue"))


def test_start_is_idempotent_and_status_names_the_pids(ovs: OvsEnv) -> None:
    before = ovs.pids()
    ovs.kvmnet("ovs", "start")
    assert ovs.pids() == before
    out = ovs.kvmnet("ovs", "status").stdout
    assert f"ovsdb-server: running (pid {before['ovsdb-server']})" in out
    assert f"ovs-vswitchd: running (pid {before['ovs-vswitchd']})" in out
    # ovs-vswitchd started with the TCP offload the userspace datapath needs
    assert ovs.vsctl("get", "Open_vSwitch", ".", "other_config:userspace-tso-enable"
                     ).stdout.strip() == '"true"'


def test_bridges_and_ports_as_ovs_vsctl_sees_them(ovs: OvsEnv) -> None:
    ovs.tap("vnet0")
    ovs.tap("vnet1")
    with ovs.switch() as sw:
        sw.add_bridge("br0")
        sw.add_bridge("br0", may_exist=True)
        assert sw.bridge_exists("br0") and not sw.bridge_exists("br9")
        sw.add_port("br0", "vnet0", tag=10, external_ids={"iface-id": "abc"},
                    iface_external_ids={"attached-mac": "52:54:00:00:00:01", "vm-id": "u1"})
        sw.add_port("br0", "vnet1", trunks=[20, 10], vlan_mode="trunk")
        sw.add_port("br0", "vnet1", may_exist=True)
        assert sw.list_bridges() == ["br0"]
        assert sw.list_ports("br0") == ["vnet0", "vnet1"]
        assert sw.port_to_bridge("vnet0") == "br0" and sw.port_to_bridge("nope") is None
        found = sw.ports_with({"vm-id": "u1"})
        assert [(p.name, p.bridge, p.iface_external_ids["attached-mac"]) for p in found] == [
            ("vnet0", "br0", "52:54:00:00:00:01")]
        assert found[0].error is None and found[0].ofport is not None and found[0].ofport > 0
    assert ovs.vsctl("list-br").stdout == "br0\n"
    assert ovs.vsctl("list-ports", "br0").stdout == "vnet0\nvnet1\n"
    assert ovs.vsctl("get", "Bridge", "br0", "datapath_type").stdout == "netdev\n"
    assert ovs.vsctl("get", "Port", "vnet0", "tag").stdout == "10\n"
    assert ovs.vsctl("get", "Port", "vnet1", "trunks").stdout == "[10, 20]\n"
    assert ovs.vsctl("get", "Interface", "vnet0", "external_ids:vm-id").stdout == "u1\n"
    with ovs.switch() as sw:
        sw.del_port("vnet0", bridge="br0")
        sw.del_port("vnet0", if_exists=True)
        assert sw.list_ports("br0") == ["vnet1"]
        sw.del_bridge("br0")
        sw.del_bridge("br0", if_exists=True)
    assert ovs.vsctl("list-br").stdout == ""
    assert "vnet1" not in ovs.vsctl("list", "Interface").stdout


@pytest.mark.parametrize(("call", "words"), [
    (lambda sw: sw.add_port("br9", "vnet0"), "no bridge named br9"),
    (lambda sw: sw.add_port("br0", "vnet0", tag=4096), "4096 is not in the valid range 0 to 4095"),
    (lambda sw: sw.add_port("br0", "vnet0", trunks=[1, 5000]), "5000 is not in the valid range"),
    (lambda sw: sw.add_port("br0", "a-name-of-16-byt"), "is 16 bytes"),
    (lambda sw: sw.add_port("br1", "p0", may_exist=True), "p0 is actually attached to bridge br0"),
    (lambda sw: sw.add_port("br1", "p0"), "a port named p0 already exists on bridge br0"),
    (lambda sw: sw.add_port("br0", "p0", may_exist=False), "a port named p0 already exists"),
    (lambda sw: sw.add_port("br1", "missing0"), "could not open network device missing0"),
    (lambda sw: sw.del_port("p0", bridge="br1"), "bridge br1 does not have a port p0"),
    (lambda sw: sw.del_port("nope"), "no port named nope"),
    (lambda sw: sw.del_bridge("br9"), "no bridge named br9"),
    (lambda sw: sw.add_bridge("br0"), "a bridge named br0 already exists"),
])
def test_refusals_say_why_and_change_nothing(ovs: OvsEnv, call, words: str) -> None:  # type: ignore[no-untyped-def]
    ovs.tap("p0")
    with ovs.switch() as sw:
        sw.add_bridge("br0")
        sw.add_bridge("br1")
        sw.add_port("br0", "p0")
    before = _dump(ovs)
    with ovs.switch() as sw, pytest.raises(OvsError) as info:
        call(sw)
    assert words in str(info.value)
    assert _dump(ovs) == before


def test_qos_rows_follow_the_port(ovs: OvsEnv) -> None:
    ovs.tap("vnet0")
    ovs.tap("vnet1")
    with ovs.switch() as sw:
        sw.add_bridge("br0")
        sw.add_port("br0", "vnet0", ingress_policing_rate=800, ingress_policing_burst=80)
        sw.add_port("br0", "vnet1")
        sw.set_port_qos("vnet0", min_rate=8_000_000, max_rate=16_000_000, burst=80_000,
                        external_ids={"vm-id": "u1", "ifname": "vnet0"})
        sw.set_port_qos("vnet1", max_rate=16_000_000)
    assert ovs.vsctl("get", "Interface", "vnet0", "ingress_policing_rate").stdout == "800\n"
    qos = ovs.vsctl("get", "Port", "vnet0", "qos").stdout.strip()
    assert ovs.vsctl("get", "QoS", qos, "type").stdout == "linux-htb\n"
    assert ovs.vsctl("get", "QoS", qos, "other_config", "external_ids").stdout == \
        '{burst="80000", max-rate="16000000", min-rate="8000000"}\n{ifname=vnet0, vm-id=u1}\n'
    queue = ovs.vsctl("get", "QoS", qos, "queues:0").stdout.strip()
    assert ovs.vsctl("get", "Queue", queue, "other_config", "external_ids").stdout == \
        '{burst="80000", max-rate="16000000", min-rate="8000000"}\n{ifname=vnet0, vm-id=u1}\n'
    assert ovs.vsctl("get", "Port", "vnet0", "external_ids:vm-id").stdout == "u1\n"
    with ovs.switch() as sw:
        sw.del_port("vnet0")
    # vnet0's QoS and Queue went with it; vnet1's stay
    assert ovs.vsctl("--columns=_uuid", "list", "QoS").stdout.count("_uuid") == 1
    assert ovs.vsctl("--columns=_uuid", "list", "Queue").stdout.count("_uuid") == 1
    with ovs.switch() as sw:
        sw.set_port_qos("vnet1", max_rate=None)
    assert ovs.vsctl("list", "QoS").stdout == "" and ovs.vsctl("list", "Queue").stdout == ""


def test_the_add_port_step_and_its_undo(ovs: OvsEnv) -> None:
    from kvmnet.engine.executor import Context
    from kvmnet.engine.host import Host
    from kvmnet.engine.step import undo_class
    from kvmnet.engine.steps.ovsdb import AddOvsPort

    ovs.tap("vnet0")
    with ovs.switch() as sw:
        sw.add_bridge("br0")
    step = AddOvsPort(bridge="br0", port="vnet0", tag=5, db=ovs.db,
                      iface_external_ids={"iface-id": "x"}, qos={"max_rate": 1000000})
    ctx = Context(Host())
    entry = step.undo_record(ctx)
    ctx.host.perform(step, ctx)
    assert ovs.vsctl("port-to-br", "vnet0").stdout == "br0\n"
    assert ovs.vsctl("get", "Port", "vnet0", "tag").stdout == "5\n"
    handler = undo_class(entry["kind"])
    assert handler is not None
    handler.undo(entry, ctx)
    handler.undo(entry, ctx)  # already gone: fine
    assert ovs.vsctl("list-ports", "br0").stdout == ""
    assert ovs.vsctl("list", "QoS").stdout == ""


def test_stop_leaves_nothing_and_a_second_stop_is_fine(ovs: OvsEnv) -> None:
    pids = ovs.pids()
    ovs.kvmnet("ovs", "stop")
    assert ovs.pids() == {"ovsdb-server": None, "ovs-vswitchd": None}
    assert not ovs.socket.exists()
    for pid in pids.values():
        assert pid is not None and not _alive(pid)
    ovs.kvmnet("ovs", "stop")
    with pytest.raises(OvsError, match="Open vSwitch is not running"):
        ovs.switch()


def _alive(pid: int) -> bool:
    from tests.functional.ovs_env import _alive as alive

    return alive(pid)
