"""Unit tests for network XML parsing, normalisation, formatting and fragments."""
from __future__ import annotations

import pytest
from lxml import etree

from kvmnet.errors import XMLParseError
from kvmnet.model.network import (
    DhcpHost,
    DnsHost,
    DnsSrv,
    DnsTxt,
    Forward,
    ForwardInterface,
    ForwardMode,
    Network,
)
from kvmnet.xmlio.network import (
    format_network,
    parse_dhcp_host,
    parse_dhcp_range,
    parse_dns_host,
    parse_dns_srv,
    parse_dns_txt,
    parse_forward_interface,
    parse_network,
    parse_portgroup,
    require_complete_dhcp_host,
    require_complete_dns_host,
    require_complete_dns_srv,
    require_complete_dns_txt,
)


def net(body: str, attrs: str = "") -> str:
    return f"<network{attrs}><name>n</name>{body}</network>"


def roundtrip(text: str, inactive: bool = False) -> str:
    return format_network(parse_network(text), inactive=inactive)


def frag(text: str) -> etree._Element:
    return etree.fromstring(text)


# -- normalisations -----------------------------------------------------------------------

def test_minimal_isolated_network_gets_bridge_defaults() -> None:
    assert roundtrip(net("")) == (
        "<network>\n  <name>n</name>\n  <bridge stp='on' delay='0'/>\n</network>\n")


def test_forward_without_mode_is_nat_and_dev_becomes_interface() -> None:
    out = roundtrip(net("<forward dev='eth0'/><ip address='10.0.0.1' prefix='24'/>"))
    assert "<forward dev='eth0' mode='nat'>\n    <interface dev='eth0'/>\n  </forward>" in out
    n = parse_network(net("<forward dev='eth0'/><ip address='10.0.0.1' prefix='24'/>"))
    assert n.forward is not None and n.forward.mode is ForwardMode.NAT
    assert n.forward.interfaces == (ForwardInterface("eth0"),)
    assert n.forward.dev == "eth0" and n.forward.mode_given is False


def test_first_pool_interface_becomes_dev() -> None:
    out = roundtrip(net("<forward mode='vepa'><interface dev='a'/><interface dev='b'/></forward>"))
    assert "<forward dev='a' mode='vepa'>" in out


def test_mac_lowercased_ipv6_dropped_uuid_canonical() -> None:
    out = roundtrip(
        "<network ipv6='no'><name>n</name><uuid>81FF0D90C91E674264DA4A736EDB9A9B</uuid>"
        "<mac address='52:54:00:AB:CD:EF'/></network>")
    assert out.startswith("<network>\n")
    assert "<uuid>81ff0d90-c91e-6742-64da-4a736edb9a9b</uuid>" in out
    assert "<mac address='52:54:00:ab:cd:ef'/>" in out
    assert "ipv6='yes'" in roundtrip(net("", " ipv6='yes'"))


def test_single_digit_mac_bytes_are_padded() -> None:
    assert "<mac address='52:54:00:01:02:0a'/>" in roundtrip(net("<mac address='52:54:0:1:2:A'/>"))


def test_ipv6_addresses_are_canonical() -> None:
    out = roundtrip(net("<ip family='ipv6' address='2001:DB8:0:0:0:0:0:1' prefix='64'/>"))
    assert "address='2001:db8::1'" in out


def test_empty_ip_has_closing_tag() -> None:
    out = roundtrip(net("<ip address='10.0.0.1' netmask='255.0.0.0'/>"))
    assert "  <ip address='10.0.0.1' netmask='255.0.0.0'>\n  </ip>\n" in out


def test_dhcp_host_mac_kept_verbatim() -> None:
    out = roundtrip(net("<ip address='10.0.0.1' prefix='24'><dhcp>"
                        "<host mac='00:16:3E:77:E2:ED' ip='10.0.0.5'/></dhcp></ip>"))
    assert "mac='00:16:3E:77:E2:ED'" in out


def test_lease_unit_defaults_to_minutes_and_infinite_has_none() -> None:
    out = roundtrip(net("<ip address='10.0.0.1' prefix='24'><dhcp>"
                        "<range start='10.0.0.2' end='10.0.0.9'><lease expiry='5'/></range>"
                        "<host mac='52:54:00:00:00:01' ip='10.0.0.20'>"
                        "<lease expiry='0' unit='hours'/></host></dhcp></ip>"))
    assert "<lease expiry='5' unit='minutes'/>" in out
    assert "<lease expiry='0'/>" in out


