"""IPv6 port forwards, proven with real connections between namespaces made here.

The layout of tests/functional/test_forward_netns.py (its ``Site``), with IPv6 beside IPv4::

    wan 2001:db8:ff::2 --route 2001:db8:5::7 via--> host (kvmnet; 2001:db8:5::7/128 on lo)
                                                      |  bridge virbr-f fd00:150::1/64
                                      guest "target" fd00:150::10 (echo servers: tcp 9090,
                                                                   udp 5354)
                                      guest "other"  fd00:150::11

The network is a NAT network whose IPv6 subnet is routed (libvirt's default, no
``<nat ipv6='yes'>``); the forward is a DNAT in the ip6 family of kvmnet's forwards table.
Every connection sends bytes and checks the echo byte for byte, and the server reports the
source address it saw: the real client from outside, the bridge's address when the forward
hairpins back onto the bridge (another guest, the target itself).
"""
from __future__ import annotations

import json

import pytest

from tests.functional.kvmnet_env import PYTHON, KvEnv, assert_one_error, kvenv, requires_kvmnet_root
from tests.functional.netns import NetNS
from tests.functional.test_forward_netns import LISTEN, TARGET, WAN_IP, Site, bridge_nf, nat

pytestmark = requires_kvmnet_root
__all__ = ["kvenv"]

LISTEN6 = "2001:db8:5::7"
SUBNET6 = "fd00:150:"
GATEWAY6 = f"{SUBNET6}:1"
TARGET6 = f"{SUBNET6}:10"
OTHER6 = f"{SUBNET6}:11"
WAN_HOST6 = "2001:db8:ff::1"
WAN6 = "2001:db8:ff::2"
PORT = 9090  # the IPv4 Site already has its recording server on 8080

# Echo server (IPv6 socket, so it takes IPv4 too): reads a connection to its end, then
# answers "PEER\n" and the bytes it read; one connection after the other.
ECHO = """\
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
s.listen(16)
print("ready", flush=True)
while True:
    c, peer = s.accept()
    c.settimeout(10)
    data = b""
    try:
        while chunk := c.recv(65536):
            data += chunk
        peer_text = peer[0].removeprefix("::ffff:")
        c.sendall(peer_text.encode() + b"\\n" + data)
    except OSError:
        pass
    c.close()
"""

# Client: sends 200 KiB of random bytes, reads the answer; prints "ok PEER-SEEN" when the
# echo is exactly the bytes sent, else "fail WHY".
ASK = """\
import errno, os, socket, sys
payload = os.urandom(200 * 1024)
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while chunk := s.recv(65536):
        got += chunk
except socket.timeout:
    print("fail timeout"); sys.exit(1)
except OSError as e:
    print("fail", errno.errorcode.get(e.errno, str(e.errno))); sys.exit(1)
peer, _, echo = got.partition(b"\\n")
if echo != payload:
    print("fail echo of", len(echo), "bytes differs from the", len(payload), "sent"); sys.exit(1)
print("ok", peer.decode())
"""

# UDP over IPv6: the server answers each datagram with it and the peer's address; the client
# prints the answer's tail ("from PEER") when the echoed bytes are the ones it sent.
UDP6_ECHO = """\
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", int(sys.argv[1])))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(4096)
    s.sendto(data + b" from " + peer[0].encode(), peer)
"""
UDP6_ASK = """\
import os, socket, sys
payload = os.urandom(1024)
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(payload, (sys.argv[1], int(sys.argv[2])))
try:
    got = s.recv(4096)
except OSError as e:
    print("fail", e); sys.exit(1)
print(got[len(payload):].decode().strip() if got.startswith(payload) else "fail bytes differ")
"""
UDP_PORT = 5354


