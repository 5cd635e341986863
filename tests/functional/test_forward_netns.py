"""Port forwards into a NAT network, proven with real connections between namespaces.

Layout (everything in namespaces made here; see tests.functional.kvmnet_env)::

    wan 203.0.113.2 --route 198.51.100.7 via--> host (kvmnet; 198.51.100.7/32 on lo)
                                                  |  bridge virbr-f 192.168.150.1/24
                                      guest "target" 192.168.150.10 (servers on 8080 tcp, 5353 udp)
                                      guest "other"  192.168.150.11

Guests are namespaces whose veth host end kvmnet's own port plugger attaches to the bridge
(``ports.plug(device=...)``, as it attaches a tap), so the port gets what kvmnet sets on the
ports it plugs.  The four vantage points of issue 16: from outside, from the host itself,
from another guest on the network, from the target itself.  Bridge netfilter is on in these
namespaces (``net.bridge.bridge-nf-call-iptables=1``, the kernel's default once br_netfilter
is loaded), the case where the target's port needs hairpin mode; one test also runs with it
off.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kvmnet.port import ports
from tests.functional.kvmnet_env import (
    PYTHON,
    WAN_HOST_IP,
    WAN_IP,
    KvEnv,
    assert_one_error,
    describe,
    kvenv,
    requires_kvmnet_root,
)
from tests.functional.netns import NetNS, veth
from tests.functional.test_ports import api

pytestmark = requires_kvmnet_root
__all__ = ["kvenv"]

LISTEN = "198.51.100.7"
SUBNET = "192.168.150"
TARGET = f"{SUBNET}.10"
OTHER = f"{SUBNET}.11"
BRIDGE = "virbr-f"

UDP_ECHO = """\
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data + b" from " + peer[0].encode(), peer)
"""

UDP_ASK = """\
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(b"ping", (sys.argv[1], int(sys.argv[2])))
try:
    print(s.recv(2048).decode())
except OSError as e:
    print("fail", e)
"""


def nat(name: str = "pf", bridge: str = BRIDGE, subnet: str = SUBNET, extra: str = "") -> str:
    """A NAT network without DHCP, STP off (ports forward at once)."""
    ns = " xmlns:kvmnet='https://kvmnet.dev/xmlns/network/1'" if extra else ""
    return (f"<network{ns}>\n  <name>{name}</name>\n  <forward mode='nat'/>\n"
            f"  <bridge name='{bridge}' stp='off'/>\n"
            f"  <ip address='{subnet}.1' netmask='255.255.255.0'/>\n{extra}</network>\n")


class Site:
    """The layout above, with the network started."""

    def __init__(self, kvenv: KvEnv, xml: str | None = None) -> None:
        self.kv = kvenv
        self.name = kvenv.start(xml or nat())
        host = kvenv.host
        # the host's public address (no dummy links in this kernel: on lo, as a /32)
        host.ip("addr", "add", f"{LISTEN}/32", "dev", "lo")
        host.ip("link", "set", "lo", "up")
        self.wan = kvenv.wan()
        self.wan.ip("route", "add", f"{LISTEN}/32", "via", WAN_HOST_IP)
        self.guests = 0
        self.target = self.guest(TARGET)
        self.peers = kvenv.tcp_server(self.target, "0.0.0.0", 8080)
        self.udp_server(self.target, 5353)
        self.other = self.guest(OTHER)

    def guest(self, address: str) -> NetNS:
        """A guest namespace plugged into the network by kvmnet's port plugger."""
        ns = self.kv._ns("g")
        self.guests += 1
        host_end = f"vg{self.guests}"
        veth(self.kv.host, host_end, ns, "eth0")
        result = api(self.kv, ports.plug, self.name, mac=f"52:54:00:00:15:{self.guests:02x}",
                     device=host_end)
        assert result[0] == "ok", result
        ns.ip("addr", "add", f"{address}/24", "dev", "eth0")
        ns.ip("route", "add", "default", "via", f"{SUBNET}.1")
        ns.ip("link", "set", "lo", "up")
        return ns

    def port_of(self, n: int) -> str:
        return f"vg{n}"

    def udp_server(self, ns: NetNS, port: int) -> None:
        p = ns.popen([PYTHON, "-u", "-c", UDP_ECHO, "0.0.0.0", str(port)])
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"

    def seen(self) -> list[str]:
        return Path(self.peers).read_text().split()

    def tcp(self, ns: NetNS, port: int = 80) -> str:
        return self.kv.connect(ns, LISTEN, port)

    @staticmethod
    def udp(ns: NetNS, port: int) -> str:
        return ns.run([PYTHON, "-c", UDP_ASK, LISTEN, str(port)], check=False,
                      timeout=15).stdout.strip()

    def forwards(self) -> list[dict[str, Any]]:
        return json.loads(self.kv.ok("net-forward-list", self.name, "--json").stdout)

    def map_elements(self, name: str = "dnat4") -> list[Any]:
        """The elements of the forwards' map ``name`` (dnat4, dnat6), [] when there is none."""
        proc = self.kv.host.run(["nft", "-j", "list", "map", "inet", "kvmnet_forwards", name],
                                check=False)
        if proc.returncode != 0:
            return []
        for item in json.loads(proc.stdout)["nftables"]:
            if "map" in item:
                return list(item["map"].get("elem", []))
        return []


