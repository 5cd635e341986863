"""kvmnet's nftables firewall with real nft and real packets, inside throwaway namespaces.

Topology, all in namespaces made here (names ``kvt-*``), addresses from the
documentation ranges so nothing can leak anywhere real::

    client ns --veth-- [bridge kbrN in host ns] host ns --veth-- wan ns
    192.0.2.10/25        192.0.2.1/25              203.0.113.1/24   203.0.113.2/24

The firewall is applied in the host namespace through
``kvmnet.host.nftables.apply`` (run there by ``NetNS.call``); a small server in
wan replies with the peer address it sees, which proves NAT or routing.
"""
from __future__ import annotations

import logging
import re
import select
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from kvmnet.errors import HostError
from kvmnet.host import nftables as host_nft
from kvmnet.network.firewall.nftables import (
    NetFirewall,
    chain_names,
    render_base,
    render_destroy,
    render_remove_all,
    render_start,
)
from tests.functional.netns import NetNS, have_root

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not have_root(), reason="needs root and iproute2 to create network namespaces"),
]

WAN_HOST, WAN_PEER = "203.0.113.1", "203.0.113.2"
WAN6_HOST, WAN6_PEER = "2001:db8:ffff::1", "2001:db8:ffff::2"
PORT = 8080

SERVER = r"""
import socket, sys, threading
def serve(addr, fam):
    t = socket.socket(fam, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    t.bind((addr, PORT)); t.listen(16)
    u = socket.socket(fam, socket.SOCK_DGRAM)
    if fam == socket.AF_INET6:
        u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    u.bind((addr, PORT))
    def udp():
        while True:
            data, peer = u.recvfrom(100)
            u.sendto(peer[0].encode(), peer)
    def tcp():
        while True:
            c, peer = t.accept()
            c.sendall(peer[0].encode()); c.close()
    threading.Thread(target=udp, daemon=True).start()
    threading.Thread(target=tcp, daemon=True).start()
PORT = int(sys.argv[1])
serve("0.0.0.0", socket.AF_INET)
serve("::", socket.AF_INET6)
print("ready", flush=True)
threading.Event().wait()
"""

PROBE = r"""
import socket, sys
proto, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.settimeout(2)
try:
    if proto == "tcp":
        s.connect((addr, port)); print(s.recv(100).decode())
    else:
        s.sendto(b"hi", (addr, port)); print(s.recvfrom(100)[0].decode())
except OSError as e:
    print("ERR", type(e).__name__)
"""


class KvtNS(NetNS):
    """A NetNS named ``kvt-<tag>-<random>`` (this test module's own prefix)."""

    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        self.name = f"kvt-{tag[:8]}-{uuid.uuid4().hex[:8]}"


@dataclass
class Lab:
    host: NetNS
    wan: NetNS
    made: list[NetNS] = field(default_factory=list)
    _n: int = 0

    def ns(self, tag: str) -> NetNS:
        ns = KvtNS(tag)
        self.made.append(ns)
        return ns.create()

    def bridge(self, name: str, cidr: str, cidr6: str | None = None) -> None:
        self.host.ip("link", "add", name, "type", "bridge")
        self.host.ip("addr", "add", cidr, "dev", name)
        if cidr6:
            self.host.ip("addr", "add", cidr6, "dev", name, "nodad")
        self.host.ip("link", "set", name, "up")

    def client(self, bridge: str, cidr: str, gateway: str,
               cidr6: str | None = None, gateway6: str | None = None) -> NetNS:
        self._n += 1
        cli = self.ns(f"cli{self._n}")
        port = f"p{self._n}-{bridge}"[:15]
        self.host.ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", cli.name)
        self.host.ip("link", "set", port, "master", bridge, "up")
        cli.ip("addr", "add", cidr, "dev", "eth0")
        if cidr6:
            cli.ip("addr", "add", cidr6, "dev", "eth0", "nodad")
        cli.ip("link", "set", "eth0", "up")
        cli.ip("route", "add", "default", "via", gateway)
        if gateway6:
            cli.ip("-6", "route", "add", "default", "via", gateway6)
            # Link-local addresses finish duplicate address detection about a second
            # after link up; until then the first packets can be lost.
            wait_until(lambda: ping(cli, gateway6))
        return cli

    def apply(self, document: str) -> None:
        self.host.call(host_nft.apply, document)

    def table(self) -> str | None:
        return self.host.call(host_nft.list_table)


