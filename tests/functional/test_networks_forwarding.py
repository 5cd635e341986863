"""Forwarding with real packets: nat, route, open and isolated networks between guests and "wan".

The wan namespace (203.0.113.2) runs a TCP server that records each peer's source address, so
NAT (the host's 203.0.113.1) and routing (the guest's own address) are told apart by what the
far end really sees.
"""
from __future__ import annotations

from pathlib import Path

from tests.functional.kvmnet_env import (
    WAN_HOST_IP,
    WAN_IP,
    KvEnv,
    example,
    kvenv,
    requires_kvmnet_root,
    simple_network,
)

pytestmark = requires_kvmnet_root
__all__ = ["kvenv"]

INBOUND_PORT = 9090


def _peers(log: Path) -> list[str]:
    return log.read_text().split()


def test_nat_network_masquerades_to_the_outside(kvenv: KvEnv) -> None:
    kvenv.start(example("default"))
    wan = kvenv.wan()
    log = kvenv.tcp_server(wan)
    cli = kvenv.client("virbr0")
    lease = kvenv.dhcp(cli)
    assert lease.router == "192.168.122.1", lease.raw

    result = kvenv.connect(cli.ns, WAN_IP)
    assert result == f"ok {lease.ip}", f"{result}\n{kvenv.nft_table()}"
    assert _peers(log) == [WAN_HOST_IP], "wan should see the host's address (NAT)"

    # Nothing from outside may open a connection to a NAT guest, even with a route to it.
    inbound = kvenv.tcp_server(cli.ns, port=INBOUND_PORT)
    wan.ip("route", "add", "192.168.122.0/24", "via", WAN_HOST_IP)
    result = kvenv.connect(wan, lease.ip, INBOUND_PORT)
    assert result.startswith("fail"), result
    assert _peers(inbound) == []


def test_routed_network_keeps_the_guest_address(kvenv: KvEnv) -> None:
    kvenv.start(simple_network("routed", "virbr5", "192.168.150", "route"))
    wan = kvenv.wan()
    wan.ip("route", "add", "192.168.150.0/24", "via", WAN_HOST_IP)
    log = kvenv.tcp_server(wan)
    cli = kvenv.client("virbr5")
    lease = kvenv.dhcp(cli)
    assert lease.router == "192.168.150.1", lease.raw

    result = kvenv.connect(cli.ns, WAN_IP)
    assert result == f"ok {lease.ip}", f"{result}\n{kvenv.nft_table()}"
    assert _peers(log) == [lease.ip], "wan should see the guest's own address (no NAT)"

    # routed: the outside may open connections to the guest
    inbound = kvenv.tcp_server(cli.ns, port=INBOUND_PORT)
    result = kvenv.connect(wan, lease.ip, INBOUND_PORT)
    assert result == f"ok {WAN_IP}", f"{result}\n{kvenv.nft_table()}"
    assert _peers(inbound) == [WAN_IP]


def test_isolated_network_forwards_nothing(kvenv: KvEnv) -> None:
    kvenv.start(simple_network("iso", "virbr6", "192.168.160", None))
    # Forwarding on in the host namespace (as another network would turn it on): the firewall,
    # not the sysctl, must keep the isolated network in.
    kvenv.host.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
    wan = kvenv.wan()
    wan.ip("route", "add", "192.168.160.0/24", "via", WAN_HOST_IP)
    log = kvenv.tcp_server(wan)
    cli = kvenv.client("virbr6")
    lease = kvenv.dhcp(cli)
    assert lease.router == "", f"an isolated network offers no router: {lease.raw}"
    cli.ns.ip("route", "replace", "default", "via", "192.168.160.1")

    result = kvenv.connect(cli.ns, WAN_IP)
    assert result.startswith("fail"), f"{result}\n{kvenv.nft_table()}"
    assert _peers(log) == []

    inbound = kvenv.tcp_server(cli.ns, port=INBOUND_PORT)
    result = kvenv.connect(wan, lease.ip, INBOUND_PORT)
    assert result.startswith("fail"), result
    assert _peers(inbound) == []

    # ...while the guest still reaches the host's DNS and the host itself
    assert kvenv.connect(cli.ns, "192.168.160.1", 53).startswith("ok")