class Site6(Site):
    """``Site`` (the network started, IPv4 guests, wan) plus IPv6 everywhere."""

    def __init__(self, kvenv: KvEnv, nat_ipv6: bool = False) -> None:
        six = f"  <ip family='ipv6' address='{GATEWAY6}' prefix='64'/>\n"
        xml = nat(extra=six)
        if nat_ipv6:
            xml = xml.replace("<forward mode='nat'/>",
                              "<forward mode='nat'><nat ipv6='yes'/></forward>")
        super().__init__(kvenv, xml)
        host = kvenv.host
        host.ip("-6", "addr", "add", f"{LISTEN6}/128", "dev", "lo", "nodad")
        host.ip("-6", "addr", "add", f"{WAN_HOST6}/64", "dev", "vwan", "nodad")
        self.wan.ip("-6", "addr", "add", f"{WAN6}/64", "dev", "eth0", "nodad")
        self.wan.ip("-6", "route", "add", f"{LISTEN6}/128", "via", WAN_HOST6)
        for ns, address in ((self.target, TARGET6), (self.other, OTHER6)):
            ns.ip("-6", "addr", "add", f"{address}/64", "dev", "eth0", "nodad")
            ns.ip("-6", "route", "add", "default", "via", GATEWAY6)
        for script, port in ((ECHO, PORT), (UDP6_ECHO, UDP_PORT)):
            p = self.target.popen([PYTHON, "-u", "-c", script, str(port)])
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"

    @staticmethod
    def ask(ns: NetNS, address: str = LISTEN6, port: int = 80) -> str:
        proc = ns.run([PYTHON, "-c", ASK, address, str(port)], check=False, timeout=20)
        return (proc.stdout.strip() or proc.stderr.strip() or "fail ?").splitlines()[-1]

    @staticmethod
    def ask_udp(ns: NetNS, port: int = 53) -> str:
        proc = ns.run([PYTHON, "-c", UDP6_ASK, LISTEN6, str(port)], check=False, timeout=15)
        return (proc.stdout.strip() or proc.stderr.strip() or "fail ?").splitlines()[-1]


@pytest.mark.parametrize("br_nf", [True, False], ids=["bridge-nf", "no-bridge-nf"])
def test_ipv6_forward_from_four_vantage_points_then_removed(kvenv: KvEnv, br_nf: bool) -> None:
    bridge_nf(kvenv, br_nf, ("iptables", "ip6tables"))
    site = Site6(kvenv)
    assert site.ask(site.wan).startswith("fail"), "nothing listens before the forward"
    assert site.ask(kvenv.host, TARGET6, PORT) == f"ok {GATEWAY6}", "the server is up"

    kvenv.ok("net-forward-add", site.name, LISTEN6, "tcp", "80", TARGET6, str(PORT))
    kvenv.ok("net-forward-add", site.name, LISTEN6, "udp", "53", TARGET6, str(UDP_PORT))
    # from outside: the target sees the real client
    assert site.ask(site.wan) == f"ok {WAN6}"
    assert site.ask_udp(site.wan) == f"from {WAN6}"
    # from the host itself (output DNAT)
    assert site.ask(kvenv.host).startswith("ok ")
    assert site.ask_udp(kvenv.host).startswith("from ")
    # from another guest on the network: hairpin, answered through the host
    assert site.ask(site.other) == f"ok {GATEWAY6}"
    assert site.ask_udp(site.other) == f"from {GATEWAY6}"
    # from the target itself (its port's hairpin mode, under bridge netfilter)
    assert site.ask(site.target) == f"ok {GATEWAY6}"
    assert site.ask_udp(site.target) == f"from {GATEWAY6}"
    shown = json.loads(kvenv.ok("net-forward-list", site.name, "--json").stdout)
    assert shown == [{"listen_address": LISTEN6, "protocol": "tcp", "ports": "80",
                      "target_address": TARGET6, "target_ports": str(PORT)},
                     {"listen_address": LISTEN6, "protocol": "udp", "ports": "53",
                      "target_address": TARGET6, "target_ports": str(UDP_PORT)}]

    kvenv.ok("net-forward-remove", site.name, LISTEN6, "tcp", "80")
    kvenv.ok("net-forward-remove", site.name, LISTEN6, "udp", "53")
    assert site.map_elements("dnat6") == []
    assert site.ask(site.wan).startswith("fail"), "the forward is gone"
    assert site.ask(site.other).startswith("fail")
    assert site.ask_udp(site.wan).startswith("fail")


def test_ipv4_and_ipv6_forwards_side_by_side_and_gone_with_the_network(kvenv: KvEnv) -> None:
    site = Site6(kvenv)
    kvenv.ok("net-forward-add", site.name, LISTEN6, "tcp", "80-81", TARGET6, str(PORT),
             "--live", "--config")
    kvenv.ok("net-forward-add", site.name, LISTEN, "tcp", "80", TARGET, str(PORT))
    assert site.ask(site.wan, LISTEN6, 81) == f"ok {WAN6}"
    assert site.ask(site.wan, LISTEN, 80) == f"ok {WAN_IP}"
    assert len(site.map_elements("dnat6")) == 2 and len(site.map_elements()) == 1

    kvenv.ok("net-destroy", site.name)
    assert site.map_elements("dnat6") == [] and site.map_elements() == []
    hairpins = kvenv.host.run(["nft", "list", "set", "inet", "kvmnet_forwards",
                               "hairpin6"]).stdout
    assert "virbr-f" not in hairpins
    # the stored IPv6 forward comes back with the network (the live-only IPv4 one does not)
    kvenv.ok("net-start", site.name)
    assert len(site.map_elements("dnat6")) == 2 and site.map_elements() == []
    assert site.ask(site.wan, LISTEN6, 80) == f"ok {WAN6}"


