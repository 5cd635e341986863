"""Real QEMU guests on a passthrough macvtap (root; throwaway namespaces; SLOW: one boot).

The guest's ``<interface type='direct'><source dev='nic0' mode='passthrough'/>``: while it
runs, its NIC ``nic0`` carries the guest's MAC (as libvirt sets it), and the LAN's DHCP server
leases to that MAC; ``destroy`` puts nic0's own MAC back, and so does the clean-up after a
QEMU killed behind kvmnet's back (the next ``list`` notices it), and the convergence after a
kvmnet killed after any step of the guest's start (no boot).
"""
from __future__ import annotations

import os
import signal
import time

from tests.functional.guest_image import GuestImage, requires_guests, tiny_guest
from tests.functional.kvmnet_env import KvEnv, describe, kvenv, requires_kvmnet_root
from tests.functional.test_direct_guests import lan
from tests.functional.test_direct_passthrough import mac_of
from tests.functional.test_guests import Guest, assert_no_guest_left, guest_xml, qemu_alive

pytestmark = [*requires_kvmnet_root, *requires_guests]
__all__ = ["kvenv", "tiny_guest"]


def test_guest_on_a_passthrough_nic_and_the_nics_own_mac_after_destroy_and_kill(
        kvenv: KvEnv, tiny_guest: GuestImage) -> None:
    leases = lan(kvenv)
    own = mac_of(kvenv.host, "nic0")
    g = Guest(kvenv, "gpt")
    g.define(guest_xml("gpt", tiny_guest, "<interface type='direct'><source dev='nic0' "
                       "mode='passthrough'/></interface>", "ping:192.168.77.1"))
    g.start()
    mac = kvenv.ok("domiflist", "gpt").stdout.splitlines()[2].split()[4]
    assert mac != own
    assert mac_of(kvenv.host, "nic0") == mac  # the guest's MAC on its NIC while it runs
    (tap,) = g.taps()
    assert mac_of(kvenv.host, tap) == mac
    g.wait_marker(r"lease 192\.168\.77\.\S+ dev eth0")
    g.wait_marker(r"ping 192\.168\.77\.1 ok", 60)
    assert mac in leases.read_text()  # the LAN saw the guest's MAC
    kvenv.ok("destroy", "gpt")
    assert not kvenv.link_exists(tap)
    assert mac_of(kvenv.host, "nic0") == own

    # QEMU dies behind kvmnet's back: the next command's clean-up puts nic0's MAC back too
    g.start()
    assert mac_of(kvenv.host, "nic0") == mac
    pid = g.record()["pid"]
    assert isinstance(pid, int)
    (tap,) = g.taps()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while qemu_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mac_of(kvenv.host, "nic0") == mac  # nothing has looked yet
    kvenv.ok("list", "--all")
    assert_no_guest_left(kvenv, g, pid, [tap])
    assert mac_of(kvenv.host, "nic0") == own


def test_guest_start_killed_after_each_step_puts_the_nics_mac_back(kvenv: KvEnv) -> None:
    """kvmnet killed right after each step of a passthrough guest's start: the next command
    (``start``, or ``destroy``) undoes what the killed one left, the NIC's own MAC included.
    No boot: QEMU sits in its firmware."""
    lan(kvenv)
    own, mac = mac_of(kvenv.host, "nic0"), "52:54:00:ee:00:09"
    g = Guest(kvenv, "gk")
    g.define(f"""<domain type='qemu'>
  <name>gk</name><memory unit='MiB'>32</memory>
  <os><type>hvm</type></os>
  <devices>
    <interface type='direct'><mac address='{mac}'/><source dev='nic0' mode='passthrough'/>
    </interface>
    <serial type='pty'/>
  </devices>
</domain>
""")
    for i, kind in enumerate(("netconfig.set", "macvtap.create", "macvtap.node", "qemu.start")):
        proc = kvenv.kv("start", "gk", env={"KVMNET_FAULT_KILL_AFTER": kind})
        assert proc.returncode == -9, describe(proc)
        assert mac_of(kvenv.host, "nic0") == mac, kind
        if i % 2:
            proc = kvenv.kv("destroy", "gk")  # the killed start never counted as running
            assert proc.returncode == 1 and "not running" in proc.stderr, describe(proc)
        else:
            kvenv.ok("start", "gk")
            assert mac_of(kvenv.host, "nic0") == mac, kind
            kvenv.ok("destroy", "gk")
        assert mac_of(kvenv.host, "nic0") == own, kind
        macvtaps = [lk["ifname"] for lk in kvenv.host.ip_json("link", "show") or []
                    if lk["ifname"].startswith("macvtap")]
        assert macvtaps == [], kind