def test_open_network_has_no_firewall_rules(kvenv: KvEnv) -> None:
    # A NAT network beside it makes sure the kvmnet table exists and is in use.
    kvenv.start(example("default"))
    kvenv.start(simple_network("opennet", "virbr7", "192.168.170", "open"))
    table = kvenv.nft_table()
    assert table is not None and '"virbr0"' in table, table
    assert "virbr7" not in table and "opennet" not in table, table

    wan = kvenv.wan()
    wan.ip("route", "add", "192.168.170.0/24", "via", WAN_HOST_IP)
    log = kvenv.tcp_server(wan)
    cli = kvenv.client("virbr7")
    lease = kvenv.dhcp(cli)
    assert lease.router == "192.168.170.1", lease.raw
    result = kvenv.connect(cli.ns, WAN_IP)
    assert result == f"ok {lease.ip}", f"{result}\n{table}"
    assert _peers(log) == [lease.ip]


def test_two_nat_networks_are_kept_apart(kvenv: KvEnv) -> None:
    kvenv.start(example("default"))
    kvenv.start(example("nat_net"))
    wan = kvenv.wan()
    log = kvenv.tcp_server(wan)
    a = kvenv.client("virbr0", tag="a")
    b = kvenv.client("virbr1", tag="b")
    lease_a, lease_b = kvenv.dhcp_all([(a, None), (b, None)])
    assert lease_a.ip.startswith("192.168.122.") and lease_b.ip.startswith("10.10.10."), (
        lease_a.raw, lease_b.raw)

    srv_b = kvenv.tcp_server(b.ns, port=INBOUND_PORT)
    srv_a = kvenv.tcp_server(a.ns, port=INBOUND_PORT)
    result = kvenv.connect(a.ns, lease_b.ip, INBOUND_PORT)
    assert result.startswith("fail"), f"default -> nat_net: {result}\n{kvenv.nft_table()}"
    result = kvenv.connect(b.ns, lease_a.ip, INBOUND_PORT)
    assert result.startswith("fail"), f"nat_net -> default: {result}\n{kvenv.nft_table()}"
    assert _peers(srv_a) == [] and _peers(srv_b) == []

    assert kvenv.connect(a.ns, WAN_IP) == f"ok {lease_a.ip}"
    assert kvenv.connect(b.ns, WAN_IP) == f"ok {lease_b.ip}"
    assert _peers(log) == [WAN_HOST_IP, WAN_HOST_IP]


def test_ipv6_forwarding_keeps_router_advertisements_on_the_uplink(kvenv: KvEnv) -> None:
    # libvirt refuses to start an IPv6 routed network when an uplink with an IPv6 default route
    # has accept_ra=1 (forwarding would make the kernel drop that route's RAs); kvmnet sets
    # accept_ra=2 on exactly that interface, says so, and starts.
    kvenv.wan()
    host = kvenv.host

    def sysctl(key: str) -> str:
        return host.run(["sysctl", "-n", key]).stdout.strip()

    host.ip("-6", "addr", "add", "2001:db8:ff::1/64", "dev", "vwan", "nodad")
    host.ip("-6", "route", "add", "default", "via", "2001:db8:ff::2", "dev", "vwan")
    host.run(["sysctl", "-qw", "net.ipv6.conf.vwan.accept_ra=1"])
    assert sysctl("net.ipv6.conf.all.forwarding") == "0"
    # a second uplink with accept_ra=1 but no default route is left alone
    host.ip("link", "add", "vside", "type", "veth", "peer", "name", "vside1")
    host.run(["sysctl", "-qw", "net.ipv6.conf.vside.accept_ra=1"])

    text = ("<network>\n  <name>v6route</name>\n  <forward mode='route'/>\n"
            "  <bridge name='virbr6' stp='on' delay='0'/>\n"
            "  <ip family='ipv6' address='2001:db8:ca2:3::1' prefix='64'/>\n</network>\n")
    kvenv.define(text)
    proc = kvenv.ok("net-start", "v6route")
    assert "set net.ipv6.conf.vwan.accept_ra=2" in proc.stderr, proc.stderr
    assert "vside" not in proc.stderr, proc.stderr
    assert sysctl("net.ipv6.conf.all.forwarding") == "1"
    assert sysctl("net.ipv6.conf.vwan.accept_ra") == "2"
    assert sysctl("net.ipv6.conf.vside.accept_ra") == "1"
    routes = host.run(["ip", "-6", "route", "show", "default"]).stdout
    assert "via 2001:db8:ff::2 dev vwan" in routes, routes
    kvenv.ok("net-destroy", "v6route")
