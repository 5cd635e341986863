"""The iface-* verbs on a real (namespaced) host: list, define/start/destroy, lookups,
transactions, bridges from definitions, VLAN/bond support checks and autostart.

kvmnet runs in the ``host`` namespace of :mod:`tests.functional.kvmnet_env`; the devices it
configures are veths whose peers live in a namespace the test made.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kvmnet.iface.interfaces import autostart
from kvmnet.paths import Paths
from tests.functional.kvmnet_env import (
    IP,
    KVMNET,
    KvEnv,
    assert_one_error,
    describe,
    kvenv,
    requires_kvmnet_root,
)
from tests.functional.netns import NetNS, netns, veth
from tests.functional.test_iface_bridge import definitions, l3_state

pytestmark = requires_kvmnet_root
__all__ = ["kvenv", "netns"]

ETH1 = """<interface type='ethernet' name='eth1'>
  <start mode='onboot'/>
  <mtu size='1400'/>
  <protocol family='ipv4'>
    <ip address='10.8.0.1' prefix='24'/>
    <route gateway='10.8.0.2'/>
  </protocol>
  <protocol family='ipv6'>
    <ip address='2001:db8:8::1' prefix='64'/>
  </protocol>
</interface>
"""


@pytest.fixture
def peer(kvenv: KvEnv, netns: Callable[[str], NetNS]) -> NetNS:
    """A namespace holding the far ends of host veths eth1 and eth2 (no addresses)."""
    ns = netns("peer")
    veth(kvenv.host, "eth1", ns, "p1")
    veth(kvenv.host, "eth2", ns, "p2")
    return ns


def rows(out: str) -> list[list[str]]:
    lines = out.splitlines()
    return [ln.split() for ln in lines[2:] if ln.strip()]


def kernel_mac(kvenv: KvEnv, ifname: str) -> str:
    return str(kvenv.host.ip_json("link", "show", ifname)[0]["address"])


def test_list_shows_live_and_defined_interfaces(kvenv: KvEnv, peer: NetNS) -> None:
    kvenv.host.ip("link", "set", "eth2", "down")
    kvenv.ok("iface-define", str(kvenv.write_xml("eth7", (
        "<interface type='ethernet' name='eth7'><mac address='52:54:00:00:07:07'/>"
        "</interface>"))))
    proc = kvenv.ok("iface-list")
    assert proc.stdout.splitlines()[0].split() == ["Name", "State", "MAC", "Address"]
    active = {r[0]: r for r in rows(proc.stdout)}
    assert active["eth1"] == ["eth1", "active", kernel_mac(kvenv, "eth1")]
    assert active["lo"] == ["lo", "active", "00:00:00:00:00:00"]
    assert "eth2" not in active and "eth7" not in active
    inactive = rows(kvenv.ok("iface-list", "--inactive").stdout)
    assert inactive == [["eth2", "inactive", kernel_mac(kvenv, "eth2")],
                        ["eth7", "inactive", "52:54:00:00:07:07"]]
    names = [r[0] for r in rows(kvenv.ok("iface-list", "--all").stdout)]
    assert names == sorted(names, key=str.lower) and {"eth1", "eth2", "eth7", "lo"} <= set(names)
    assert '"defined": true' in kvenv.ok("iface-list", "--all", "--json").stdout


def test_define_start_destroy_ethernet(kvenv: KvEnv, peer: NetNS) -> None:
    peer.ip("addr", "add", "10.8.0.2/24", "dev", "p1")
    kvenv.ok("iface-define", str(kvenv.write_xml("eth1", ETH1)))
    proc = kvenv.ok("iface-start", "eth1")
    assert proc.stdout == "Interface eth1 started\n\n", describe(proc)
    s = l3_state(kvenv.host)
    assert ("eth1", "10.8.0.1", 24) in s["addresses"] and ("eth1", "2001:db8:8::1", 64) in \
        s["addresses"]
    assert ("default", "10.8.0.2", "eth1", 0) in s["routes"]
    assert kvenv.host.ip_json("link", "show", "eth1")[0]["mtu"] == 1400
    live = kvenv.ok("iface-dumpxml", "eth1").stdout
    assert "<start mode='onboot'/>" in live and "<link state='up'/>" in live
    assert f"<mac address='{kernel_mac(kvenv, 'eth1')}'/>" in live
    assert "<ip address='10.8.0.1' prefix='24'/>" in live and "<mtu size='1400'/>" in live
    assert kvenv.ok("iface-dumpxml", "eth1", "--inactive").stdout == ETH1 + "\n"
    assert kvenv.ok("iface-start", "eth1").returncode == 0  # applying again changes nothing
    assert l3_state(kvenv.host) == s
    proc = kvenv.ok("iface-destroy", "eth1")
    assert proc.stdout == "Interface eth1 destroyed\n\n"
    s = l3_state(kvenv.host)
    assert not [a for a in s["addresses"] if a[0] == "eth1"]
    assert s["links"]["eth1"][3] is False
    assert "is not active" in assert_one_error(kvenv.kv("iface-destroy", "eth1"))
    assert ["eth1", "inactive"] == rows(kvenv.ok("iface-list", "--inactive").stdout)[0][:2]
    assert kvenv.ok("iface-undefine", "eth1").stdout == "Interface eth1 undefined\n\n"
    assert "is not defined" in assert_one_error(kvenv.kv("iface-undefine", "eth1"))


def test_mac_and_name_lookups(kvenv: KvEnv, peer: NetNS) -> None:
    mac = kernel_mac(kvenv, "eth1")
    assert kvenv.ok("iface-mac", "eth1").stdout == f"{mac}\n\n"
    assert kvenv.ok("iface-name", mac.upper()).stdout == "eth1\n\n"
    assert "<interface type='ethernet' name='eth1'>" in kvenv.ok("iface-dumpxml", mac).stdout
    assert "no interface has the MAC address 52:54:00:de:ad:01" in \
        assert_one_error(kvenv.kv("iface-name", "52:54:00:de:ad:01"))
    assert "is not a MAC address" in assert_one_error(kvenv.kv("iface-name", "eth1"))
    assert "interface 'nosuch0' not found" in assert_one_error(kvenv.kv("iface-mac", "nosuch0"))
    kvenv.ok("iface-bridge", "eth1", "br1", "--no-stp")
    assert "multiple interfaces have the MAC address" in \
        assert_one_error(kvenv.kv("iface-name", mac))


def test_transaction_rollback_and_commit(kvenv: KvEnv, peer: NetNS) -> None:
    kvenv.ok("iface-define", str(kvenv.write_xml("eth2", (
        "<interface type='ethernet' name='eth2'><protocol family='ipv4'>"
        "<ip address='10.6.0.1' prefix='24'/></protocol></interface>"))))
    before, defs = l3_state(kvenv.host), definitions(kvenv)
    assert kvenv.ok("iface-begin").stdout == "Network config change transaction started\n\n"
    assert "already open" in assert_one_error(kvenv.kv("iface-begin"))
    kvenv.ok("iface-define", str(kvenv.write_xml("eth1", ETH1)))
    kvenv.ok("iface-start", "eth1")
    kvenv.ok("iface-undefine", "eth2")
    kvenv.ok("iface-bridge", "eth2", "br6")
    assert l3_state(kvenv.host) != before
    proc = kvenv.ok("iface-rollback")
    assert proc.stdout == "Network config change transaction rolled back\n\n", describe(proc)
    assert l3_state(kvenv.host) == before
    assert definitions(kvenv) == defs
    assert "no network config change transaction is open" in \
        assert_one_error(kvenv.kv("iface-rollback"))
    kvenv.ok("iface-begin")
    kvenv.ok("iface-start", "eth2")
    assert kvenv.ok("iface-commit").stdout == "Network config change transaction committed\n\n"
    assert ("eth2", "10.6.0.1", 24) in l3_state(kvenv.host)["addresses"]


def test_bridge_from_a_definition(kvenv: KvEnv, peer: NetNS) -> None:
    doc = ("<interface type='bridge' name='br0'>\n  <mtu size='1450'/>\n"
           "  <protocol family='ipv4'>\n    <ip address='10.5.0.1' prefix='24'/>\n  </protocol>\n"
           "  <bridge stp='on' delay='3'>\n    <interface type='ethernet' name='eth1'>\n"
           "    </interface>\n    <interface type='ethernet' name='eth2'>\n    </interface>\n"
           "  </bridge>\n</interface>\n")
    kvenv.ok("iface-define", str(kvenv.write_xml("br0", doc)))
    kvenv.ok("iface-start", "br0")
    s = l3_state(kvenv.host)
    assert s["links"]["br0"][0] == "bridge" and s["links"]["br0"][3]
    assert s["links"]["eth1"][1] == "br0" and s["links"]["eth2"][1] == "br0"
    assert ("br0", "10.5.0.1", 24) in s["addresses"]
    data = kvenv.host.ip_json("-d", "link", "show", "br0")[0]
    assert data["mtu"] == 1450
    assert data["linkinfo"]["info_data"]["stp_state"] == 1
    assert data["linkinfo"]["info_data"]["forward_delay"] == 300
    live = kvenv.ok("iface-dumpxml", "br0").stdout
    assert "<bridge stp='on' delay='3'>" in live and "name='eth2'" in live
    kvenv.ok("iface-destroy", "br0")
    s = l3_state(kvenv.host)
    assert "br0" not in s["links"] and s["links"]["eth1"][1] is None
    assert "multiple interfaces are attached to bridge br0" in \
        assert_one_error(kvenv.kv("iface-unbridge", "br0"))


def _kernel_has(kind: str) -> bool:
    """Whether this kernel can create links of ``kind`` (tried in a scratch namespace)."""
    ns = NetNS("probe").create()
    try:
        args = ["link", "add", "link", "lo", "name", "pv", "type", "vlan", "id", "5"] \
            if kind == "vlan" else ["link", "add", "pb", "type", "bond"]
        return ns.run([IP, *args], check=False).returncode == 0
    finally:
        ns.delete()


def test_vlan_and_bond_need_kernel_support(kvenv: KvEnv, peer: NetNS) -> None:
    vlan = kvenv.write_xml("vlan", "<interface type='vlan' name='eth1.42'><vlan tag='42'>"
                                   "<interface name='eth1'/></vlan></interface>")
    bond = kvenv.write_xml("bond", "<interface type='bond' name='bond0'><bond mode='active-backup'>"
                                   "<interface type='ethernet' name='eth1'/>"
                                   "<interface type='ethernet' name='eth2'/></bond></interface>")
    brvlan = kvenv.write_xml("brvlan", "<interface type='bridge' name='br9'><bridge>"
                                       "<interface type='vlan' name='eth1.43'><vlan tag='43'>"
                                       "<interface name='eth1'/></vlan></interface></bridge>"
                                       "</interface>")
    for path in (vlan, bond, brvlan):
        kvenv.ok("iface-define", str(path))
    before = l3_state(kvenv.host)
    for name, kind, message in (("eth1.42", "vlan", ("this kernel has no 802.1Q support "
                                                    "(module 8021q)")),
                                ("br9", "vlan", "this kernel has no 802.1Q support"),
                                ("bond0", "bond", ("this kernel has no bonding support "
                                                  "(module bonding)"))):
        proc = kvenv.kv("iface-start", name)
        if _kernel_has(kind):
            assert proc.returncode == 0, describe(proc)
            kvenv.ok("iface-destroy", name)
        else:
            assert message in assert_one_error(proc)
            assert l3_state(kvenv.host) == before, name


def test_autostart_applies_onboot_definitions(kvenv: KvEnv, peer: NetNS) -> None:
    kvenv.ok("iface-define", str(kvenv.write_xml("eth1", ETH1)))
    kvenv.ok("iface-define", str(kvenv.write_xml("eth5", (
        "<interface type='ethernet' name='eth5'><start mode='onboot'/></interface>"))))
    kvenv.ok("iface-define", str(kvenv.write_xml("eth2", (
        "<interface type='ethernet' name='eth2'><start mode='none'/><protocol family='ipv4'>"
        "<ip address='10.4.0.1' prefix='24'/></protocol></interface>"))))
    root = kvenv.root
    results = kvenv.host.call(lambda: [(n, None if e is None else str(e))
                                       for n, e in autostart(Paths(root))])
    assert [n for n, _ in results] == ["eth1", "eth5"]
    assert results[0][1] is None
    assert results[1][1] is not None and "interface 'eth5' does not exist" in results[1][1]
    addrs = l3_state(kvenv.host)["addresses"]
    assert ("eth1", "10.8.0.1", 24) in addrs and ("eth2", "10.4.0.1", 24) not in addrs


def test_iface_edit(kvenv: KvEnv, peer: NetNS, tmp_path: Path) -> None:
    kvenv.ok("iface-define", str(kvenv.write_xml("eth1", ETH1)))
    editor = tmp_path / "editor.py"
    editor.write_text("import sys\np = sys.argv[1]\nt = open(p).read()\n"
                      "open(p, 'w').write(t.replace(\"size='1400'\", \"size='1300'\"))\n")
    env = dict(os.environ, KVMNET_ROOT=str(kvenv.root), EDITOR=f"{sys.executable} {editor}")
    env.pop("VISUAL", None)
    proc = subprocess.run([IP, "netns", "exec", kvenv.host.name, KVMNET, "iface-edit", "eth1"],
                          env=env, capture_output=True, text=True, check=False, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and "Interface eth1 XML configuration edited." in proc.stdout, \
        proc.stderr
    assert "<mtu size='1300'/>" in kvenv.ok("iface-dumpxml", "eth1", "--inactive").stdout