def test_bridge_options_in_bridge_mode_are_not_defaulted() -> None:
    out = roundtrip(net("<forward mode='bridge'/><bridge name='br0' macTableManager='libvirt'/>"))
    assert "<bridge name='br0' macTableManager='libvirt'/>" in out
    assert "stp=" not in out


def test_element_order_is_canonical() -> None:
    text = ("<network><ip address='10.0.0.1' prefix='24'/><domain name='ex.com' localOnly='yes'/>"
            "<mtu size='9000'/><bridge name='v0' stp='off' delay='3'/><name>n</name>"
            "<forward mode='route'/><port isolated='yes'/></network>")
    out = roundtrip(text)
    assert out == (
        "<network>\n  <name>n</name>\n  <forward mode='route'/>\n"
        "  <bridge name='v0' stp='off' delay='3'/>\n  <mtu size='9000'/>\n"
        "  <domain name='ex.com' localOnly='yes'/>\n  <port isolated='yes'/>\n"
        "  <ip address='10.0.0.1' prefix='24'>\n  </ip>\n</network>\n")


def test_dnsmasq_options_with_any_prefix() -> None:
    text = ("<network xmlns:dm='http://libvirt.org/schemas/network/dnsmasq/1.0'><name>n</name>"
            "<dm:options><dm:option value='a=b'/></dm:options></network>")
    out = roundtrip(text)
    assert out.startswith(
        "<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>")
    assert "<dnsmasq:option value='a=b'/>" in out


def test_vlan_trunk_and_native_mode() -> None:
    text = net("<forward mode='hostdev'><pf dev='eth0'/></forward>"
               "<vlan><tag id='10' nativeMode='untagged'/><tag id='20'/></vlan>")
    out = roundtrip(text)
    assert ("<vlan trunk='yes'>\n    <tag id='10' nativeMode='untagged'/>\n"
            "    <tag id='20'/>\n  </vlan>") in out
    assert "<vlan>\n    <tag id='5'/>" in roundtrip(
        net("<forward mode='hostdev'><pf dev='e'/></forward><vlan trunk='no'><tag id='5'/></vlan>"))


def test_bandwidth_attribute_order() -> None:
    out = roundtrip(net("<bandwidth><outbound burst='3' average='1' peak='2'/>"
                        "<inbound average='10'/></bandwidth>"))
    assert ("<bandwidth>\n    <inbound average='10'/>\n"
            "    <outbound average='1' peak='2' burst='3'/>\n  </bandwidth>") in out


def test_hostdev_managed_and_driver() -> None:
    out = roundtrip(net("<forward mode='hostdev'><driver name='vfio' model='virtio'/>"
                        "<address type='pci' domain='0' bus='3' slot='0x10' function='2'/>"
                        "</forward>"))
    assert "<forward mode='hostdev' managed='no'>" in out
    assert "<driver name='vfio' model='virtio'/>" in out
    assert "<address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x2'/>" in out


def test_inactive_hides_connections_and_pf_pool() -> None:
    n = Network(name="n", connections=3, forward=Forward(
        mode=ForwardMode.PASSTHROUGH, pf="eth0",
        interfaces=(ForwardInterface("eth10", connections=1), ForwardInterface("eth11"))))
    active = format_network(n)
    assert "connections='3'" in active and "<interface dev='eth10' connections='1'/>" in active
    assert "dev='eth10' mode=" not in active  # no dev= when a <pf> is present
    inactive = format_network(n, inactive=True)
    assert "connections" not in inactive and "<interface" not in inactive
    assert "<pf dev='eth0'/>" in inactive


def test_nat_ipv6_no_is_kept() -> None:
    out = roundtrip(net("<forward mode='nat'><nat ipv6='no'/></forward>"
                        "<ip address='10.0.0.1' prefix='24'/>"))
    assert "<forward mode='nat'>\n    <nat ipv6='no'/>\n  </forward>" in out


