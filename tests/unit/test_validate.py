"""Semantic validation rules (kvmnet.config.validate): each rule, and all problems at once."""
from __future__ import annotations

import pytest

from kvmnet.config.validate import (
    dhcp_range_problems,
    network_problems,
    validate_dhcp_host_in_ip,
    validate_dhcp_range_in_ip,
    validate_network,
)
from kvmnet.errors import ValidationError
from kvmnet.model import frozen as dataclasses
from kvmnet.model.addr import ip_network, ip_prefix
from kvmnet.model.network import (
    Dhcp,
    DhcpHost,
    DhcpRange,
    Dns,
    DnsSrv,
    DnsTxt,
    IPDef,
    Network,
)
from kvmnet.paths import MAX_NAME_BYTES
from kvmnet.xmlio.network import parse_network

NAT_IP = "<forward mode='nat'/><ip address='192.168.122.1' netmask='255.255.255.0'>{}</ip>"


def problems(xml: str, **kw: bool) -> list[str]:
    return network_problems(parse_network(xml), **kw)


def one(xml: str, fragment: str) -> None:
    found = problems(xml)
    assert any(fragment in p for p in found), found


def nat(dhcp: str = "", extra: str = "", name: str = "n") -> str:
    inner = f"<dhcp>{dhcp}</dhcp>" if dhcp else ""
    return f"<network><name>{name}</name>{NAT_IP.format(inner)}{extra}</network>"


def test_valid_network_passes() -> None:
    validate_network(parse_network(nat(
        "<range start='192.168.122.2' end='192.168.122.254'/>"
        "<host mac='52:54:00:00:00:01' ip='192.168.122.10'/>")))


@pytest.mark.parametrize("name, fragment", [
    ("", "empty"),
    ("a/b", "'/'"),
    ("../../etc/x", "'/'"),
    ("a\x00b", "NUL"),
    ("a\nb", "line break"),
    (".", "cannot be used"),
    ("..", "cannot be used"),
    ("x" * (MAX_NAME_BYTES + 1), f"longer than {MAX_NAME_BYTES}"),
])
def test_hostile_names(name: str, fragment: str) -> None:
    net = Network(name=name)
    with pytest.raises(ValidationError) as exc:
        validate_network(net)
    assert fragment in str(exc.value)


def test_title_with_newline() -> None:
    with pytest.raises(ValidationError, match="single line"):
        validate_network(Network(name="n", title="a\nb"))


def test_open_with_forward_dev_fails() -> None:
    one("<network><name>o</name><forward mode='open' dev='eth0'/>"
        "<ip address='10.0.0.1' prefix='24'/></network>", "forward dev not allowed")


def test_nat_without_ip_fails() -> None:
    one("<network><name>n</name><forward mode='nat'/></network>", "no IP address provided")


def test_multiple_forward_interfaces_for_nat() -> None:
    xml = nat(extra="").replace("<forward mode='nat'/>",
                                "<forward mode='nat'><interface dev='a'/><interface dev='b'/>"
                                "</forward>")
    one(xml, "multiple forwarding interfaces")


def test_duplicate_hostdev_address_and_passthrough_interface() -> None:
    addr = "<address type='pci' domain='0' bus='3' slot='0' function='1'/>"
    one(f"<network><name>h</name><forward mode='hostdev' managed='yes'>{addr}{addr}</forward>"
        "</network>", "PCI device '0000:03:00.1' can only be listed once")
    one("<network><name>p</name><forward mode='passthrough'><interface dev='eth3'/>"
        "<interface dev='eth3'/></forward></network>", "interface 'eth3' can only be listed once")


def test_pool_kinds_are_mutually_exclusive_and_hostdev_needs_pci() -> None:
    one("<network><name>h</name><forward mode='hostdev'><interface dev='eth3'/></forward>"
        "</network>", "by device name")
    one("<network><name>p</name><forward mode='passthrough'><interface dev='e'/><pf dev='p'/>"
        "</forward></network>", "mutually exclusive")
    one("<network><name>p</name><forward mode='vepa'>"
        "<address type='pci' domain='0' bus='3' slot='0' function='1'/></forward></network>",
        "only supported with forward mode='hostdev'")