def test_ipv6_refusals_change_nothing(kvenv: KvEnv) -> None:
    site = Site6(kvenv)
    kvenv.ok("net-forward-add", site.name, LISTEN6, "tcp", "80", TARGET6, str(PORT))
    before = (kvenv.ok("net-dumpxml", site.name).stdout, site.map_elements("dnat6"))
    cases = [
        ((f"{SUBNET6}:99", "tcp", "80", TARGET6), "is inside subnet fd00:150::/64 of network"),
        (("fe80::1", "tcp", "80", TARGET6), "is link-local"),
        ((LISTEN6, "tcp", "82", "fd00:151::10"), "outside the network's IPv6 subnets"),
        ((LISTEN6, "tcp", "82", TARGET), f"is IPv6 but target {TARGET} is IPv4"),
        ((LISTEN, "tcp", "82", OTHER6), f"is IPv4 but target {OTHER6} is IPv6"),
        ((LISTEN6, "tcp", "80", OTHER6), f"overlaps its forward tcp [{LISTEN6}]:80"),
    ]
    for args, says in cases:
        message = assert_one_error(kvenv.kv("net-forward-add", site.name, *args))
        assert says in message, (args, message)
    assert (kvenv.ok("net-dumpxml", site.name).stdout, site.map_elements("dnat6")) == before
    assert site.ask(site.wan) == f"ok {WAN6}", "the forward there still works"



def test_with_nat_ipv6_a_forwarded_connection_is_let_in(kvenv: KvEnv) -> None:
    """With <nat ipv6='yes'> the network lets in only replies to its IPv6 subnet, as for
    IPv4; a forwarded connection is new, and is let in because a DNAT made it."""
    site = Site6(kvenv, nat_ipv6=True)
    kvenv.ok("net-forward-add", site.name, LISTEN6, "tcp", "80", TARGET6, str(PORT))
    assert site.ask(site.wan) == f"ok {WAN6}"
    # the guest itself is not open to the outside: only the forwarded port is
    site.wan.ip("-6", "route", "add", f"{SUBNET6}:/64", "via", WAN_HOST6)
    assert site.ask(site.wan, TARGET6, PORT).startswith("fail")


IP6_EDGE = ("table ip6 edge { chain edge_forward { type filter hook forward priority filter; "
            "policy drop; }; }")


def test_doctor_finds_and_fixes_an_ip6_drop_policy(kvenv: KvEnv) -> None:
    """A firewall that drops forwarded IPv6 only: IPv4 forwards work, IPv6 ones do not;
    doctor names the chain (its traced probe is IPv4) and its fix opens the forward."""
    site = Site6(kvenv)
    # an uplink for doctor's IPv4 probe to leave by (to wan, a namespace of this test)
    kvenv.host.ip("route", "add", "default", "via", WAN_IP)
    kvenv.ok("net-forward-add", site.name, LISTEN6, "tcp", "80", TARGET6, str(PORT))
    kvenv.ok("net-forward-add", site.name, LISTEN, "tcp", "80", TARGET, str(PORT))
    kvenv.host.run(["nft", "-f", "-"], input=IP6_EDGE)
    assert site.ask(site.wan, LISTEN) == f"ok {WAN_IP}"
    assert site.ask(site.wan).startswith("fail")

    proc = kvenv.kv("doctor", site.name, "--json", timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    found = json.loads(proc.stdout)["findings"]
    assert [(f["code"], f["where"]) for f in found] == [
        ("forward-drop", "nftables table ip6 edge, chain edge_forward")], found
    assert "IPv6 port forwards included" in found[0]["what"]

    fixed = kvenv.kv("doctor", site.name, "--fix", timeout=120)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert site.ask(site.wan) == f"ok {WAN6}"
    listing = kvenv.host.run(["nft", "list", "chain", "ip6", "edge", "edge_forward"]).stdout
    assert "policy drop" in listing and f"kvmnet: network {site.name}" in listing
    kvenv.ok("doctor", site.name, "--fix", "--undo", timeout=120)
    assert site.ask(site.wan).startswith("fail")
