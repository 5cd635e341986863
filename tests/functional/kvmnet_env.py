"""Shared set-up for functional tests that run the real ``kvmnet`` CLI as root.

Everything happens inside namespaces made here (see :mod:`tests.functional.netns`)::

    cli*: eth0 ==veth== vcN (port of the network's bridge) :host: vwan 203.0.113.1/24 ==veth== eth0 :wan
                                                             (kvmnet, dnsmasq, nft)          203.0.113.2/24

* ``host`` plays the KVM host: kvmnet runs there (``ip netns exec HOST kvmnet ...``) with a
  temporary ``KVMNET_ROOT``; its bridges, dnsmasq and nft table live only there.
* a ``client`` is a guest stand-in: a namespace whose ``eth0`` is a veth whose other end is
  enslaved to the network's bridge; it gets its address from the network's dnsmasq with busybox
  ``udhcpc``.
* ``wan`` is "the outside": a namespace joined to ``host`` by a veth, with a tiny TCP server that
  records the source address of every connection.

The host namespace has no default route, so nothing that kvmnet's dnsmasq forwards upstream can
leave it.  Teardown runs ``kvmnet net-destroy`` for every network that may have left something,
then deletes the namespaces (which stops every process inside them by PID) and the state root.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.functional.netns import NetNS, have_root, veth

REPO = Path(__file__).resolve().parents[2]
KVMNET = str(REPO / ".venv" / "bin" / "kvmnet")
EXAMPLES = REPO / "examples" / "networks"
IP = shutil.which("ip") or "/usr/sbin/ip"
BUSYBOX = shutil.which("busybox") or "busybox"
PYTHON = sys.executable

WAN_HOST_IP = "203.0.113.1"
WAN_IP = "203.0.113.2"
WAN_PORT = 8080

# PATH without /usr/sbin and /sbin: dnsmasq and nft are not found there (usr-merged Debian).
PATH_WITHOUT_SBIN = f"{REPO / '.venv' / 'bin'}:/usr/bin:/bin"


def _missing_tools() -> list[str]:
    missing = [t for t in ("dnsmasq", "nft", "busybox") if shutil.which(t) is None]
    if not os.access(KVMNET, os.X_OK):
        missing.append(KVMNET)
    return missing


requires_kvmnet_root = [
    pytest.mark.root,
    pytest.mark.skipif(not have_root(), reason="needs root and iproute2 to create network "
                                               "namespaces (kvmnet runs for real inside them)"),
    pytest.mark.skipif(bool(_missing_tools()),
                       reason=f"needs {', '.join(_missing_tools())} for real networks"),
]

# A busybox udhcpc event script: applies the lease with `ip` and reports it on stdout.
UDHCPC_SCRIPT = """\
#!/bin/sh
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    if [ -n "$router" ]; then
      set -- $router
      ip route replace default via "$1" dev "$interface"
    fi
    echo "LEASE ip=$ip mask=$mask subnet=$subnet router=$router dns=$dns hostname=$hostname" \
      "siaddr=$siaddr boot_file=$boot_file ntpsrv=$ntpsrv"
    ;;
esac
exit 0
"""

# The "outside" server: records every peer's address (one line each) and says hello.
TCP_SERVER = """\
import socket, sys
addr, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.listen(16)
print("ready", flush=True)
while True:
    c, peer = s.accept()
    with open(log, "a") as f:
        f.write(peer[0] + "\\n")
    try:
        c.sendall(b"hello\\n")
    except OSError:
        pass
    c.close()
"""

# Client side: open a connection; prints "ok LOCALADDR" or "fail ERRNAME".  Reads nothing: a
# DNS server, for one, says nothing before it gets a query.
TCP_CLIENT = """\
import errno, socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    print("ok", s.getsockname()[0])
    s.close()
except socket.timeout:
    print("fail timeout"); sys.exit(1)