def test_virtualport_parameters_order_and_uuid() -> None:
    out = roundtrip(net("<forward mode='bridge'/><bridge name='ovs'/>"
                        "<virtualport type='openvswitch'><parameters profileid='p' "
                        "interfaceid='09B11C538B5C4EEB8F00D84EAA0AAA4F'/></virtualport>"))
    assert ("<parameters interfaceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f' profileid='p'/>"
            in out)


def test_escaping_of_text_and_attributes() -> None:
    out = roundtrip("<network><name>a&amp;b'c</name><title>t&lt;</title>"
                    "<description>d\"</description></network>")
    assert "<name>a&amp;b&apos;c</name>" in out
    assert "<title>t&lt;</title>" in out
    assert "<description>d&quot;</description>" in out
    assert parse_network(out).name == "a&b'c"


# -- bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize("body, path, fragment", [
    ("<forward mode='tunnel'/>", "/network/forward", "unknown forward mode 'tunnel'"),
    (("<ip address='10.0.0.1' prefix='24'/><ip address='10.0.1.1' prefix='24'><dhcp>"
     "<range start='10.0.1.2' end='10.0.1.300'/></dhcp></ip>"),
     "/network/ip[2]/dhcp/range[1]", "invalid IP address '10.0.1.300'"),
    (("<ip address='10.0.0.1' prefix='24'><dhcp><host mac='52:54:00:zz:00:01' ip='10.0.0.2'/>"
     "</dhcp></ip>"), "/network/ip[1]/dhcp/host[1]", "invalid MAC address"),
    ("<mac address='01:00:5e:00:00:01'/>", "/network/mac", "multicast"),
    ("<mtu size='big'/>", "/network/mtu", "invalid number 'big'"),
    ("<bridge delay='-1'/>", "/network/bridge", "invalid number '-1'"),
    ("<bridge stp='maybe'/>", "/network/bridge", "'on' or 'off'"),
    ("<uuid>not-a-uuid</uuid>", "/network/uuid", "malformed UUID"),
    ("<ip address='10.0.0.1' prefix='x'/>", "/network/ip[1]", "invalid number 'x'"),
    ("<ip address='10.0.0.1' prefix='33'/>", "/network/ip[1]", "IPv4 prefix 33"),
    ("<ip address='10.0.0.1' netmask='255.0.0.0' prefix='8'/>", "/network/ip[1]", "both"),
    ("<ip family='ipv6' address='10.0.0.1'/>", "/network/ip[1]", "non-IPv6"),
    ("<ip address='fd00::1'/>", "/network/ip[1]", "non-IPv4"),
    ("<ip/>", "/network/ip[1]", "missing required address"),
    ("<ip address='10.0.0.1' localPtr='sure'/>", "/network/ip[1]", "'yes' or 'no'"),
    ("<forward mode='route'><nat/></forward>", "/network/forward/nat", "mode='nat'"),
    ("<forward dev='a'><interface dev='b'/></forward>", "/network/forward/interface[1]",
     "must match"),
    ("<forward mode='hostdev' dev='a'><pf dev='p'/></forward>", "/network/forward", "dev"),
    ("<forward mode='passthrough'><pf dev='a'/><pf dev='b'/></forward>", "/network/forward",
     "only one <pf>"),
    ("<forward mode='hostdev'><address type='usb'/></forward>", "/network/forward/address[1]",
     "unsupported address type"),
    ("<forward mode='hostdev'><address type='pci' slot='0x20'/></forward>",
     "/network/forward/address[1]", "out of range"),
    ("<forward><nat><address start='10.0.0.9' end='10.0.0.1'/></nat></forward>",
     "/network/forward/nat/address", "reversed"),
    ("<forward><nat><port start='500' end='70000'/></nat></forward>",
     "/network/forward/nat/port", "out of range"),
    (("<ip address='10.0.0.1' prefix='24'/><route address='192.168.1.5' prefix='24' "
     "gateway='10.0.0.2'/>"), "/network/route[1]", "not a network address"),
    ("<route address='192.168.1.0' prefix='24'/>", "/network/route[1]", "gateway"),
    (("<ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.2' end='10.0.0.9'>"
     "<lease expiry='60' unit='seconds'/></range></dhcp></ip>"),
     "/network/ip[1]/dhcp/range[1]/lease", "minimum lease time"),
    ("<vlan><tag id='4096'/></vlan>", "/network/vlan/tag[1]", "out of range"),
    ("<vlan/>", "/network/vlan", "at least one"),
    ("<virtualport type='802.1Qbh'><parameters managerid='1'/></virtualport>",
     "/network/virtualport/parameters", "not allowed"),
    ("<virtualport><parameters profileid='x'/></virtualport>", "/network/virtualport",
     "missing required virtualport type"),
    ("<dns><srv service='s' protocol='tcp' port='5'/></dns>", "/network/dns/srv[1]",
     "without a target"),
    ("<dns><txt name='a b' value='v'/></dns>", "/network/dns/txt[1]", "space or comma"),
    ("<dns><host ip='10.0.0.1'><hostname></hostname></host></dns>",
     "/network/dns/host[1]/hostname[1]", "empty <hostname>"),
    ("<dns><host ip='10.0.0.1'/></dns>", "/network/dns/host[1]", "<hostname>"),
    ("<dns><forwarder/></dns>", "/network/dns/forwarder[1]", "addr or domain"),
    ("<dns enable='maybe'/>", "/network/dns", "'yes' or 'no'"),
    ("<ip address='10.0.0.1' prefix='24'><dhcp><host name='-bad' ip='10.0.0.3'/></dhcp></ip>",
     "/network/ip[1]/dhcp/host[1]", "host name"),
    ("<ip address='10.0.0.1' prefix='24'><dhcp><host mac='52:54:00:00:00:01'/></dhcp></ip>",
     "/network/ip[1]/dhcp/host[1]", "missing its ip"),
    (("<ip family='ipv6' address='fd00::1' prefix='64'><dhcp>"
     "<host mac='52:54:00:00:00:01' ip='fd00::5'/></dhcp></ip>"),
     "/network/ip[1]/dhcp/host[1]", "not allowed in an IPv6"),
    ("<ip family='ipv6' address='fd00::1' prefix='64'><tftp root='/x'/></ip>",
     "/network/ip[1]/tftp", "IPv4"),
    ("<bandwidth><inbound peak='5'/></bandwidth>", "/network/bandwidth/inbound",
     "average or floor"),
    ("<bandwidth><inbound average='5' floor='2'/></bandwidth>", "/network/bandwidth/inbound",
     "floor"),
    ("<portgroup/>", "/network/portgroup[1]", "name"),
])
def test_bad_input_names_the_element(body: str, path: str, fragment: str) -> None:
    with pytest.raises(XMLParseError) as exc:
        parse_network(net(body))
    assert exc.value.path == path
    assert fragment in str(exc.value)
    assert str(exc.value).startswith(path + ": ")