@pytest.fixture
def lab() -> Iterator[Lab]:
    host = KvtNS("host").create()
    made: list[NetNS] = [host]
    try:
        wan = KvtNS("wan").create()
        made.append(wan)
        lab = Lab(host, wan, made)
        host.ip("link", "add", "wan0", "type", "veth", "peer", "name", "eth0", "netns", wan.name)
        host.ip("addr", "add", f"{WAN_HOST}/24", "dev", "wan0")
        host.ip("addr", "add", f"{WAN6_HOST}/64", "dev", "wan0", "nodad")
        host.ip("link", "set", "wan0", "up")
        wan.ip("addr", "add", f"{WAN_PEER}/24", "dev", "eth0")
        wan.ip("addr", "add", f"{WAN6_PEER}/64", "dev", "eth0", "nodad")
        wan.ip("link", "set", "eth0", "up")
        for key in ("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
                    "net.bridge.bridge-nf-call-iptables=1", "net.bridge.bridge-nf-call-ip6tables=1"):
            host.run(["sysctl", "-q", "-w", key])
        # IPv6 neighbour discovery on the new link works only once its link-local
        # addresses leave "tentative" (about a second); wait so no test loses packets.
        wait_until(lambda: ping(host, WAN6_PEER) and ping(host, WAN_PEER))
        yield lab
    finally:
        for ns in reversed(made):
            ns.delete()


