"""Real QEMU guests on an Open vSwitch network with VLAN portgroups (root; SLOW).

One lab per module, its guests reused by every test (TCG boots take 10-30 s each on this
machine): a private Open vSwitch (``kvmnet ovs start``, userspace datapath) in the host
namespace with bridge ``ovsbr0``; network ``ovsnet`` (bridge mode, ``<virtualport
type='openvswitch'/>``) with portgroups ``vlan10`` (default) and ``vlan20``; libvirt's
bridge-mode networks have no DHCP server of their own, so two namespaces on access ports play
the LAN's: ``d10`` (VLAN 10, 10.77.0.1, dnsmasq) and ``d20`` (VLAN 20, 10.77.0.2, dnsmasq) --
the same subnet on both VLANs, so only the switch keeps them apart.

* ``gb``: ``type='network'`` in portgroup vlan10, a reserved address (10.77.0.10);
* ``ga``: ``type='network'``, no portgroup (the default one), an empty ``<virtualport/>``
  (defining it gives it libvirt's instanceid and interfaceid), pings gb and d10;
* ``gc``: ``type='bridge'`` on ovsbr0 with ``<virtualport type='openvswitch'/>`` and its own
  ``<vlan><tag id='20'/></vlan>``: it reaches d20 but not gb, whose address is in its subnet.

Then QEMU is killed with -9, and a guest start is killed midway through plugging: the next
command leaves no stale OVS port.
"""
from __future__ import annotations

import json
import os
import re
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional.guest_image import GuestImage, requires_guests, tiny_guest
from tests.functional.kvmnet_env import BUSYBOX, KvEnv, describe, requires_kvmnet_root
from tests.functional.netns import NetNS
from tests.functional.ovs_env import OvsEnv, dnsmasq, ok, requires_ovs
from tests.functional.test_guests import Guest, guest_xml, qemu_alive

pytestmark = [*requires_kvmnet_root, *requires_guests, *requires_ovs]
__all__ = ["tiny_guest"]

NET = """<network>
  <name>ovsnet</name>
  <forward mode='bridge'/>
  <bridge name='ovsbr0'/>
  <virtualport type='openvswitch'/>
  <portgroup name='vlan10' default='yes'><vlan><tag id='10'/></vlan></portgroup>
  <portgroup name='vlan20'><vlan><tag id='20'/></vlan></portgroup>
</network>
"""
MAC_A, MAC_B, MAC_C = "52:54:00:77:00:0a", "52:54:00:77:00:0b", "52:54:00:77:00:0c"
IP_B = "10.77.0.10"
LEASE = r"lease (\S+) dev eth0"
TCP_SERVER = """
import hashlib, socket
s = socket.create_server(("10.78.0.2", 9000))
c, _ = s.accept()
h, n = hashlib.sha256(), 0
while True:
    b = c.recv(65536)
    if not b:
        break
    h.update(b)
    n += len(b)
print(n, h.hexdigest())
"""
TCP_CLIENT = """
import hashlib, os, socket, time
data = os.urandom({size})
for _ in range(50):
    try:
        c = socket.create_connection(("10.78.0.2", 9000), timeout=5)
        break
    except OSError:
        time.sleep(0.2)
c.sendall(data)
c.close()
print(hashlib.sha256(data).hexdigest())
"""


class Lab:
    def __init__(self, env: KvEnv, image: GuestImage) -> None:
        self.env = env
        self.image = image
        self.ovs = OvsEnv.of(env)
        self.d10: NetNS = env._ns("d10")
        self.d20: NetNS = env._ns("d20")
        self.guests: dict[str, Guest] = {}
        self.ips: dict[str, str] = {}

    def guest(self, name: str, iface: str, *tests: str) -> Guest:
        g = Guest(self.env, name)
        g.define(guest_xml(name, self.image, iface, *tests))
        g.start()
        self.guests[name] = g
        return g

    def port_of(self, name: str) -> str:
        taps = self.guests[name].taps()
        assert len(taps) == 1, taps
        return taps[0]