def test_disabled_dns_with_children() -> None:
    one(nat(extra="<dns enable='no'><txt name='example' value='v'/></dns>"),
        "Extra data in disabled network")
    assert problems(nat(extra="<dns enable='no'/>")) == []


@pytest.mark.parametrize("rng, fragment", [
    ("<range start='10.0.0.10' end='10.0.0.100'/>", "not entirely within network"),
    ("<range start='192.168.122.200' end='192.168.122.10'/>", "reversed"),
    ("<range start='192.168.122.0' end='192.168.122.10'/>", "network address"),
    ("<range start='192.168.122.10' end='192.168.122.255'/>", "broadcast address"),
    ("<range start='fd00::2' end='fd00::9'/>", "IPv6"),
    (("<range start='192.168.122.2' end='192.168.122.100'/>"
     "<range start='192.168.122.50' end='192.168.122.150'/>"), "overlap"),
])
def test_dhcp_range_rules(rng: str, fragment: str) -> None:
    one(nat(rng), fragment)


def test_range_too_large() -> None:
    ip = IPDef(address="10.0.0.1", prefix=8)
    found = dhcp_range_problems(DhcpRange("10.0.0.2", "10.1.0.2"), ip)
    assert any("too large" in p for p in found)


def test_static_host_rules() -> None:
    one(nat("<host mac='52:54:00:00:00:01' ip='10.9.9.9'/>"), "outside network")
    one(nat("<host mac='52:54:00:00:00:01' ip='192.168.122.10'/>"
            "<host mac='52:54:00:00:00:01' ip='192.168.122.11'/>"), "MAC address 52:54:00:00:00:01")
    one(nat("<host mac='52:54:00:00:00:AA' ip='192.168.122.10'/>"
            "<host mac='52:54:00:00:00:aa' ip='192.168.122.11'/>"), "more than one static")
    one(nat("<host mac='52:54:00:00:00:01' ip='192.168.122.10'/>"
            "<host mac='52:54:00:00:00:02' ip='192.168.122.10'/>"),
        "192.168.122.10 is assigned to more than one")


def test_bridge_name_too_long() -> None:
    one("<network><name>b</name><bridge name='abcdefghijklmnop'/></network>", "15 bytes")
    assert problems("<network><name>b</name><bridge name='abcdefghijklmno'/></network>") == []


def test_dns_line_breaks_in_model() -> None:
    base = parse_network(nat())
    bad = dataclasses.replace(base, dns=Dns(
        txts=(DnsTxt("t", "a\nb"),),
        srvs=(DnsSrv("s", "tcp", domain="d\rx"), DnsSrv("s2", "tcp", target="t\nx"))))
    found = network_problems(bad)
    assert sum("line break" in p for p in found) == 3


def test_only_one_dhcp_per_family() -> None:
    xml = ("<network><name>n</name><forward/>"
           "<ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.2' end='10.0.0.9'/>"
           "</dhcp></ip><ip address='10.0.1.1' prefix='24'><dhcp>"
           "<range start='10.0.1.2' end='10.0.1.9'/></dhcp></ip>"
           "<ip family='ipv6' address='fd00::1' prefix='64'><dhcp><range start='fd00::2' "
           "end='fd00::9'/></dhcp></ip><ip family='ipv6' address='fd01::1' prefix='64'><dhcp>"
           "<range start='fd01::2' end='fd01::9'/></dhcp></ip></network>")
    found = problems(xml)
    assert any("multiple IPv4" in p for p in found)
    assert any("multiple IPv6" in p for p in found)


def test_netmask_must_be_contiguous() -> None:
    one("<network><name>n</name><ip address='10.0.0.1' netmask='255.0.255.0'/></network>",
        "not contiguous")


