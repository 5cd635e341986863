"""The cookbook chapter, walked end to end with real QEMU guests (root; all in namespaces).

The story (the networks are ``examples/networks/default.xml`` and ``nat_net.xml`` unchanged):

1. ``default`` and ``nat_net`` are defined and started; a LAN namespace with its own DHCP
   server (a plain dnsmasq started here) sits behind a Linux bridge ``br0`` of the host, and a
   bridge-mode network ``lan`` (``<forward mode='bridge'/><bridge name='br0'/>``) points at it.
2. Three guests boot at once (TCG is slow; they overlap): ``kvm1`` and ``kvm2`` on ``default``,
   ``kvm3`` on ``lan``.  kvm1 and kvm2 get 192.168.122.x leases (``domifaddr``,
   ``net-dhcp-leases``), kvm1 pings 192.168.122.1, kvm2 pings kvm1's leased address (typed on
   its console with ``kvmnet console``); kvm3 gets its address from the LAN's dnsmasq, which
   kvmnet's lease source does not know (``domifaddr`` lists nothing, as libvirt's does).
3. ``kvmnet edit kvm1`` (a scripted ``$EDITOR`` rewrites ``<source network='default'/>``)
   moves kvm1 to ``nat_net`` in its definition; ``destroy`` + ``start``; it gets a 10.10.10.x
   lease, pings 10.10.10.1 and reaches a TCP server in a "wan" namespace, which sees the host's
   wan address (NAT), never the guest's.

SLOW: four guest boots (three in parallel), about 1-2 minutes under TCG.  Set
``KVMNET_SKIP_GUESTS=1`` to skip.  Timings are printed (``pytest -s``).
"""
from __future__ import annotations

import os
import pty
import re
import select
import shutil
import signal
import subprocess
import termios
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.functional.guest_image import MARKER, GuestImage, requires_guests, tiny_guest
from tests.functional.kvmnet_env import (
    IP,
    KVMNET,
    WAN_HOST_IP,
    WAN_IP,
    WAN_PORT,
    KvEnv,
    describe,
    example,
    kvenv,
    lease_rows,
    requires_kvmnet_root,
)
from tests.functional.netns import NetNS, veth

pytestmark = [
    *requires_kvmnet_root,
    *requires_guests,
]
__all__ = ["kvenv", "tiny_guest"]  # fixtures, imported for pytest

#: A guest boot to its lease takes ~10 s under TCG on an idle machine; a loaded 2-core CI box
#: running three guests at once can be many times slower.
BOOT_TIMEOUT = 240.0
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"

LAN_PREFIX = "192.168.50"
LAN_GATEWAY = f"{LAN_PREFIX}.1"
LAN_NETWORK = """<network>
  <name>lan</name>
  <forward mode='bridge'/>
  <bridge name='br0'/>
</network>
"""
# The LAN's own DHCP server: a plain dnsmasq, nothing of kvmnet's.
LAN_DNSMASQ_CONF = f"""\
port=0
interface=eth0
bind-interfaces
except-interface=lo
no-resolv
no-hosts
dhcp-authoritative
dhcp-range={LAN_PREFIX}.100,{LAN_PREFIX}.149,255.255.255.0,1h
dhcp-option=option:router,{LAN_GATEWAY}
"""
# The scripted $EDITOR of `kvmnet edit kvm1`: exactly the cookbook's one-line change.
EDITOR_SCRIPT = """\
#!/bin/sh
grep -q "<source network='default'/>" "$1" || {
  echo "editor: no <source network='default'/> in $1" >&2; exit 1; }
sed -i "s|<source network='default'/>|<source network='nat_net'/>|" "$1"
"""


def guest_xml(name: str, image: GuestImage, network: str, *tests: str) -> str:
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
    <interface type='network'>
      <source network='{network}'/>
    </interface>
    <serial type='pty'/>
  </devices>