except OSError as e:
    print("fail", errno.errorcode.get(e.errno, str(e.errno))); sys.exit(1)
"""

# Holds a port as an unrelated program would (no SO_REUSEADDR); IP_FREEBIND lets it bind an
# address the namespace does not have yet (the bridge's, before kvmnet creates it).
PORT_HOLDER = """\
import socket, sys
addr, port, proto = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
s.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND
s.bind((addr, port))
if proto == "tcp":
    s.listen(1)
print("ready", flush=True)
sys.stdin.read()
"""


@dataclass
class Lease:
    ip: str
    prefixlen: int
    router: str
    dns: str
    raw: str


@dataclass
class Client:
    ns: NetNS
    port: str  # the host end of the veth, a port of the bridge
    mac: str
    ifname: str = "eth0"


class KvEnv:
    """One host namespace with its own KVMNET_ROOT, plus client and wan namespaces."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.spaces: list[NetNS] = []
        self.host = self._ns("host")
        self._nports = 0
        self.script = root / "udhcpc.sh"
        self.script.write_text(UDHCPC_SCRIPT)
        self.script.chmod(0o755)
        self.xml_dir = root / "xml"
        self.xml_dir.mkdir()

    def _ns(self, tag: str) -> NetNS:
        ns = NetNS(tag)
        self.spaces.append(ns)
        return ns.create()

    # -- kvmnet ----------------------------------------------------------------------------
    def kv(self, *args: str, env: Mapping[str, str] | None = None, path: str | None = None,
           timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """``ip netns exec HOST kvmnet ARGS`` with ``KVMNET_ROOT`` set (never raises on rc)."""
        full = dict(os.environ)
        full["KVMNET_ROOT"] = str(self.root)
        full.pop("KVMNET_FAULT_KILL_AFTER", None)
        if env:
            full.update(env)
        if path is not None:
            full["PATH"] = path
        return subprocess.run([IP, "netns", "exec", self.host.name, KVMNET, *args],
                              capture_output=True, text=True, env=full, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)

    def ok(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run kvmnet and insist on exit status 0."""
        proc = self.kv(*args, **kwargs)
        assert proc.returncode == 0, describe(proc)
        return proc

    def write_xml(self, name: str, text: str) -> Path:
        path = self.xml_dir / f"{name}.xml"
        path.write_text(text)
        return path

    def define(self, text: str) -> str:
        """net-define a definition given as XML text; returns the network's name."""
        name = network_name(text)
        self.ok("net-define", str(self.write_xml(name, text)))
        return name

    def start(self, text: str) -> str:
        """Define and start; returns the network's name."""
        name = self.define(text)
        proc = self.ok("net-start", name)
        assert f"Network {name} started" in proc.stdout, describe(proc)
        return name

    def info(self, name: str) -> dict[str, str]:
        out = self.ok("net-info", name).stdout
        fields = {}
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if value:
                fields[key.strip()] = value.strip()
        return fields

    # -- state on the host -------------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        return self.root / "run" / "kvmnet" / "networks"

    @property
    def dnsmasq_dir(self) -> Path:
        return self.root / "var" / "lib" / "kvmnet" / "dnsmasq"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def dnsmasq_pid(self, name: str) -> int | None:
        try:
            text = self.pid_file(name).read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text.isdigit() else None

    def dnsmasq_processes(self) -> dict[int, str]:
        """Every dnsmasq inside the host namespace: PID -> command line."""
        found = {}
        for pid in self.host.pids():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv and os.path.basename(argv[0].decode(errors="replace")) == "dnsmasq":
                found[pid] = " ".join(a.decode(errors="replace") for a in argv if a)
        return found

    def dnsmasq_of(self, name: str, main_only: bool = True) -> list[int]:
        """dnsmasq daemons serving network ``name`` (their command line names its conf).

        A dnsmasq with a ``dhcp-script`` forks a helper child with the same command line; with
        ``main_only`` such children (whose parent is one of them) are left out.
        """
        conf = str(self.dnsmasq_dir / f"{name}.conf")
        pids = [pid for pid, cmd in self.dnsmasq_processes().items() if conf in cmd]
        if main_only:
            pids = [pid for pid in pids if _ppid(pid) not in pids]
        return sorted(pids)

    def link_exists(self, ifname: str) -> bool:
        return self.host.run([IP, "link", "show", "dev", ifname], check=False).returncode == 0

    def nft_table(self) -> str | None:
        """``nft list table inet kvmnet`` in the host namespace, None when there is none."""
        proc = self.host.run(["nft", "list", "table", "inet", "kvmnet"], check=False)
        return proc.stdout if proc.returncode == 0 else None

    def leftovers(self, name: str) -> list[str]:
        files = sorted(str(p.relative_to(self.root)) for d in (self.run_dir, self.dnsmasq_dir)
                       if d.is_dir() for p in d.glob(f"{name}.*"))
        return files

    def assert_clean(self, name: str, bridge: str, dnsmasq_pid: int | None = None) -> None:
        """Nothing of network ``name`` is left: link, nft elements, dnsmasq, run-time files."""
        problems = []
        if self.link_exists(bridge):
            problems.append(f"link {bridge} still exists: "
                            + self.host.run([IP, "-d", "link", "show", bridge]).stdout)
        table = self.nft_table()
        if table is not None and (f'"{bridge}"' in table or f"kvmnet network {name}\"" in table):
            problems.append(f"nft table inet kvmnet still mentions {bridge}/{name}:\n{table}")
        if dnsmasq_pid is not None and _alive(dnsmasq_pid):
            problems.append(f"dnsmasq PID {dnsmasq_pid} is still running")
        if self.dnsmasq_of(name, main_only=False):
            problems.append(f"dnsmasq for {name} still running: {self.dnsmasq_processes()}")
        files = self.leftovers(name)
        if files:
            problems.append(f"run-time files left: {files}")
        assert not problems, "\n".join(problems)

    # -- clients, wan, DHCP ------------------------------------------------------------------
    def client(self, bridge: str, mac: str | None = None, tag: str = "cli") -> Client:
        """A namespace whose eth0 is plugged into ``bridge`` (in the host namespace)."""
        ns = self._ns(tag)
        self._nports += 1
        port = f"vc{self._nports}"
        veth(self.host, port, ns, "eth0", up=False)
        if mac:
            ns.ip("link", "set", "eth0", "address", mac)
        ns.ip("link", "set", "eth0", "up")
        self.host.ip("link", "set", port, "master", bridge, "up")
        real_mac = ns.ip_json("link", "show", "eth0")[0]["address"]
        return Client(ns, port, real_mac)

    def dhcp(self, client: Client, hostname: str | None = None, tries: int = 10) -> Lease:
        """Get a lease with busybox udhcpc (applied to the client's eth0); fails the test if none."""
        return self.dhcp_all([(client, hostname)], tries)[0]

    def dhcp_all(self, clients: Sequence[tuple[Client, str | None]], tries: int = 10) -> list[Lease]:
        """Leases for several clients, one after the other.

        Not at once: before offering an address dnsmasq pings it and waits up to 3 s without
        serving other DHCP requests, so concurrent clients retrying every second pile up
        requests and time out.  Plug all clients in first (``client``) so that the bridge's STP
        listening/learning delay (2 s + 2 s) runs for all of them at the same time.
        """
        leases = []
        for client, hostname in clients:
            argv = [BUSYBOX, "udhcpc", "-i", client.ifname, "-n", "-q", "-f", "-t", str(tries),
                    "-T", "1", "-A", "1", "-s", str(self.script)]
            if hostname:
                argv += ["-x", f"hostname:{hostname}"]
            p = client.ns.popen(argv)
            try:
                out, err = p.communicate(timeout=tries * 2 + 10)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
            line = next((ln for ln in out.splitlines() if ln.startswith("LEASE ")), None)
            assert p.returncode == 0 and line is not None, (
                f"udhcpc got no lease on {client.ns.name}:\n{out}{err}\n{self.debug_state()}")
            fields = dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)
            if fields.get("mask", "").isdigit():
                prefix = int(fields["mask"])
            else:
                subnet = fields.get("subnet") or "255.255.255.0"
                prefix = ipaddress.IPv4Network(f"0.0.0.0/{subnet}").prefixlen
            leases.append(Lease(fields["ip"], prefix, fields.get("router", ""),
                                fields.get("dns", ""), line))
        return leases

    def wan(self) -> NetNS:
        """The outside world: 203.0.113.2/24, one veth away from the host (203.0.113.1/24)."""
        ns = self._ns("wan")
        veth(self.host, "vwan", ns, "eth0")
        self.host.ip("addr", "add", f"{WAN_HOST_IP}/24", "dev", "vwan")
        ns.ip("addr", "add", f"{WAN_IP}/24", "dev", "eth0")
        return ns

    def tcp_server(self, ns: NetNS, addr: str = "0.0.0.0", port: int = WAN_PORT) -> Path:
        """Start the recording TCP server in ``ns``; returns the file listing peer addresses."""
        log = Path(tempfile.mkstemp(prefix="peers-", dir=self.root)[1])
        p = ns.popen([PYTHON, "-u", "-c", TCP_SERVER, addr, str(port), str(log)])
        assert p.stdout is not None
        line = p.stdout.readline()
        assert line.strip() == "ready", f"TCP server did not start in {ns.name}: {line}" + (
            p.stderr.read() if p.stderr and p.poll() is not None else "")
        return log

    def hold_port(self, addr: str, port: int, proto: str) -> subprocess.Popen[str]:
        """A foreign program holding addr:port in the host namespace (stop it by PID)."""
        p = self.host.popen([PYTHON, "-u", "-c", PORT_HOLDER, addr, str(port), proto],
                            stdin=subprocess.PIPE)
        assert p.stdout is not None
        line = p.stdout.readline()
        assert line.strip() == "ready", f"cannot hold {proto} {addr}:{port}: {line}" + (
            p.stderr.read() if p.stderr and p.poll() is not None else "")
        return p

    @staticmethod
    def connect(ns: NetNS, addr: str, port: int = WAN_PORT, timeout: float = 2.0) -> str:
        """Open a TCP connection from ``ns``: "ok LOCALADDR" or "fail REASON"."""
        proc = ns.run([PYTHON, "-c", TCP_CLIENT, addr, str(port), str(timeout)], check=False,
                      timeout=timeout + 10)
        return (proc.stdout.strip() or proc.stderr.strip() or "fail ?").splitlines()[-1]

    def leases(self, name: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.kv("net-dhcp-leases", name, *extra)

    def wait_lease(self, name: str, mac: str, timeout: float = 5.0) -> str:
        """net-dhcp-leases output once it lists ``mac`` (dnsmasq reports leases asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            proc = self.leases(name)
            if proc.returncode == 0 and mac in proc.stdout.lower():
                return proc.stdout
            if time.monotonic() > deadline:
                raise AssertionError(f"net-dhcp-leases {name} never listed {mac}:\n"
                                     + describe(proc))
            time.sleep(0.1)

    def debug_state(self) -> str:
        """What the host looks like: for assertion messages."""
        parts = [self.host.run([IP, "-br", "addr"], check=False).stdout,
                 self.host.run([IP, "-br", "link"], check=False).stdout,
                 f"dnsmasq: {self.dnsmasq_processes()}"]
        return "\n".join(parts)

    # -- teardown ----------------------------------------------------------------------------
    def cleanup(self) -> None:
        names: set[str] = set()
        if self.run_dir.is_dir():
            names |= {p.name.split(".", 1)[0] for p in self.run_dir.iterdir()
                      if p.suffix in (".json", ".xml", ".pid")}
        proc = self.kv("net-list", "--all", "--name")
        if proc.returncode == 0:
            names |= {n.strip() for n in proc.stdout.splitlines() if n.strip()}
        for name in sorted(names):
            self.kv("net-destroy", name, timeout=30)
        for ns in reversed(self.spaces):
            ns.delete()


@pytest.fixture
def kvenv() -> Iterator[KvEnv]:
    if not have_root():
        pytest.skip("needs root and iproute2 to create network namespaces")
    root = Path(tempfile.mkdtemp(prefix="kvmnet-ft-"))
    # dnsmasq drops to 'nobody' after start-up and must still read its hosts files, as it can
    # under a real / (0755); mkdtemp makes 0700.
    root.chmod(0o755)
    env = None
    try:
        env = KvEnv(root)
        yield env
    finally:
        if env is not None:
            env.cleanup()
        shutil.rmtree(root, ignore_errors=True)


# -- helpers -------------------------------------------------------------------------------------
def describe(proc: subprocess.CompletedProcess[str]) -> str:
    argv = proc.args[5:] if isinstance(proc.args, list) else proc.args
    return (f"kvmnet {' '.join(map(str, argv))} -> exit {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout}--- stderr ---\n{proc.stderr}")


def network_name(xml: str) -> str:
    m = re.search(r"<name>\s*([^<\s]+)\s*</name>", xml)
    assert m, xml
    return m.group(1)


def example(name: str) -> str:
    """The text of a cookbook network (examples/networks/NAME.xml)."""
    return (EXAMPLES / f"{name}.xml").read_text()


def with_dhcp_extra(xml: str, inner: str) -> str:
    """Insert elements (e.g. ``<host .../>``) into the first ``<dhcp>``."""
    assert "</dhcp>" in xml
    return xml.replace("</dhcp>", f"  {inner}\n    </dhcp>", 1)


def with_element(xml: str, element: str) -> str:
    """Insert a top-level element before ``</network>``."""
    return xml.replace("</network>", f"  {element}\n</network>", 1)


def simple_network(name: str, bridge: str, subnet: str, forward: str | None,
                   dhcp: bool = True, extra: str = "") -> str:
    """A bridge network on ``subnet`` (e.g. "192.168.100"): host .1/24, DHCP .10-.99."""
    fwd = f"<forward mode='{forward}'/>" if forward else ""
    dhcp_xml = (f"<dhcp><range start='{subnet}.10' end='{subnet}.99'/></dhcp>" if dhcp else "")
    return (f"<network>\n  <name>{name}</name>\n  {fwd}\n"
            f"  <bridge name='{bridge}' stp='on' delay='0'/>\n{extra}"
            f"  <ip address='{subnet}.1' netmask='255.255.255.0'>{dhcp_xml}</ip>\n</network>\n")


def error_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]


def assert_one_error(proc: subprocess.CompletedProcess[str]) -> str:
    """Exit status 1 and exactly one ``error:`` line (no traceback); returns the whole stderr."""
    assert proc.returncode == 1, describe(proc)
    assert len(error_lines(proc)) == 1, describe(proc)
    assert "Traceback" not in proc.stderr, describe(proc)
    return proc.stderr


def lease_rows(text: str) -> list[list[str]]:
    """Data rows of virsh-style ``net-dhcp-leases`` output (after the dashes line)."""
    lines = text.splitlines()
    try:
        start = next(i for i, ln in enumerate(lines) if set(ln.strip()) == {"-"}) + 1
    except StopIteration:
        return []
    return [ln.split() for ln in lines[start:] if ln.strip()]


def json_mentions(data: Any, *needles: str) -> bool:
    text = json.dumps(data).lower()
    return all(n.lower() in text for n in needles)


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