def test_unreachable_route_gateway() -> None:
    one(nat(extra="<route address='10.10.0.0' prefix='16' gateway='10.0.0.1'/>"),
        "unreachable static route gateway '10.0.0.1'")
    assert problems(nat(extra="<route address='10.10.0.0' prefix='16' "
                              "gateway='192.168.122.9'/>")) == []


def test_mode_specific_elements() -> None:
    one("<network><name>b</name><forward mode='bridge'/><bridge name='br0' stp='on'/></network>",
        "delay/stp/zone")
    one("<network><name>v</name><forward mode='vepa'><interface dev='e'/></forward>"
        "<bridge name='br0'/></network>", "bridge name not allowed")
    one("<network><name>b</name><forward mode='bridge'/><bridge name='br0'/><mtu size='9000'/>"
        "</network>", "<mtu>")
    one("<network><name>b</name><forward mode='bridge'/><bridge name='br0'/>"
        "<ip address='10.0.0.1' prefix='24'/></network>", "<ip> is not supported")
    one("<network><name>b</name><forward mode='bridge'/><bridge name='br0'/>"
        "<mac address='52:54:00:00:00:01'/></network>", "<mac> is not supported")
    one("<network><name>p</name><forward mode='passthrough'><interface dev='e'/></forward>"
        "<bandwidth><inbound average='1'/></bandwidth></network>", "<bandwidth>")


def test_portgroup_rules() -> None:
    one("<network><name>p</name><forward mode='bridge'/><bridge name='br0'/>"
        "<portgroup name='a' default='yes'/><portgroup name='a' default='yes'/></network>",
        "same name 'a'")
    one("<network><name>p</name><forward mode='bridge'/><bridge name='br0'/>"
        "<portgroup name='a' default='yes'/><portgroup name='b' default='yes'/></network>",
        "multiple default portgroups")
    one(nat(extra="<portgroup name='a'><vlan><tag id='5'/></vlan></portgroup>"), "<vlan>")


def test_every_problem_is_reported_at_once() -> None:
    xml = ("<network><name>a/b</name><forward mode='open' dev='eth0'/>"
           "<bridge name='averyveryverylongbridge'/><dns enable='no'><txt name='t' value='v'/>"
           "</dns><ip address='192.168.122.1' netmask='255.255.255.0'><dhcp>"
           "<range start='10.0.0.1' end='10.0.0.5'/>"
           "<host mac='52:54:00:00:00:01' ip='10.1.1.1'/></dhcp></ip></network>")
    with pytest.raises(ValidationError) as exc:
        validate_network(parse_network(xml))
    assert len(exc.value.problems) >= 6
    text = str(exc.value)
    for fragment in ("'/'", "forward dev not allowed", "15 bytes", "Extra data",
                     "not entirely within", "outside network"):
        assert fragment in text
    assert exc.value.code == ValidationError.code


def test_helpers_for_net_update() -> None:
    assert ip_prefix(IPDef(address="10.24.10.1")) == 8
    assert ip_prefix(IPDef(address="172.16.0.1")) == 16
    assert ip_prefix(IPDef(address="192.168.1.1")) == 24
    assert ip_prefix(IPDef(address="224.0.0.1")) is None
    assert ip_prefix(IPDef(address="fd00::1", family="ipv6")) == 64
    ip = IPDef(address="192.168.122.1", netmask="255.255.255.0",
               dhcp=Dhcp(ranges=(DhcpRange("192.168.122.2", "192.168.122.254"),)))
    assert str(ip_network(ip)) == "192.168.122.0/24"
    validate_dhcp_range_in_ip(DhcpRange("192.168.122.10", "192.168.122.100"), ip)
    with pytest.raises(ValidationError, match="not entirely within"):
        validate_dhcp_range_in_ip(DhcpRange("10.0.0.10", "10.0.0.100"), ip)
    validate_dhcp_host_in_ip(DhcpHost(mac="52:54:00:00:00:01", ip="192.168.122.9"), ip)
    with pytest.raises(ValidationError, match="outside network"):
        validate_dhcp_host_in_ip(DhcpHost(mac="52:54:00:00:00:01", ip="10.0.0.9"), ip)