def test_missing_name_and_wrong_root() -> None:
    with pytest.raises(XMLParseError, match="missing <name>"):
        parse_network("<network><name></name></network>")
    with pytest.raises(XMLParseError, match="expected <network>"):
        parse_network("<domain><name>x</name></domain>")


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b", ".", ".."])
def test_hostile_names_parse_but_are_kept_verbatim(name: str) -> None:
    # Parsing keeps the name; kvmnet.config.validate refuses it (see test_validate).
    assert parse_network(f"<network><name>{name}</name></network>").name == name


def test_line_breaks_refused_where_they_reach_dnsmasq() -> None:
    for body in ("<dns><txt name='a' value='x&#10;y'/></dns>",
                 "<dns><srv service='s' protocol='tcp' target='t&#13;x'/></dns>",
                 "<dns><srv service='s' protocol='tcp' domain='d&#10;x'/></dns>",
                 "<dns><forwarder domain='d&#10;x'/></dns>",
                 ("<ip address='10.0.0.1' prefix='24'><dhcp><host mac='52:54:00:00:00:01' "
                 "name='a&#10;b' ip='10.0.0.2'/></dhcp></ip>")):
        with pytest.raises(XMLParseError, match="line break"):
            parse_network(net(body))


# -- fragments (net-update) --------------------------------------------------------------