def wait_until(ready: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, "the test network did not come up"
        time.sleep(0.2)


def serve(ns: NetNS) -> None:
    """Start the peer-echo server in ns and wait until it listens."""
    p = ns.popen([sys.executable, "-c", SERVER, str(PORT)])
    assert p.stdout is not None
    ready, _, _ = select.select([p.stdout], [], [], 10)
    assert ready and p.stdout.readline().strip() == "ready", "the test server did not start"


def probe(ns: NetNS, proto: str, addr: str) -> str:
    """What the server at addr saw as our address, or 'ERR <exception>'."""
    return ns.run([sys.executable, "-c", PROBE, proto, addr, str(PORT)], timeout=30).stdout.strip()


def ping(ns: NetNS, addr: str) -> bool:
    return ns.run(["busybox", "ping", "-c", "1", "-W", "2", addr], check=False).returncode == 0


def count_icmp_sources(wan: NetNS, sources: list[str]) -> Callable[[], dict[str, int]]:
    """Count echo requests arriving in wan per source address (a table in wan's own namespace)."""
    rules = "\n".join(f"add rule inet kvtwan in ip saddr {s} icmp type echo-request counter"
                      for s in sources)
    wan.run(["nft", "-f", "-"], input="add table inet kvtwan\n"
            "add chain inet kvtwan in { type filter hook input priority 0; }\n" + rules + "\n")

    def read() -> dict[str, int]:
        text = wan.run(["nft", "list", "chain", "inet", "kvtwan", "in"]).stdout
        return {m.group(1): int(m.group(2))
                for m in re.finditer(r"ip saddr (\S+) .*counter packets (\d+)", text)}
    return read


NAT_A = NetFirewall("natA", "kbr0", "nat", ("192.0.2.0/25",))
NAT_B = NetFirewall("natB", "kbr1", "nat", ("192.0.2.128/25",))


# --------------------------------------------------------------------- nat

def test_nat_masquerades_tcp_udp_icmp(lab: Lab) -> None:
    lab.bridge("kbr0", "192.0.2.1/25")
    cli = lab.client("kbr0", "192.0.2.10/25", "192.0.2.1")
    serve(lab.wan)
    icmp = count_icmp_sources(lab.wan, [WAN_HOST, "192.0.2.10"])
    lab.apply(render_start(NAT_A))
    assert probe(cli, "tcp", WAN_PEER) == WAN_HOST
    assert probe(cli, "udp", WAN_PEER) == WAN_HOST
    assert ping(cli, WAN_PEER)
    seen = icmp()
    assert seen[WAN_HOST] >= 1 and seen["192.0.2.10"] == 0
    # New connections from outside into the NAT network are refused even with a route.
    serve(cli)
    lab.wan.ip("route", "add", "192.0.2.0/25", "via", WAN_HOST)
    assert probe(lab.wan, "tcp", "192.0.2.10").startswith("ERR")


def test_nat_ipv6_when_asked(lab: Lab) -> None:
    lab.bridge("kbr0", "192.0.2.1/25", "2001:db8:1::1/64")
    cli = lab.client("kbr0", "192.0.2.10/25", "192.0.2.1", "2001:db8:1::10/64", "2001:db8:1::1")
    serve(lab.wan)
    fw = NetFirewall("nat6", "kbr0", "nat", ("192.0.2.0/25",), ("2001:db8:1::/64",), nat_ipv6=True)
    lab.apply(render_start(fw))
    assert probe(cli, "tcp", WAN6_PEER) == WAN6_HOST
    assert probe(cli, "udp", WAN6_PEER) == WAN6_HOST
    assert probe(cli, "tcp", WAN_PEER) == WAN_HOST


def test_nat_without_ipv6_nat_routes_ipv6(lab: Lab) -> None:
    lab.bridge("kbr0", "192.0.2.1/25", "2001:db8:1::1/64")
    cli = lab.client("kbr0", "192.0.2.10/25", "192.0.2.1", "2001:db8:1::10/64", "2001:db8:1::1")
    lab.wan.ip("-6", "route", "add", "2001:db8:1::/64", "via", WAN6_HOST)
    serve(lab.wan)
    assert probe(cli, "tcp", WAN6_PEER) == "2001:db8:1::10"  # routed before any firewall
    fw = NetFirewall("nat6r", "kbr0", "nat", ("192.0.2.0/25",), ("2001:db8:1::/64",))
    lab.apply(render_start(fw))
    assert probe(cli, "tcp", WAN6_PEER) == "2001:db8:1::10"
    assert probe(cli, "tcp", WAN_PEER) == WAN_HOST


def test_nat_address_and_port_range(lab: Lab) -> None:
    lab.host.ip("addr", "add", "203.0.113.5/24", "dev", "wan0")
    lab.bridge("kbr0", "192.0.2.1/25")
    cli = lab.client("kbr0", "192.0.2.10/25", "192.0.2.1")
    serve(lab.wan)
    fw = NetFirewall("rng", "kbr0", "nat", ("192.0.2.0/25",), nat_addr_range=("203.0.113.5", "203.0.113.5"),
                     nat_port_range=(2000, 2001))
    lab.apply(render_start(fw))
    assert probe(cli, "tcp", WAN_PEER) == "203.0.113.5"
    assert probe(cli, "udp", WAN_PEER) == "203.0.113.5"


# ------------------------------------------------------------ route / isolated / open

def test_route_keeps_the_client_address(lab: Lab) -> None:
    lab.bridge("kbr0", "192.0.2.1/25")
    cli = lab.client("kbr0", "192.0.2.10/25", "192.0.2.1")
    lab.wan.ip("route", "add", "192.0.2.0/25", "via", WAN_HOST)
    serve(lab.wan)
    serve(cli)
    lab.apply(render_start(NetFirewall("rt", "kbr0", "route", ("192.0.2.0/25",))))
    assert probe(cli, "tcp", WAN_PEER) == "192.0.2.10"
    assert probe(cli, "udp", WAN_PEER) == "192.0.2.10"
    assert ping(cli, WAN_PEER)
    # Routed networks accept new connections from outside.
    assert probe(lab.wan, "tcp", "192.0.2.10") == WAN_PEER


def test_isolated_forwards_nothing_but_same_bridge(lab: Lab) -> None:
    lab.bridge("kbr0", "192.0.2.1/25")
    cli = lab.client("kbr0", "192.0.2.10/25", "192.0.2.1")
    cli2 = lab.client("kbr0", "192.0.2.11/25", "192.0.2.1")
    lab.wan.ip("route", "add", "192.0.2.0/25", "via", WAN_HOST)
    serve(lab.wan)
    serve(cli2)
    icmp = count_icmp_sources(lab.wan, [WAN_HOST, "192.0.2.10"])
    lab.apply(render_start(NetFirewall("iso", "kbr0", "isolated", ("192.0.2.0/25",))))
    assert probe(cli, "tcp", WAN_PEER).startswith("ERR")
    assert probe(cli, "udp", WAN_PEER).startswith("ERR")
    assert not ping(cli, WAN_PEER)
    assert probe(lab.wan, "tcp", "192.0.2.11").startswith("ERR")
    assert icmp() == {WAN_HOST: 0, "192.0.2.10": 0}
    # Bridged traffic between ports of the same bridge still flows (it crosses the forward hook).
    assert probe(cli, "tcp", "192.0.2.11") == "192.0.2.10"
    assert ping(cli, "192.0.2.1")  # the host itself stays reachable


def test_open_adds_no_rules(lab: Lab) -> None:
    lab.bridge("kbr0", "192.0.2.1/25")
    fw = NetFirewall("opn", "kbr0", "open", ("192.0.2.0/25",))
    assert render_start(fw) == "" and render_destroy(fw) == ""
    lab.apply(render_start(fw))
    assert lab.host.run(["nft", "list", "ruleset"]).stdout.strip() == ""
    lab.apply(render_start(NAT_B))  # another network's firewall mentions nothing of it
    ruleset = lab.host.run(["nft", "list", "ruleset"]).stdout
    assert "kbr0" not in ruleset and "opn" not in ruleset


# ------------------------------------------------------------ two networks

def test_two_nat_networks_cannot_open_connections_into_each_other(lab: Lab) -> None:
    lab.bridge("kbr0", "192.0.2.1/25")
    lab.bridge("kbr1", "192.0.2.129/25")
    a = lab.client("kbr0", "192.0.2.10/25", "192.0.2.1")
    b = lab.client("kbr1", "192.0.2.140/25", "192.0.2.129")
    for ns in (a, b, lab.wan):
        serve(ns)
    lab.apply(render_start(NAT_A))
    lab.apply(render_start(NAT_B))
    assert probe(a, "tcp", "192.0.2.140").startswith("ERR")
    assert probe(b, "tcp", "192.0.2.10").startswith("ERR")
    assert probe(a, "udp", "192.0.2.140").startswith("ERR")
    assert not ping(b, "192.0.2.10")
    assert probe(a, "tcp", WAN_PEER) == WAN_HOST
    assert probe(b, "tcp", WAN_PEER) == WAN_HOST


def test_destroy_leaves_no_trace_and_spares_the_rest(lab: Lab) -> None:
    lab.host.run(["nft", "-f", "-"], input="add table inet other\nadd chain inet other keep\n"
                  "add rule inet other keep counter accept\n")
    other_before = lab.host.run(["nft", "list", "table", "inet", "other"]).stdout
    lab.bridge("kbr0", "192.0.2.1/25")
    lab.bridge("kbr1", "192.0.2.129/25")
    b = lab.client("kbr1", "192.0.2.140/25", "192.0.2.129")
    serve(lab.wan)
    lab.apply(render_start(NAT_A))
    lab.apply(render_start(NAT_B))
    empty = lab.table()
    assert empty is not None and "kbr0" in empty
    lab.apply(render_destroy(NAT_A))
    table = lab.table()
    assert table is not None
    for trace in ("kbr0", "natA", *chain_names("natA")):
        assert trace not in table
    assert probe(b, "tcp", WAN_PEER) == WAN_HOST  # the other network still works
    lab.apply(render_destroy(NAT_A))  # already gone: still fine
    lab.apply(render_destroy(NAT_B))
    table = lab.table()
    assert table is not None and "kbr" not in table and "fwd_" not in table and "nat_n" not in table
    assert lab.host.run(["nft", "list", "table", "inet", "other"]).stdout == other_before
    lab.apply(render_remove_all())
    assert lab.table() is None
    assert lab.host.run(["nft", "list", "table", "inet", "other"]).stdout == other_before


def test_start_is_idempotent(lab: Lab) -> None:
    lab.apply(render_start(NAT_A))
    first = lab.table()
    lab.apply(render_start(NAT_A))
    lab.apply(render_base())
    assert lab.table() == first


# ------------------------------------------------------------ errors and logging

def test_bad_document_raises_host_error_with_diagnosis(lab: Lab) -> None:
    lab.apply(render_base())
    with pytest.raises(HostError) as err:
        lab.apply("add element inet kvmnet bridges { \"x\" : jump no_such_chain }\n")
    text = str(err.value)
    assert "nft -f -" in text and "nothing was changed" in text
    assert "no_such_chain" in text  # nft's own message is quoted


def test_clashing_bridge_is_refused_atomically(lab: Lab) -> None:
    lab.apply(render_start(NAT_A))
    before = lab.table()
    clash = NetFirewall("other", "kbr0", "route", ("198.51.100.0/24",))
    with pytest.raises(HostError):
        lab.apply(render_start(clash))
    assert lab.table() == before  # nothing of the failed start remains
    with pytest.raises(HostError):  # and its destroy cannot remove natA's entries
        lab.apply(render_destroy(clash))
    assert lab.table() == before


def test_missing_nft_names_the_fix() -> None:
    with pytest.raises(HostError) as err:
        host_nft.apply("add table inet kvmnet\n", nft="kvt-no-such-nft")
    assert "kvt-no-such-nft not found in PATH" in str(err.value)


def test_empty_document_runs_nothing() -> None:
    host_nft.apply("", nft="kvt-no-such-nft")  # would fail if it ran anything


def test_debug_log_shows_the_shell_form(lab: Lab) -> None:
    doc = render_start(NAT_A)

    def run_logged() -> list[str]:
        records: list[str] = []

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                records.append(record.getMessage())
        logger = logging.getLogger("kvmnet.host")
        logger.setLevel(logging.DEBUG)
        logger.addHandler(Keep())
        host_nft.apply(doc)
        return records

    messages = lab.host.call(run_logged)
    assert f"nft -f - <<'EOF'\n{doc}EOF" in messages


# ------------------------------------------------------------ cost

def _timed(ns: NetNS, doc: str) -> float:
    start = time.perf_counter()
    subprocess.run(["ip", "netns", "exec", ns.name, "nft", "-f", "-"], input=doc, text=True,
                   check=True, capture_output=True)
    return time.perf_counter() - start


def test_start_and_destroy_cost_stays_low_with_1000_networks(lab: Lab) -> None:
    def fw(i: int) -> NetFirewall:
        return NetFirewall(f"net{i}", f"kb{i}", "nat", (f"10.{i // 256}.{i % 256}.0/24",),
                           (f"fd00:{i:x}::/64",), nat_ipv6=True)

    def cost() -> tuple[float, float]:
        starts, stops = [], []
        for k in range(5):
            probe_fw = fw(9000 + k)
            starts.append(_timed(lab.host, render_start(probe_fw)))
            stops.append(_timed(lab.host, render_destroy(probe_fw)))
        return statistics.median(starts), statistics.median(stops)

    lab.apply(render_start(fw(0)))
    one = cost()
    base = set(render_base().splitlines())
    bulk = "".join(line + "\n" for i in range(1, 1000)
                   for line in render_start(fw(i)).splitlines()[1:] if line not in base)
    _timed(lab.host, bulk)  # 999 more networks in one transaction
    thousand = cost()
    print(f"\nnft -f with 1 network present: start {one[0] * 1000:.1f} ms, destroy {one[1] * 1000:.1f} ms;"
          f" with 1000: start {thousand[0] * 1000:.1f} ms, destroy {thousand[1] * 1000:.1f} ms")
    assert thousand[0] < 1.0 and thousand[1] < 1.0


def test_the_kept_libnftables_context_follows_the_namespace_and_reports_each_error_once() -> None:
    # kvmnet keeps one libnftables context per process and network namespace (closing one
    # right after a removal waits for an RCU grace period): each transaction must still see
    # only its own errors, a dry run must change nothing, and a process that moves to another
    # namespace -- or a child forked from one that used the library -- must not reach back
    # into the old one.
    with NetNS("nfa") as a, NetNS("nfb") as b:
        b_path = f"/run/netns/{b.name}"

        def work() -> list[object]:
            import ctypes
            import os

            out: list[object] = []
            try:
                host_nft.apply("add rule inet nosuchtable nosuchchain counter\n")
            except HostError as exc:
                out.append("nosuchtable" in str(exc))
            host_nft.check("add table inet kvdry\n")
            host_nft.apply("add table inet kva\n")
            try:
                host_nft.apply("add rule inet kva nochain counter\n")
            except HostError as exc:
                out.append(("nosuchtable" not in str(exc), "nochain" in str(exc)))
            fd = os.open(b_path, os.O_RDONLY)
            assert ctypes.CDLL(None, use_errno=True).setns(fd, 0) == 0
            host_nft.apply("add table inet kvb\n")
            return out

        assert a.call(work) == [True, (True, True)]
        tables_a = a.run(["nft", "list", "tables"]).stdout
        tables_b = b.run(["nft", "list", "tables"]).stdout
        assert "kva" in tables_a and "kvb" not in tables_a and "kvdry" not in tables_a
        assert "kvb" in tables_b and "kva" not in tables_b