def bridge_nf(kvenv: KvEnv, on: bool, families: tuple[str, ...] = ("iptables",)) -> None:
    for family in families:
        path = f"/proc/sys/net/bridge/bridge-nf-call-{family}"
        kvenv.host.run(["sh", "-c", f"echo {int(on)} > {path}"])


def hairpin_of(kvenv: KvEnv, port: str) -> bool:
    shown = json.loads(kvenv.host.run(["bridge", "-d", "-j", "link", "show", "dev", port]).stdout)
    return bool(shown[0].get("hairpin"))


@pytest.mark.parametrize("br_nf", [True, False], ids=["bridge-nf", "no-bridge-nf"])
def test_four_vantage_points(kvenv: KvEnv, br_nf: bool) -> None:
    bridge_nf(kvenv, br_nf)
    site = Site(kvenv)
    assert site.tcp(site.wan).startswith("fail"), "nothing listens before the forward"
    kvenv.ok("net-forward-add", site.name, LISTEN, "tcp", "80", TARGET, "8080")
    kvenv.ok("net-forward-add", site.name, LISTEN, "udp", "53", TARGET, "5353")

    # from outside: the target sees the real client
    assert site.tcp(site.wan) == f"ok {WAN_IP}"
    assert site.seen()[-1] == WAN_IP
    assert site.udp(site.wan, 53) == f"ping from {WAN_IP}"
    # from the host itself (output DNAT)
    assert site.tcp(kvenv.host).startswith("ok ")
    assert site.udp(kvenv.host, 53).startswith("ping from ")
    # from another guest on the network: hairpin, answered through the host
    assert site.tcp(site.other) == f"ok {OTHER}"
    assert site.seen()[-1] == f"{SUBNET}.1"
    assert site.udp(site.other, 53) == f"ping from {SUBNET}.1"
    # from the target itself
    assert site.tcp(site.target) == f"ok {TARGET}"
    assert site.udp(site.target, 53) == f"ping from {SUBNET}.1"


def test_target_reaching_itself_needs_hairpin_under_bridge_netfilter(kvenv: KvEnv) -> None:
    bridge_nf(kvenv, True)
    site = Site(kvenv)
    kvenv.ok("net-forward-add", site.name, LISTEN, "tcp", "80", TARGET, "8080")
    assert hairpin_of(kvenv, site.port_of(1)), "kvmnet's plugger sets hairpin on its ports"
    assert site.tcp(site.target) == f"ok {TARGET}"
    kvenv.host.run(["bridge", "link", "set", "dev", site.port_of(1), "hairpin", "off"])
    assert site.tcp(site.target).startswith("fail"), "the fact the hairpin mode is there for"
    assert site.tcp(site.other) == f"ok {OTHER}", "another guest's port does not need it"


