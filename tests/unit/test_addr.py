"""The one prefix rule (kvmnet.model.addr), libvirt's virSocketAddrGetIPPrefix, at its edges.

Every caller (validation, the dnsmasq and nftables renderers, the drivers' bridge
addresses, net-update, DHCPLeases) goes through these functions; these cases are the
ones where the four former copies disagreed.
"""
from __future__ import annotations

import ast
import ipaddress
from pathlib import Path

import pytest

from kvmnet.model.addr import (
    address_prefix,
    classful_prefix,
    ip_interface,
    ip_network,
    ip_prefix,
    netmask_prefix,
    route_prefix,
)
from kvmnet.model.network import IPDef, Route


@pytest.mark.parametrize(("address", "expected"), [
    ("10.24.10.1", 8), ("127.0.0.1", 8), ("172.16.0.1", 16), ("191.255.0.1", 16),
    ("192.168.1.1", 24), ("223.255.255.1", 24),
    ("224.0.0.1", None), ("239.1.1.1", None),    # class D: no default, libvirt's -1
    ("240.0.0.1", None), ("255.255.255.255", None),  # class E
])
def test_classful_defaults(address: str, expected: int | None) -> None:
    assert ip_prefix(IPDef(address=address)) == expected
    assert classful_prefix(ipaddress.IPv4Address(address)) == expected


def test_explicit_prefix_wins_and_zero_means_not_given() -> None:
    assert ip_prefix(IPDef(address="10.0.0.1", prefix=24)) == 24
    # prefix 0 is "not given" in libvirt: the netmask, else the classful default, applies
    assert ip_prefix(IPDef(address="10.0.0.1", prefix=0)) == 8
    assert ip_prefix(IPDef(address="10.0.0.1", netmask="255.255.0.0", prefix=0)) == 16
    assert ip_prefix(IPDef(address="fd00::1", family="ipv6", prefix=0)) == 64


def test_netmask() -> None:
    assert ip_prefix(IPDef(address="192.168.122.1", netmask="255.255.255.0")) == 24
    assert ip_prefix(IPDef(address="192.168.122.1", netmask="255.255.255.255")) == 32
    assert ip_prefix(IPDef(address="192.168.122.1", netmask="0.0.0.0")) == 0
    # a mask with holes, a host mask and a non-IPv4 mask are invalid (libvirt's -1)
    assert netmask_prefix("255.0.255.0") is None
    assert netmask_prefix("0.0.0.255") is None
    assert netmask_prefix("ffff:ffff::") is None
    assert netmask_prefix("garbage") is None
    assert ip_prefix(IPDef(address="192.168.122.1", netmask="255.0.255.0")) is None
    assert ip_network(IPDef(address="192.168.122.1", netmask="255.0.255.0")) is None


def test_ipv6_without_prefix_and_wildcards() -> None:
    assert ip_prefix(IPDef(address="2001:db8::1", family="ipv6")) == 64
    assert str(ip_network(IPDef(address="2001:db8::1", family="ipv6"))) == "2001:db8::/64"
    # the wildcard address carries no knowledge of a prefix: 0, as in libvirt
    assert ip_prefix(IPDef(address="0.0.0.0")) == 0
    assert ip_prefix(IPDef(address="::", family="ipv6")) == 0
    assert address_prefix(None, None, None) == 0


def test_interface_and_network() -> None:
    ip = IPDef(address="192.168.122.1", netmask="255.255.255.0")
    assert str(ip_interface(ip)) == "192.168.122.1/24"
    assert str(ip_network(ip)) == "192.168.122.0/24"
    assert str(ip_network(IPDef(address="10.24.10.1"))) == "10.0.0.0/8"
    assert ip_interface(IPDef(address="224.0.0.1")) is None
    assert ip_interface(IPDef(address="10.0.0.1", prefix=33)) is None  # too long for IPv4
    assert ip_interface(IPDef()) is None


def test_route_prefix() -> None:
    assert route_prefix(Route(address="192.168.222.0", gateway="192.168.122.10",
                              netmask="255.255.255.0")) == 24
    assert route_prefix(Route(address="2001:db8:ac10:fc00::", gateway="2001:db8::1",
                              family="ipv6", prefix=64)) == 64
    # the wildcard address without prefix is a default route (virNetDevIPRouteGetPrefix)
    assert route_prefix(Route(address="0.0.0.0", gateway="192.168.122.10")) == 0
    assert route_prefix(Route(address="0.0.0.0", gateway="192.168.122.10", prefix=0)) == 0
    assert route_prefix(Route(address="::", gateway="2001:db8::1", family="ipv6")) == 0


def test_no_other_module_derives_a_prefix() -> None:
    """The classful table and the netmask arithmetic live in kvmnet/model/addr.py only."""
    root = Path(__file__).resolve().parents[2] / "kvmnet"
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "addr.py" and path.parent.name == "model":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            # the classful test's masks (0x80/0xC0/0xE0 next to 8/16/24) or "0.0.0.0/<netmask>"
            if isinstance(node, ast.Constant) and node.value in (0xE0, "0.0.0.0/"):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
            if isinstance(node, ast.JoinedStr) and any(
                    isinstance(v, ast.Constant) and v.value == "0.0.0.0/" for v in node.values):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not offenders, f"prefix rules outside kvmnet.model.addr: {offenders}"