def test_fragment_dhcp_host_partial_and_complete() -> None:
    host = parse_dhcp_host(frag("<host mac='00:16:3e:77:e2:ed'/>"), "/host")
    assert host == DhcpHost(mac="00:16:3e:77:e2:ed")
    with pytest.raises(XMLParseError, match="missing its ip"):
        require_complete_dhcp_host(host, False, "/host")
    name_only = parse_dhcp_host(frag("<host name='tea'/>"), "/host")
    with pytest.raises(XMLParseError, match="ip"):
        require_complete_dhcp_host(name_only, False, "/host")
    full = parse_dhcp_host(frag("<host mac='00:16:3e:77:f0:0d' name='m.example.com' "
                                "ip='192.168.122.12'/>"), "/host")
    require_complete_dhcp_host(full, False, "/host")
    v6 = parse_dhcp_host(frag("<host id='0:3:0:1:0:16:3e:11:22:33' ip='2001:db8::5'/>"), "/h")
    require_complete_dhcp_host(v6, True, "/h")
    with pytest.raises(XMLParseError, match="at least one"):
        parse_dhcp_host(frag("<host/>"), "/host")
    with pytest.raises(XMLParseError, match="invalid character"):
        parse_dhcp_host(frag("<host id='zz' ip='::1'/>"), "/host")


def test_fragment_dhcp_range() -> None:
    rng = parse_dhcp_range(frag("<range start='192.168.122.10' end='192.168.122.100'/>"), "/r")
    assert (rng.start, rng.end, rng.lease) == ("192.168.122.10", "192.168.122.100", None)
    with pytest.raises(XMLParseError, match="end"):
        parse_dhcp_range(frag("<range start='10.0.0.1'/>"), "/r")
    with pytest.raises(XMLParseError, match="mixes"):
        parse_dhcp_range(frag("<range start='10.0.0.1' end='::1'/>"), "/r")
    with pytest.raises(XMLParseError, match="expected <range>"):
        parse_dhcp_range(frag("<host/>"), "/r")


def test_fragment_forward_interface_and_portgroup() -> None:
    assert parse_forward_interface(frag("<interface dev='eth1'/>"), "/i") == ForwardInterface("eth1")
    with pytest.raises(XMLParseError, match="dev"):
        parse_forward_interface(frag("<interface/>"), "/i")
    pg = parse_portgroup(frag("<portgroup name='alice'><vlan trunk='yes'><tag id='888'/>"
                              "<tag id='808'/></vlan><virtualport><parameters "
                              "profileid='alice-profile'/></virtualport></portgroup>"), "/pg")
    assert pg.name == "alice" and pg.vlan is not None and len(pg.vlan.tags) == 2
    assert pg.virtualport is not None and pg.virtualport.param("profileid") == "alice-profile"


def test_fragment_dns_host() -> None:
    h = parse_dns_host(frag("<host><hostname>gateway</hostname></host>"), "/h")
    assert h == DnsHost(ip=None, hostnames=("gateway",))
    with pytest.raises(XMLParseError, match="ip"):
        require_complete_dns_host(h, "/h")
    with pytest.raises(XMLParseError, match="neither"):
        parse_dns_host(frag("<host protocol='name'/>"), "/h")
    with pytest.raises(XMLParseError, match="invalid IP"):
        parse_dns_host(frag("<host ip='192.168.122.333'><hostname>x</hostname></host>"), "/h")


def test_fragment_dns_txt_and_srv() -> None:
    t = parse_dns_txt(frag("<txt name='snowman'/>"), "/t")
    assert t == DnsTxt(name="snowman", value=None)
    with pytest.raises(XMLParseError, match="value"):
        require_complete_dns_txt(t, "/t")
    with pytest.raises(XMLParseError, match="line break"):
        parse_dns_txt(frag("<txt name='e' value='a&#10;dhcp-script=/x'/>"), "/t")
    s = parse_dns_srv(frag("<srv protocol='pudding'/>"), "/s")
    assert s == DnsSrv(protocol="pudding")
    with pytest.raises(XMLParseError, match="service"):
        require_complete_dns_srv(s, "/s")
    full = parse_dns_srv(frag("<srv service='name' protocol='tcp' domain='test-domain-name' "
                              "target='.' port='1024' priority='10' weight='10'/>"), "/s")
    require_complete_dns_srv(full, "/s")
    assert (full.port, full.priority, full.weight) == (1024, 10, 10)
    with pytest.raises(XMLParseError, match="line break"):
        parse_dns_srv(frag("<srv service='l' protocol='tcp' target='a&#10;b'/>"), "/s")
    with pytest.raises(XMLParseError, match="invalid character"):
        parse_dns_srv(frag("<srv service='a.b' protocol='tcp'/>"), "/s")