</domain>
"""


class Guest:
    """One guest: its console markers (from the console log), taps and MAC."""

    def __init__(self, env: KvEnv, name: str) -> None:
        self.env = env
        self.name = name
        self.log = env.root / "var" / "log" / "kvmnet" / "guests" / f"{name}.log"
        self.started = 0.0
        self.start_seconds = 0.0

    def start(self) -> None:
        t0 = time.monotonic()
        proc = self.env.ok("start", self.name)
        self.started = time.monotonic()
        self.start_seconds = self.started - t0
        assert proc.stdout == f"Domain '{self.name}' started\n\n", describe(proc)

    def console_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def marker(self, pattern: str) -> re.Match[str] | None:
        return re.search(re.escape(MARKER) + " " + pattern, self.console_text())

    def wait_marker(self, pattern: str, timeout: float = BOOT_TIMEOUT) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            m = self.marker(pattern)
            if m is not None:
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no console marker /{pattern}/ within "
                                     f"{timeout:.0f} s; console log:\n"
                                     f"{self.console_text()[-3000:]}\n{self.env.debug_state()}")
            time.sleep(0.2)

    def wait_lease(self) -> str:
        """The address of the guest's eth0 lease (from its console marker)."""
        m = self.wait_marker(r"lease (\S+) dev eth0 mask (\d+) router (\S+)")
        return m.group(1)

    def iflist(self, *extra: str) -> list[list[str]]:
        """Rows of ``domiflist``: Interface, Type, Source, Model, MAC."""
        out = self.env.ok("domiflist", self.name, *extra).stdout
        lines = out.splitlines()
        assert lines[0].split() == ["Interface", "Type", "Source", "Model", "MAC"], out
        return [ln.split() for ln in lines[2:] if ln.strip()]

    def pid(self) -> int:
        import json

        data = json.loads((self.env.root / "run" / "kvmnet" / "guests" /
                           f"{self.name}.json").read_text())
        pid = data["info"]["pid"]  # the guest's journal: its info is the run record
        assert isinstance(pid, int)
        return pid


def bridge_ports(env: KvEnv, bridge: str) -> set[str]:
    return {link["ifname"] for link in env.host.ip_json("link", "show", "master", bridge) or []}


def domifaddr_rows(env: KvEnv, name: str) -> list[list[str]]:
    out = env.ok("domifaddr", name).stdout
    lines = out.splitlines()
    assert lines[0].split() == ["Name", "MAC", "address", "Protocol", "Address"], out
    assert set(lines[1]) == {"-"}, out
    return [ln.split() for ln in lines[2:] if ln.strip()]


def console_run(env: KvEnv, name: str, command: str, timeout: float = 60.0) -> int:
    """Type ``command`` on the guest's console with ``kvmnet console`` (on a pseudo-terminal,
    as a user would) and return its exit status; ``^]`` leaves the console."""
    token = f"RC{uuid.uuid4().hex[:8]}"
    # The status line is computed in the guest, so the echoed command line cannot match it.
    line = f"{command} >/dev/null 2>&1; echo {token}$((0))=$?\r"
    answer = re.compile(rf"{token}0=(\d+)".encode())
    master, slave = pty.openpty()
    full = dict(os.environ, KVMNET_ROOT=str(env.root))
    p = subprocess.Popen([IP, "netns", "exec", env.host.name, KVMNET, "console", name],
                         stdin=slave, stdout=slave, stderr=slave, env=full)
    os.close(slave)
    seen = b""

    def read_until(rx: re.Pattern[bytes], limit: float) -> re.Match[bytes]:
        nonlocal seen
        deadline = time.monotonic() + limit
        while True:
            m = rx.search(seen)
            if m is not None:
                return m
            left = deadline - time.monotonic()
            assert left > 0, (f"console of {name}: no {rx.pattern!r} within {limit:.0f} s:\n"
                              f"{seen[-2000:].decode(errors='replace')}")
            ready, _, _ = select.select([master], [], [], left)
            if ready:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    seen += b"<console closed>"
                    raise AssertionError(f"console of {name} closed:\n"
                                         f"{seen[-2000:].decode(errors='replace')}") from None
    try:
        read_until(re.compile(re.escape(b"Escape character is ^]")), 30)
        # kvmnet console (like virsh) puts the terminal in raw mode with TCSAFLUSH, which drops
        # whatever was typed before: type only once the terminal is raw.
        deadline = time.monotonic() + 10
        while termios.tcgetattr(master)[3] & termios.ICANON:
            assert time.monotonic() < deadline, "kvmnet console never put the terminal in raw mode"
            time.sleep(0.02)
        os.write(master, b"\r")
        os.write(master, line.encode())
        status = int(read_until(answer, timeout).group(1))
        os.write(master, b"\x1d")
        assert p.wait(timeout=15) == 0, seen[-2000:].decode(errors="replace")
        return status
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)