@pytest.fixture(scope="module")
def lab(tiny_guest: GuestImage) -> Iterator[Lab]:
    root = Path(tempfile.mkdtemp(prefix="kvmnet-ovs-"))
    root.chmod(0o755)
    env = KvEnv(root)
    lab = Lab(env, tiny_guest)
    try:
        lab.ovs.start("ovsbr0")
        lab.ovs.access_port("p10", lab.d10, 10, "10.77.0.1/24")
        lab.ovs.access_port("p20", lab.d20, 20, "10.77.0.2/24")
        dnsmasq(lab.d10, "10.77.0.100", "10.77.0.149", f"{MAC_B},{IP_B}")
        dnsmasq(lab.d20, "10.77.0.150", "10.77.0.199")
        env.start(NET)
        # gb first, so that it answers when the others ping it
        gb = lab.guest("gb", f"<interface type='network'><mac address='{MAC_B}'/>"
                       "<source network='ovsnet' portgroup='vlan10'/></interface>")
        lab.ips["gb"] = gb.wait_marker(LEASE).group(1)
        lab.guest("ga", f"<interface type='network'><mac address='{MAC_A}'/>"
                  "<source network='ovsnet'/><virtualport/></interface>",
                  f"ping:{IP_B}", "ping:10.77.0.1")
        lab.guest("gc", f"<interface type='bridge'><mac address='{MAC_C}'/>"
                  "<source bridge='ovsbr0'/><virtualport type='openvswitch'/>"
                  "<vlan><tag id='20'/></vlan></interface>", f"ping:{IP_B}", "ping:10.77.0.2")
        for name in ("ga", "gc"):
            lab.ips[name] = lab.guests[name].wait_marker(LEASE).group(1)
            lab.guests[name].wait_marker("tests done")
        yield lab
    finally:
        for name in lab.guests:
            env.kv("destroy", name)
        env.kv("net-destroy", "ovsnet")
        try:
            lab.ovs.stop()
        finally:
            env.cleanup()
            import shutil

            shutil.rmtree(root, ignore_errors=True)


def test_guests_in_one_portgroup_get_leases_and_ping_each_other(lab: Lab) -> None:
    assert lab.ips["gb"] == IP_B
    assert re.fullmatch(r"10\.77\.0\.1[0-4]\d", lab.ips["ga"]), lab.ips
    lab.guests["ga"].wait_marker(re.escape(f"ping {IP_B} ok"))
    lab.guests["ga"].wait_marker(re.escape("ping 10.77.0.1 ok"))  # the host on VLAN 10


def test_a_guest_on_another_vlan_cannot_reach_them(lab: Lab) -> None:
    # gc got its lease from VLAN 20's server, reaches it, and not gb (same subnet, VLAN 10)
    assert re.fullmatch(r"10\.77\.0\.1[5-9]\d", lab.ips["gc"]), lab.ips
    lab.guests["gc"].wait_marker(re.escape("ping 10.77.0.2 ok"))
    lab.guests["gc"].wait_marker(re.escape(f"ping {IP_B} fail"))
    # a host on an access port of the right VLAN reaches the guests; one on another does not
    assert ping(lab.d10, lab.ips["ga"]) and ping(lab.d10, IP_B)
    assert ping(lab.d20, lab.ips["gc"]) and not ping(lab.d20, IP_B)


def ping(ns: NetNS, address: str) -> bool:
    return ns.run([BUSYBOX, "ping", "-c", "2", "-W", "2", address], check=False).returncode == 0


def test_guest_ports_carry_libvirt_external_ids_and_vlans(lab: Lab) -> None:
    shown = ok(lab.env, "ovs", "show")
    assert shown == lab.ovs.out("show")  # as ovs-vsctl shows it
    for name, tag in (("ga", 10), ("gb", 10), ("gc", 20)):
        tap = lab.port_of(name)
        assert f"Port {tap}" in shown, shown
        port = lab.ovs.columns("Port", tap, "tag", "external_ids")
        assert port["tag"] == tag, (name, port)
        ids = lab.ovs.columns("Interface", tap, "external_ids")["external_ids"]
        found = re.search(r"<uuid>([^<]+)</uuid>", ok(lab.env, "dumpxml", name))
        assert found is not None
        dom_uuid = found.group(1)
        assert ids["vm-id"] == dom_uuid and ids["iface-status"] == "active", ids
        assert ids["attached-mac"] == {"ga": MAC_A, "gb": MAC_B, "gc": MAC_C}[name]
        # the running guest's XML shows the port's interfaceid (libvirt's actual virtualport):
        # gc's from its definition, ga's from its untyped one, gb's made when its port was
        assert ids["iface-id"] == interfaceid(lab, name), name
        assert ids["iface-id"] != port["external_ids"]["kvmnet-port"]
    assert interfaceid(lab, "gb", "--inactive", typed=None) is None  # none in its definition


