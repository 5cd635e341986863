"""Real QEMU guests on kvmnet networks (root; everything inside throwaway namespaces).

SLOW: each ``test_guest_*`` boots the tiny test guest (:mod:`tests.functional.guest_image`)
once; on hosts where KVM cannot run it (no /dev/kvm, or a nested PVM hypervisor) that is TCG,
about 10-15 s from ``kvmnet start`` to the guest's DHCP lease.  Set ``KVMNET_SKIP_GUESTS=1``
to skip them.  The guest reports on its serial console (``KVMNET-GUEST: ...`` markers, read
from the console log) what it saw: its lease, ping and TCP results, hot-plugged NICs.

Boot timings are printed (run pytest with ``-s`` to see them): kvmnet's part (the ``start``
command) and the guest's part (from ``start`` returning to the lease marker).
"""
from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import termios
import time
from pathlib import Path

from tests.functional.guest_image import GuestImage, requires_guests, tiny_guest
from tests.functional.kvmnet_env import (
    BUSYBOX,
    IP,
    KVMNET,
    WAN_HOST_IP,
    WAN_IP,
    WAN_PORT,
    KvEnv,
    describe,
    kvenv,
    requires_kvmnet_root,
    simple_network,
)

pytestmark = [
    *requires_kvmnet_root,
    *requires_guests,
]
__all__ = ["kvenv", "tiny_guest"]  # fixtures, imported for pytest

BOOT_TIMEOUT = 120.0  # TCG on a busy 2-core machine; a typical boot takes 10-15 s
MARK = "KVMNET-GUEST:"


def guest_xml(name: str, image: GuestImage, interfaces: str, *tests: str) -> str:
    return f"""<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type>hvm</type>
    <kernel>{image.kernel}</kernel>
    <initrd>{image.initrd}</initrd>
    <cmdline>{image.append(*tests)}</cmdline>
  </os>
  <on_reboot>destroy</on_reboot>
  <devices>
    {interfaces}
    <serial type='pty'/>
  </devices>
</domain>
"""


class Guest:
    """One guest of a KvEnv: start it, read its console markers, check its taps."""

    def __init__(self, env: KvEnv, name: str) -> None:
        self.env = env
        self.name = name
        self.log = env.root / "var" / "log" / "kvmnet" / "guests" / f"{name}.log"
        self.started = 0.0

    def define(self, xml: str) -> None:
        self.env.ok("define", str(self.env.write_xml(self.name, xml)))

    def start(self) -> tuple[float, str]:
        t0 = time.monotonic()
        proc = self.env.ok("start", self.name)
        self.started = time.monotonic()
        assert f"Domain '{self.name}' started" in proc.stdout, describe(proc)
        return self.started - t0, proc.stderr

    def console_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_marker(self, pattern: str, timeout: float = BOOT_TIMEOUT) -> re.Match[str]:
        rx = re.compile(re.escape(MARK) + " " + pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.console_text())
            if m is not None:
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"no console marker /{pattern}/ within {timeout:.0f} s; "
                                     f"console log:\n{self.console_text()[-3000:]}\n"
                                     + self.env.debug_state())
            time.sleep(0.2)

    def record(self) -> dict[str, object]:
        path = self.env.root / "run" / "kvmnet" / "guests" / f"{self.name}.json"
        data = json.loads(path.read_text())
        assert isinstance(data, dict) and isinstance(data["info"], dict)
        return data["info"]  # the guest's journal: its info is the run record

    def taps(self) -> list[str]:
        """Interface column of domiflist (live taps)."""
        out = self.env.ok("domiflist", self.name).stdout
        rows = [ln.split() for ln in out.splitlines()[2:] if ln.strip()]
        return [r[0] for r in rows]

    def bridge_ports(self, bridge: str) -> set[str]:
        links = self.env.host.ip_json("link", "show", "master", bridge) or []
        return {link["ifname"] for link in links}