class Lan:
    """The LAN behind the host's existing bridge ``br0``: a namespace with its own dnsmasq."""

    def __init__(self, env: KvEnv) -> None:
        self.env = env
        self.dir = env.root / "lan"
        self.dir.mkdir()
        self.dir.chmod(0o777)  # dnsmasq drops to 'nobody' and rewrites its lease file here
        self.leasefile = self.dir / "dnsmasq.leases"
        self.pidfile = self.dir / "dnsmasq.pid"
        self.ns: NetNS | None = None
        self.proc: subprocess.Popen[str] | None = None

    def up(self) -> None:
        host = self.env.host
        host.ip("link", "add", "br0", "type", "bridge")
        host.ip("link", "set", "br0", "up")
        self.ns = NetNS("lan")
        self.env.spaces.append(self.ns)  # deleted by the kvenv fixture at the latest
        self.ns.create()
        veth(host, "lanup0", self.ns, "eth0")
        host.ip("link", "set", "lanup0", "master", "br0")
        self.ns.ip("addr", "add", f"{LAN_GATEWAY}/24", "dev", "eth0")
        conf = self.dir / "dnsmasq.conf"
        conf.write_text(LAN_DNSMASQ_CONF + f"dhcp-leasefile={self.leasefile}\n"
                        f"pid-file={self.pidfile}\n")
        self.proc = self.ns.popen([DNSMASQ, "--keep-in-foreground", f"--conf-file={conf}"])
        deadline = time.monotonic() + 10
        while not self.pidfile.exists():
            assert self.proc.poll() is None, f"LAN dnsmasq exited: {self.proc.communicate()}"
            assert time.monotonic() < deadline, "LAN dnsmasq wrote no pid file"
            time.sleep(0.05)

    def leases(self) -> str:
        try:
            return self.leasefile.read_text()
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        """Stop the LAN's dnsmasq by its PID (the one this test started)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def walk(kvenv: KvEnv) -> Iterator[tuple[KvEnv, Lan]]:
    """The kvenv plus the LAN; guests are destroyed before the networks and namespaces go."""
    lan = Lan(kvenv)
    try:
        yield kvenv, lan
    finally:
        out = kvenv.kv("list", "--name")
        for name in out.stdout.split() if out.returncode == 0 else []:
            kvenv.kv("destroy", name, timeout=60)
        lan.stop()


def test_cookbook_walkthrough(walk: tuple[KvEnv, Lan], tiny_guest: GuestImage) -> None:
    """SLOW: the whole chapter, four guest boots (three at once)."""
    env, lan = walk
    t_begin = time.monotonic()

    # -- the networks ------------------------------------------------------------------------
    for net in ("default", "nat_net"):
        env.start(example(net))
    lan.up()
    env.start(LAN_NETWORK)
    out = env.ok("net-list").stdout
    for net in ("default", "lan", "nat_net"):
        assert re.search(rf"^ {net}\s+active\s+no\s+yes$", out, re.MULTILINE), out
    wan = env.wan()
    peers = env.tcp_server(wan)

    # -- three guests at once ----------------------------------------------------------------
    kvm1, kvm2, kvm3 = (Guest(env, n) for n in ("kvm1", "kvm2", "kvm3"))
    env.ok("define", str(env.write_xml("kvm1", guest_xml("kvm1", tiny_guest, "default",
                                                         "ping:192.168.122.1"))))
    env.ok("define", str(env.write_xml("kvm2", guest_xml("kvm2", tiny_guest, "default"))))
    env.ok("define", str(env.write_xml("kvm3", guest_xml("kvm3", tiny_guest, "lan",
                                                         f"ping:{LAN_GATEWAY}"))))
    for g in (kvm1, kvm2, kvm3):
        g.start()
    out = env.ok("list").stdout
    for g in (kvm1, kvm2, kvm3):
        assert re.search(rf"^ \d+\s+{g.name}\s+running$", out, re.MULTILINE), out

    rows = {g.name: g.iflist() for g in (kvm1, kvm2, kvm3)}
    taps, macs = {}, {}
    for g, source, bridge in ((kvm1, "default", "virbr0"), (kvm2, "default", "virbr0"),
                              (kvm3, "lan", "br0")):
        ((tap, itype, src, model, mac),) = rows[g.name]
        assert (itype, src, model) == ("network", source, "virtio"), rows
        assert tap.startswith("vnet") and tap in bridge_ports(env, bridge), \
            f"{g.name}: {tap} is not a port of {bridge}\n{env.debug_state()}"
        taps[g.name], macs[g.name] = tap, mac

    ip1, ip2, ip3 = kvm1.wait_lease(), kvm2.wait_lease(), kvm3.wait_lease()
    boot_s = {g.name: time.monotonic() - g.started for g in (kvm1, kvm2, kvm3)}
    print(f"\nthree parallel boots to lease: {', '.join(f'{n} {s:.1f} s' for n, s in boot_s.items())}"
          f" (kvmnet start: {', '.join(f'{g.start_seconds:.2f} s' for g in (kvm1, kvm2, kvm3))})")
    for ip in (ip1, ip2):
        assert ip.startswith("192.168.122.") and ip != "192.168.122.1", ip
    assert ip1 != ip2
    m = kvm1.wait_marker(r"lease \S+ dev eth0 mask (\d+) router (\S+)")
    assert m.groups() == ("24", "192.168.122.1"), m[0]
    kvm1.wait_marker(r"ping 192\.168\.122\.1 ok", 90)

    # The addresses, as kvmnet reports them (from default's DHCP leases).
    for g, ip in ((kvm1, ip1), (kvm2, ip2)):
        env.wait_lease("default", macs[g.name])
        assert domifaddr_rows(env, g.name) == [[taps[g.name], macs[g.name], "ipv4",
                                                f"{ip}/24"]]
    leases = {row[2]: row[4] for row in lease_rows(env.ok("net-dhcp-leases", "default").stdout)}
    assert leases == {macs["kvm1"]: f"{ip1}/24", macs["kvm2"]: f"{ip2}/24"}, leases

    # Two guests on one network: kvm2 pings kvm1's leased address (typed on its console).
    kvm2.wait_marker("ready", 60)
    assert console_run(env, "kvm2", f"ping -c 3 -w 10 {ip1}") == 0, \
        f"kvm2 could not ping kvm1 at {ip1}\n{kvm2.console_text()[-2000:]}"

    # The bridge-mode guest: its address comes from the LAN's own DHCP server.
    assert ip3.startswith(f"{LAN_PREFIX}.") and ip3 != LAN_GATEWAY, ip3
    m = kvm3.wait_marker(r"lease \S+ dev eth0 mask (\d+) router (\S+)")
    assert m.groups() == ("24", LAN_GATEWAY), m[0]
    kvm3.wait_marker(rf"ping {re.escape(LAN_GATEWAY)} ok", 90)
    assert re.search(rf"^\d+ {macs['kvm3']} {re.escape(ip3)} ", lan.leases(), re.MULTILINE), \
        f"the LAN's dnsmasq does not list kvm3 ({macs['kvm3']} {ip3}):\n{lan.leases()}"
    # kvmnet runs no DHCP server on a bridge-mode network, so its lease source knows nothing
    # of kvm3 (libvirt's 'domifaddr --source lease' says the same); the console showed it.
    assert domifaddr_rows(env, "kvm3") == []
    proc = env.ok("net-dhcp-leases", "lan")
    assert lease_rows(proc.stdout) == [], describe(proc)

    for g in (kvm2, kvm3):
        proc = env.ok("destroy", g.name)
        assert proc.stdout == f"Domain '{g.name}' destroyed\n\n", describe(proc)
        assert not env.link_exists(taps[g.name]), env.debug_state()
    assert env.link_exists("br0") and bridge_ports(env, "br0") == {"lanup0"}

    # -- kvm1 moves to nat_net with `kvmnet edit` ---------------------------------------------
    editor = env.root / "editor.sh"
    editor.write_text(EDITOR_SCRIPT)
    editor.chmod(0o755)
    proc = env.ok("edit", "kvm1", env={"EDITOR": str(editor), "VISUAL": ""})
    assert proc.stdout == "Domain 'kvm1' XML configuration edited.\n\n", describe(proc)
    inactive = env.ok("dumpxml", "kvm1", "--inactive").stdout
    assert "<source network='nat_net'/>" in inactive and "network='default'" not in inactive
    assert f"<mac address='{macs['kvm1']}'/>" in inactive  # the edit keeps the MAC
    # The running guest stays where it is until it restarts (the edit changed the definition).
    assert [r[2] for r in kvm1.iflist()] == ["default"]
    assert [r[2] for r in kvm1.iflist("--inactive")] == ["nat_net"]

    pid1 = kvm1.pid()
    proc = env.ok("destroy", "kvm1")
    assert proc.stdout == "Domain 'kvm1' destroyed\n\n", describe(proc)
    assert not env.link_exists(taps["kvm1"]), env.debug_state()
    out = env.ok("list", "--all").stdout
    assert re.search(r"^ -\s+kvm1\s+shut off$", out, re.MULTILINE), out
    kvm1.start()
    assert kvm1.pid() != pid1
    ((tap, _, src, _, mac),) = kvm1.iflist()
    assert (src, mac) == ("nat_net", macs["kvm1"])
    assert tap in bridge_ports(env, "virbr1") and tap not in bridge_ports(env, "virbr0")

    ip1b = kvm1.wait_lease()
    print(f"kvm1 on nat_net: boot to lease {time.monotonic() - kvm1.started:.1f} s "
          f"(kvmnet start {kvm1.start_seconds:.2f} s)")
    assert ip1b.startswith("10.10.10.") and ip1b != "10.10.10.1", ip1b
    m = kvm1.wait_marker(r"lease \S+ dev eth0 mask (\d+) router (\S+)")
    assert m.groups() == ("24", "10.10.10.1"), m[0]
    env.wait_lease("nat_net", mac)
    assert domifaddr_rows(env, "kvm1") == [[tap, mac, "ipv4", f"{ip1b}/24"]]

    kvm1.wait_marker("ready", 90)
    assert console_run(env, "kvm1", "ping -c 3 -w 10 10.10.10.1") == 0, \
        f"kvm1 could not ping 10.10.10.1\n{kvm1.console_text()[-2000:]}"
    before = peers.read_text().split()
    assert console_run(env, "kvm1", f"nc -w 5 {WAN_IP} {WAN_PORT} </dev/null") == 0, \
        f"kvm1 could not reach {WAN_IP}:{WAN_PORT}\n{kvm1.console_text()[-2000:]}"
    seen = peers.read_text().split()[len(before):]
    # NAT: the outside saw the host's wan address, never the guest's.
    assert seen == [WAN_HOST_IP], seen

    proc = env.ok("destroy", "kvm1")
    assert proc.stdout == "Domain 'kvm1' destroyed\n\n", describe(proc)
    assert not env.link_exists(tap)
    assert env.ok("list", "--name").stdout.strip() == ""
    print(f"cookbook walk: {time.monotonic() - t_begin:.1f} s")