def interfaceid(lab: Lab, name: str, *flags: str, typed: bool | None = True) -> str | None:
    """The interfaceid in ``dumpxml NAME FLAGS``: of libvirt's shape for an Open vSwitch
    profile (with ``typed`` None: whatever is there, None when nothing is)."""
    text = ok(lab.env, "dumpxml", name, *flags)
    found = re.search(r"<virtualport type='openvswitch'>\n\s*<parameters interfaceid='([^']+)'/>"
                      r"\n\s*</virtualport>", text)
    if typed is None:
        found = found or re.search(r"interfaceid='([^']+)'", text)
        return found.group(1) if found else None
    assert found is not None, f"no Open vSwitch interfaceid in {name}'s XML:\n{text}"
    return found.group(1)


def untyped_ids(lab: Lab, name: str) -> tuple[str, str]:
    """instanceid and interfaceid of the untyped <virtualport> in NAME's definition, in
    libvirt's write-back shape."""
    text = ok(lab.env, "dumpxml", name, "--inactive")
    found = re.search(r"\n\s*<virtualport>\n\s*<parameters instanceid='([^']+)' "
                      r"interfaceid='([^']+)'/>\n\s*</virtualport>\n", text)
    assert found is not None, text
    return found.group(1), found.group(2)


def test_the_iface_id_outlives_a_guest_restart(lab: Lab) -> None:
    """libvirt's way: the ids generated when the guest was defined are kept in its definition
    (gc's typed <virtualport type='openvswitch'/>, ga's empty <virtualport/>), so the OVS
    port's iface-id (an OVN binding) is the same after the guest restarts, on a new tap."""
    before = {"gc": interfaceid(lab, "gc", "--inactive"), "ga": untyped_ids(lab, "ga")[1]}
    ga_ids = untyped_ids(lab, "ga")
    for name in ("gc", "ga"):
        assert interfaceid(lab, name) == before[name]
        ok(lab.env, "destroy", name)
        lab.guests[name].start()
        tap = lab.port_of(name)
        ids = lab.ovs.columns("Interface", tap, "external_ids")["external_ids"]
        assert ids["iface-id"] == before[name] == interfaceid(lab, name), name
    assert untyped_ids(lab, "ga") == ga_ids  # the definition itself is unchanged


def test_tcp_across_the_switch(lab: Lab) -> None:
    """A few MB through the userspace datapath (the guest image has no bulk TCP tool: two
    namespaces on access ports of one VLAN)."""
    env = lab.env
    t1, t2 = env._ns("t1"), env._ns("t2")
    lab.ovs.access_port("pt1", t1, 30, "10.78.0.1/24")
    lab.ovs.access_port("pt2", t2, 30, "10.78.0.2/24")
    size = 4 * 1024 * 1024
    server = t2.popen(["python3", "-c", TCP_SERVER])
    client = t1.run(["python3", "-c", TCP_CLIENT.format(size=size)], timeout=120)
    out, err = server.communicate(timeout=120)
    n, digest = out.split()
    assert int(n) == size and digest == client.stdout.strip(), (out, err)


def test_qemu_killed_leaves_no_stale_port(lab: Lab) -> None:
    ga = lab.guests["ga"]
    tap = lab.port_of("ga")
    pid = int(ga.record()["pid"])  # type: ignore[call-overload]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while qemu_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert tap in lab.ovs.ports("ovsbr0")  # nothing noticed yet
    ok(lab.env, "list", "--all")  # the next command notices the dead guest
    assert tap not in lab.ovs.ports("ovsbr0") and not lab.env.link_exists(tap)
    del lab.guests["ga"]


def test_start_killed_midway_through_plugging_leaves_no_stale_port(lab: Lab) -> None:
    env = lab.env
    before = set(lab.ovs.ports("ovsbr0"))
    g = Guest(env, "gk")
    g.define(guest_xml("gk", lab.image, "<interface type='bridge'><source bridge='ovsbr0'/>"
                       "<virtualport type='openvswitch'/></interface>"))
    for kind in ("tap.create", "ovsdb.port"):
        proc = env.kv("start", "gk", env={"KVMNET_FAULT_KILL_AFTER": kind})
        assert proc.returncode == -signal.SIGKILL, describe(proc)
        if kind == "ovsdb.port":
            assert len(set(lab.ovs.ports("ovsbr0")) - before) == 1  # the crash's debris
        env.kv("destroy", "gk")  # the next command: "not running", and cleans up
        assert set(lab.ovs.ports("ovsbr0")) == before, kind
        assert not [n for n in json.dumps(env.host.ip_json("link")).split('"')
                    if n.startswith("vnet") and n not in {lab.port_of(x) for x in lab.guests}]
    ok(env, "ovs", "reconcile")
    assert set(lab.ovs.ports("ovsbr0")) == before