def qemu_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def assert_no_guest_left(env: KvEnv, guest: Guest, pid: int, taps: list[str]) -> None:
    for tap in taps:
        assert not env.link_exists(tap), f"tap {tap} still exists\n{env.debug_state()}"
    assert not qemu_alive(pid), f"QEMU PID {pid} still runs"
    run = env.root / "run" / "kvmnet" / "guests"
    left = sorted(p.name for p in run.iterdir() if not p.name.startswith(".")) if run.is_dir() \
        else []
    assert left == [], f"run-time files left: {left}"
    ports = env.root / "run" / "kvmnet" / "ports"
    port_files = sorted(str(p.relative_to(ports)) for p in ports.rglob("*") if p.is_file()) \
        if ports.is_dir() else []
    assert port_files == [], f"port records left: {port_files}"
    out = env.ok("list", "--all").stdout
    assert re.search(rf"^ -\s+{re.escape(guest.name)}\s+shut off$", out, re.MULTILINE), out


# -- tests -------------------------------------------------------------------------------------
def test_guest_on_nat_network_gets_lease_pings_and_reaches_wan(kvenv: KvEnv,
                                                              tiny_guest: GuestImage) -> None:
    """SLOW (one guest boot): lease, ping to the gateway, NAT to the outside, domifaddr,
    console (log and interactive), destroy leaves no tap, no QEMU, no files."""
    net = kvenv.start(simple_network("gnet", "gbr0", "10.10.10", "nat"))
    wan = kvenv.wan()
    peers = kvenv.tcp_server(wan)
    g = Guest(kvenv, "g1")
    g.define(guest_xml("g1", tiny_guest,
                       f"<interface type='network'><source network='{net}'/></interface>",
                       "ping:10.10.10.1", f"connect:{WAN_IP}:{WAN_PORT}"))
    kvmnet_s, notices = g.start()
    if Path("/sys/module/kvm_pvm").exists():
        assert "KVM cannot run this guest here (PVM): using TCG, expect it to be slow" in notices

    lease = g.wait_marker(r"lease (\S+) dev eth0 mask (\d+) router (\S+)")
    guest_s = time.monotonic() - g.started
    print(f"\nboot-to-lease: kvmnet start {kvmnet_s:.2f} s, guest {guest_s:.1f} s "
          f"(accel {g.record()['accel']})")
    ip, mask, router = lease.groups()
    assert ip.startswith("10.10.10.") and mask == "24" and router == "10.10.10.1", lease[0]
    g.wait_marker(r"ping 10\.10\.10\.1 ok", 60)
    g.wait_marker(rf"connect {re.escape(WAN_IP)}:{WAN_PORT} ok", 60)
    assert WAN_HOST_IP in peers.read_text().split(), "NAT: the WAN saw the host's address"
    g.wait_marker("ready", 30)

    out = kvenv.ok("list").stdout
    assert re.search(r"^ \d+\s+g1\s+running$", out, re.MULTILINE), out
    rec = g.record()
    pid = rec["pid"]
    assert isinstance(pid, int) and qemu_alive(pid)
    (tap,) = g.taps()
    assert tap.startswith("vnet") and tap in g.bridge_ports("gbr0")

    out = kvenv.ok("domifaddr", "g1").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["Name", "MAC", "address", "Protocol", "Address"], out
    mac = kvenv.ok("domiflist", "g1").stdout.splitlines()[2].split()[4]
    assert lines[2].split() == [tap, mac, "ipv4", f"{ip}/24"], out
    assert kvenv.wait_lease(net, mac)

    # Without a terminal, console prints the log.
    assert "KVMNET-GUEST: ready" in kvenv.ok("console", "g1").stdout
    _interactive_console(kvenv, "g1")

    proc = kvenv.ok("destroy", "g1")
    assert proc.stdout == "Domain 'g1' destroyed\n\n", describe(proc)
    assert_no_guest_left(kvenv, g, pid, [tap])
    kvenv.ok("start", "g1")  # the same guest starts again after a destroy
    kvenv.ok("destroy", "g1")


def _interactive_console(env: KvEnv, name: str) -> None:
    """``kvmnet console`` on a pseudo-terminal: a command runs in the guest, ^] leaves."""
    master, slave = pty.openpty()
    full = dict(os.environ, KVMNET_ROOT=str(env.root))
    p = subprocess.Popen([IP, "netns", "exec", env.host.name, KVMNET, "console", name],
                         stdin=slave, stdout=slave, stderr=slave, env=full)
    os.close(slave)
    seen = b""

    def read_until(needle: bytes, timeout: float) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while needle not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"console never showed {needle!r}: {seen[-2000:]!r}"
            ready, _, _ = select.select([master], [], [], left)
            if ready:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
    try:
        read_until(b"Escape character is ^]", 20)
        # kvmnet (like virsh) switches the terminal to raw mode with TCSAFLUSH, which drops
        # input typed before the switch: wait until the line discipline is raw.
        deadline = time.monotonic() + 10
        while termios.tcgetattr(master)[3] & termios.ICANON:
            assert time.monotonic() < deadline, "the console never switched the terminal to raw"
            time.sleep(0.01)
        os.write(master, b"\r")
        os.write(master, b"echo KV$((40+2))\r")
        read_until(b"KV42", 30)
        os.write(master, b"\x1d")
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)