def test_ranges_map_one_to_one_and_many_to_one(kvenv: KvEnv) -> None:
    site = Site(kvenv)
    kvenv.ok("net-forward-add", site.name, LISTEN, "tcp", "8000-8002", TARGET, "8080")
    kvenv.ok("net-forward-add", site.name, LISTEN, "tcp", "7080,8080", TARGET, "9090,8080")
    for port in (8000, 8001, 8002, 8080):
        assert site.tcp(site.wan, port) == f"ok {WAN_IP}", port
    assert site.tcp(site.wan, 7080).startswith("fail"), "7080 goes to 9090, where none listens"
    assert [(f["ports"], f["target_ports"]) for f in site.forwards()] == [
        ("8000-8002", "8080"), ("7080,8080", "9090,8080")]


def test_dstnat_minus_one_wins_over_a_docker_like_dnat_either_load_order(kvenv: KvEnv) -> None:
    decoy = (f"table ip dockerish {{ chain PREROUTING {{ type nat hook prerouting priority "
             f"dstnat; policy accept; ip daddr {LISTEN} tcp dport 80 dnat to {SUBNET}.99:80; }}; }}")

    def load_decoy() -> None:
        kvenv.host.run(["nft", "-f", "-"], input=decoy)

    load_decoy()  # before kvmnet's table exists
    site = Site(kvenv)
    kvenv.ok("net-forward-add", site.name, LISTEN, "tcp", "80", TARGET, "8080")
    assert site.tcp(site.wan) == f"ok {WAN_IP}"
    kvenv.host.run(["nft", "delete", "table", "ip", "dockerish"])
    load_decoy()  # after it
    assert site.tcp(site.wan) == f"ok {WAN_IP}"
    kvenv.host.run(["nft", "delete", "table", "ip", "dockerish"])


def test_forwards_survive_a_restart_and_go_with_the_network(kvenv: KvEnv) -> None:
    site = Site(kvenv)
    kvenv.ok("net-forward-add", site.name, LISTEN, "tcp", "80", TARGET, "8080")
    xml = kvenv.ok("net-dumpxml", site.name).stdout
    assert "xmlns:kvmnet='https://kvmnet.dev/xmlns/network/1'" in xml
    assert (f"<kvmnet:forward address='{LISTEN}' protocol='tcp' ports='80' target='{TARGET}' "
            "targetPorts='8080'/>") in xml
    kvenv.ok("net-destroy", site.name)
    assert site.map_elements() == []
    hairpins = kvenv.host.run(["nft", "list", "set", "inet", "kvmnet_forwards", "hairpin"]).stdout
    assert BRIDGE not in hairpins
    # live only (the default on a running network is --current): gone after the restart
    kvenv.ok("net-start", site.name)  # the guests' ports are plugged back (kvmnet.port.keep)
    assert site.map_elements() == [] and site.forwards() == []

    kvenv.ok("net-forward-add", site.name, LISTEN, "tcp", "80", TARGET, "8080", "--live",
             "--config")
    kvenv.ok("net-destroy", site.name)
    kvenv.ok("net-start", site.name)
    assert len(site.map_elements()) == 1
    assert site.tcp(site.wan) == f"ok {WAN_IP}"
    kvenv.ok("net-destroy", site.name)
    kvenv.ok("net-undefine", site.name)
    assert site.map_elements() == []


def test_live_and_config_scopes(kvenv: KvEnv) -> None:
    site = Site(kvenv)
    kvenv.ok("net-forward-add", site.name, LISTEN, "tcp", "80", TARGET, "8080", "--config")
    assert site.map_elements() == [] and site.forwards() == []
    inactive = json.loads(kvenv.ok("net-forward-list", site.name, "--inactive", "--json").stdout)
    assert [f["ports"] for f in inactive] == ["80"]
    assert site.tcp(site.wan).startswith("fail")

    kvenv.ok("net-forward-add", site.name, LISTEN, "tcp", "81", TARGET, "8080", "--live")
    assert site.tcp(site.wan, 81) == f"ok {WAN_IP}"
    assert "ports='81'" not in kvenv.ok("net-dumpxml", site.name, "--inactive").stdout
    kvenv.ok("net-forward-remove", site.name, LISTEN, "tcp", "81")  # --current: live
    assert site.tcp(site.wan, 81).startswith("fail")
    assert site.map_elements() == []


def _refused(kvenv: KvEnv, site: Site, *args: str) -> str:
    before = (kvenv.ok("net-dumpxml", site.name).stdout,
              kvenv.ok("net-dumpxml", site.name, "--inactive").stdout, site.map_elements())
    proc = kvenv.kv("net-forward-add", site.name, *args, "--live", "--config")
    message = assert_one_error(proc)
    after = (kvenv.ok("net-dumpxml", site.name).stdout,
             kvenv.ok("net-dumpxml", site.name, "--inactive").stdout, site.map_elements())
    assert after == before, f"a refused forward changed something: {describe(proc)}"
    return message


def test_refusals_change_nothing(kvenv: KvEnv) -> None:
    site = Site(kvenv)
    kvenv.start(nat("pf2", "virbr-f2", "192.168.151"))
    kvenv.ok("net-forward-add", site.name, LISTEN, "tcp", "80-81", TARGET, "8080")
    kvenv.ok("net-forward-add", "pf2", LISTEN, "tcp", "90", "192.168.151.5")

    msg = _refused(kvenv, site, f"{SUBNET}.200", "tcp", "80", TARGET)
    assert "inside subnet 192.168.150.0/24 of network 'pf'" in msg
    msg = _refused(kvenv, site, "192.168.151.200", "tcp", "80", TARGET)
    assert "inside subnet 192.168.151.0/24 of network 'pf2'" in msg
    msg = _refused(kvenv, site, LISTEN, "tcp", "82", "192.168.151.5")
    assert "outside the network's IPv4 subnets" in msg
    assert "network address" in _refused(kvenv, site, LISTEN, "tcp", "82", f"{SUBNET}.0")
    assert "broadcast address" in _refused(kvenv, site, LISTEN, "tcp", "82", f"{SUBNET}.255")
    msg = _refused(kvenv, site, LISTEN, "tcp", "82-84", TARGET, "82,83")
    assert "3 listen ports (82-84) but 2 target ports" in msg
    msg = _refused(kvenv, site, LISTEN, "tcp", "81-82", TARGET)
    assert "overlaps its forward tcp 198.51.100.7:80-81" in msg
    msg = _refused(kvenv, site, LISTEN, "tcp", "90", TARGET)
    assert "of network 'pf2' already listens there" in msg
    holder = kvenv.hold_port(LISTEN, 82, "tcp")
    try:
        msg = _refused(kvenv, site, LISTEN, "tcp", "82", TARGET)
        assert f"tcp port 82 on {LISTEN} is already in use by PID {holder.pid} (python" in msg
    finally:
        holder.kill()
        holder.wait()
    assert site.tcp(site.wan, 80) == f"ok {WAN_IP}", "the forwards there still work"


def test_remove_names_what_exists(kvenv: KvEnv) -> None:
    site = Site(kvenv)
    kvenv.ok("net-forward-add", site.name, LISTEN, "udp", "53", TARGET, "5353")
    proc = kvenv.kv("net-forward-remove", site.name, LISTEN, "tcp", "53")
    assert "its forwards: udp 198.51.100.7:53 -> 192.168.150.10:5353" in assert_one_error(proc)
    kvenv.ok("net-forward-remove", site.name, LISTEN, "udp", "53")
    assert site.forwards() == [] and site.map_elements() == []