def test_guest_hotplug_and_crashed_qemu_cleanup(kvenv: KvEnv, tiny_guest: GuestImage) -> None:
    """SLOW (one guest boot): a type='bridge' NIC, attach/detach-interface --live (the tap
    appears on and leaves the bridge, the guest sees the NIC come and go), then a QEMU killed
    behind kvmnet's back: the next 'list' unplugs its taps."""
    net = kvenv.start(simple_network("hnet", "hbr0", "10.20.30", "nat"))
    g = Guest(kvenv, "g2")
    g.define(guest_xml("g2", tiny_guest,
                       "<interface type='bridge'><source bridge='hbr0'/></interface>"))
    g.start()
    g.wait_marker(r"lease 10\.20\.30\.\S+ dev eth0")
    g.wait_marker("ready", 60)
    (tap0,) = g.taps()
    assert tap0 in g.bridge_ports("hbr0")

    mac = "52:54:00:42:00:01"
    proc = kvenv.ok("attach-interface", "g2", "network", net, "--mac", mac, "--live")
    assert proc.stdout == "Interface attached successfully\n\n", describe(proc)
    taps = g.taps()
    assert len(taps) == 2 and taps[0] == tap0
    tap1 = taps[1]
    assert tap1 in g.bridge_ports("hbr0")
    g.wait_marker(rf"nic (eth\d) added mac {mac}", 60)
    g.wait_marker(r"lease 10\.20\.30\.\S+ dev eth1", 60)
    live = kvenv.ok("dumpxml", "g2").stdout
    assert f"<mac address='{mac}'/>" in live
    assert f"<mac address='{mac}'/>" not in kvenv.ok("dumpxml", "g2", "--inactive").stdout

    proc = kvenv.ok("detach-interface", "g2", "network", "--mac", mac, "--live")
    assert proc.stdout == "Interface detached successfully\n\n", describe(proc)
    assert not kvenv.link_exists(tap1), kvenv.debug_state()
    assert g.taps() == [tap0]
    g.wait_marker(r"nic eth1 removed", 60)

    # QEMU dies behind kvmnet's back (this test stops it by the PID kvmnet recorded).
    pid = g.record()["pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while qemu_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kvenv.link_exists(tap0)  # nothing has looked yet
    out = kvenv.ok("list", "--all").stdout  # notices the dead QEMU and unplugs its ports
    assert re.search(r"^ -\s+g2\s+shut off$", out, re.MULTILINE), out
    assert_no_guest_left(kvenv, g, pid, [tap0])


def test_failed_start_leaves_no_tap(kvenv: KvEnv, tmp_path: Path) -> None:
    """No boot: QEMU refuses the machine after the ports were plugged; they go again."""
    net = kvenv.start(simple_network("fnet", "fbr0", "10.30.40", "nat"))
    bad = kvenv.root / "bad.qcow2"
    bad.write_bytes(b"this is not a qcow2 image")
    kvenv.ok("define", str(kvenv.write_xml("g3", f"""<domain type='qemu'>
  <name>g3</name><memory unit='MiB'>64</memory>
  <os><type>hvm</type><boot dev='hd'/></os>
  <devices>
    <disk type='file'><driver name='qemu' type='qcow2'/><source file='{bad}'/>
      <target dev='vda'/></disk>
    <interface type='network'><source network='{net}'/></interface>
    <interface type='network'><source network='{net}'/></interface>
  </devices>
</domain>
""")))
    proc = kvenv.kv("start", "g3")
    assert proc.returncode == 1, describe(proc)
    assert "QEMU could not start guest 'g3'" in proc.stderr and "qcow2" in proc.stderr, \
        describe(proc)
    links = kvenv.host.ip_json("link", "show") or []
    assert [lk["ifname"] for lk in links if lk["ifname"].startswith("vnet")] == []
    out = kvenv.ok("list", "--all").stdout
    assert re.search(r"^ -\s+g3\s+shut off$", out, re.MULTILINE), out
    run = kvenv.root / "run" / "kvmnet" / "guests"
    assert sorted(p.name for p in run.iterdir() if not p.name.startswith(".")) == []
    proc = kvenv.kv("destroy", "g3")
    assert proc.returncode == 1 and "not running" in proc.stderr


PING_INTERVAL = 0.2
ECHO_PORT = 9009


def _type(sock_path: str, *lines: str) -> None:
    """Type shell lines on the guest's serial console (its socket; the log shows the output)."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(sock_path)
        for line in ("", *lines):
            s.sendall(line.encode() + b"\r")
            time.sleep(0.3)


def _numbers(text: str, pattern: str) -> list[int]:
    return [int(n) for n in re.findall(pattern, text, re.MULTILINE)]


def _wait_numbers(g: Guest, pattern: str, above: int, timeout: float) -> list[int]:
    """The numbers ``pattern`` captures on the console, once one is greater than ``above``."""
    deadline = time.monotonic() + timeout
    while True:
        found = _numbers(g.console_text(), pattern)
        if found and max(found) > above:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no /{pattern}/ above {above} within {timeout:.0f} s; console "
                                 f"log:\n{g.console_text()[-3000:]}\n" + g.env.debug_state())
        time.sleep(0.05)


def _restart(env: KvEnv, g: Guest, net: str, tap: str, ping_rx: str, tcp_rx: str,
             what: str) -> float:
    """net-destroy + net-start under the guest's pings and TCP echoes; returns the pause (s):
    the pings that got no reply around the restart, times their interval."""
    before_ping = max(_numbers(g.console_text(), ping_rx))
    before_tcp = max(_numbers(g.console_text(), tcp_rx))
    t0 = time.monotonic()
    env.ok("net-destroy", net)
    t1 = time.monotonic()
    assert env.link_exists(tap) and not env.link_exists("rbr0")
    env.ok("net-start", net)
    t2 = time.monotonic()
    seqs = _wait_numbers(g, ping_rx, before_ping + 10, 60)
    _wait_numbers(g, tcp_rx, before_tcp + 3, 60)  # the same TCP connection echoes again
    after = sorted(s for s in set(seqs) if s > before_ping)
    lost = [s for s in range(before_ping + 1, after[-1]) if s not in after]
    pause = len(lost) * PING_INTERVAL
    print(f"\nnetwork restart with a running guest ({what}): net-destroy {t1 - t0:.2f} s, "
          f"net-start {t2 - t1:.2f} s; pings lost {len(lost)} x {PING_INTERVAL} s = pause "
          f"~{pause:.1f} s")
    return pause


def test_guest_keeps_its_nic_across_a_network_restart(kvenv: KvEnv,
                                                     tiny_guest: GuestImage) -> None:
    """SLOW (one guest boot), issue 11: net-destroy + net-start with a running guest.  libvirt
    deletes the guest's tap; kvmnet keeps it and plugs it back: the guest's ping to its
    gateway and its TCP connection through NAT resume after a short pause, same QEMU, and the
    tap is back on the new bridge with its isolation and bandwidth."""
    pg = ("  <port isolated='yes'/>\n  <portgroup name='fast' default='yes'><bandwidth>"
          "<inbound average='100000'/></bandwidth></portgroup>\n")
    net = kvenv.start(simple_network("rnet", "rbr0", "10.40.50", "nat", extra=pg))
    wan = kvenv.wan()
    echo = wan.popen([BUSYBOX, "nc", "-l", "-p", str(ECHO_PORT), "-e", "cat"])
    g = Guest(kvenv, "g4")
    g.define(guest_xml("g4", tiny_guest,
                       f"<interface type='network'><source network='{net}'/></interface>"))
    g.start()
    pid = g.record()["pid"]
    try:
        g.wait_marker(r"lease 10\.40\.50\.\S+ dev eth0")
        g.wait_marker("ready", 60)
        assert isinstance(pid, int)
        (tap,) = g.taps()
        serial = g.record()["serials"][0]["socket"]  # type: ignore[index]
        # A ping every 0.2 s, and a TCP connection through NAT echoing a line every 0.5 s.
        _type(serial, f"ping -i {PING_INTERVAL} 10.40.50.1 &",
              f"(i=0; while true; do i=$((i+1)); echo tcp-$i; sleep 0.5; done | "
              f"nc {WAN_IP} {ECHO_PORT}) &")
        ping_rx, tcp_rx = r"bytes from 10\.40\.50\.1: seq=(\d+)", r"^tcp-(\d+)"
        _wait_numbers(g, ping_rx, 5, 60)
        _wait_numbers(g, tcp_rx, 3, 60)

        # 1: as defined (STP on: a new bridge port listens and learns for 2 x 2 s, the
        # kernel's least forward delay with STP); 2: redefined with STP off, the same name
        pauses = [_restart(kvenv, g, net, tap, ping_rx, tcp_rx, "STP on")]
        kvenv.ok("net-define", str(kvenv.write_xml(net, simple_network(
            "rnet", "rbr0", "10.40.50", "nat", extra=pg).replace("stp='on'", "stp='off'"))))
        pauses.append(_restart(kvenv, g, net, tap, ping_rx, tcp_rx, "STP off"))
        assert max(pauses) < 30 and pauses[1] < 10, pauses

        assert qemu_alive(pid) and g.record()["pid"] == pid  # the same QEMU, never restarted
        assert g.taps() == [tap] and tap in g.bridge_ports("rbr0")
        port = json.loads(kvenv.host.run(["bridge", "-d", "-j", "link", "show", "dev",
                                          tap]).stdout)[0]
        assert port["isolated"] is True, port
        qdiscs = kvenv.host.run(["tc", "qdisc", "show", "dev", tap]).stdout
        assert "qdisc htb 1: root" in qdiscs, qdiscs
        assert "<network connections='1'>" in kvenv.ok("net-dumpxml", net).stdout
    finally:
        kvenv.kv("destroy", "g4")
        echo.kill()
        echo.wait()
    assert_no_guest_left(kvenv, g, pid, [tap])


def test_start_killed_after_each_step_converges(kvenv: KvEnv) -> None:
    """kvmnet killed right after each step of a guest start (KVMNET_FAULT_KILL_AFTER); the
    next ``start`` (or ``destroy``) undoes what the killed one left -- a QEMU it had launched
    too -- and after a destroy no tap, QEMU, port or run-time file is left.  No boot: QEMU
    sits in its firmware."""
    net = kvenv.start(simple_network("knet", "kbr0", "10.30.50", "nat"))
    g = Guest(kvenv, "gk")
    g.define(f"""<domain type='qemu'>
  <name>gk</name><memory unit='MiB'>32</memory>
  <os><type>hvm</type></os>
  <devices>
    <interface type='network'><source network='{net}'/></interface>
    <serial type='pty'/>
  </devices>
</domain>
""")
    run = kvenv.root / "run" / "kvmnet" / "guests"
    for i, kind in enumerate(("port.sweep", "port.plug", "qemu.files", "qemu.start", "files")):
        proc = kvenv.kv("start", "gk", env={"KVMNET_FAULT_KILL_AFTER": kind})
        assert proc.returncode == -9, describe(proc)
        pidfile = run / "gk.pid"
        stray = int(pidfile.read_text()) if pidfile.exists() else None
        assert (stray is not None) == (kind in ("qemu.start", "files")), (kind, stray)
        if i % 2:
            proc = kvenv.kv("destroy", "gk")  # the killed start's QEMU never counted as running
            assert proc.returncode == 1 and "not running" in proc.stderr, describe(proc)
        else:
            kvenv.ok("start", "gk")
            pid = g.record()["pid"]
            assert isinstance(pid, int) and qemu_alive(pid) and pid != stray
            taps = g.taps()
            kvenv.ok("destroy", "gk")
            assert_no_guest_left(kvenv, g, pid, taps)
        if stray is not None:
            assert not qemu_alive(stray), f"after a kill after {kind}: QEMU {stray} still runs"
        left = sorted(p.name for p in run.iterdir() if not p.name.startswith("."))
        assert left == [], f"after a kill after {kind}: {left}\n{kvenv.debug_state()}"
        links = kvenv.host.ip_json("link", "show") or []
        assert [lk["ifname"] for lk in links if lk["ifname"].startswith("vnet")] == [], kind
