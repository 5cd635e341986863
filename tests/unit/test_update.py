"""Unit tests for kvmnet.config.update (net-update on the model), section by section."""
from __future__ import annotations

from typing import Any

import pytest

from kvmnet.config.update import Command, Section, apply_update, parse_command, parse_section
from kvmnet.errors import (
    VIR_ERR_OPERATION_INVALID,
    ConflictError,
    InvalidArgError,
    KvmnetError,
    NotFoundError,
    OperationInvalidError,
    UnsupportedError,
    ValidationError,
    XMLParseError,
)
from kvmnet.model.frozen import replace
from kvmnet.model.network import (
    Dhcp,
    DhcpHost,
    DhcpRange,
    Dns,
    DnsHost,
    DnsSrv,
    DnsTxt,
    Forward,
    ForwardInterface,
    ForwardMode,
    IPDef,
    Network,
    PortGroup,
)

H10 = DhcpHost(mac="00:16:3e:77:e2:ed", name="a.example.com", ip="192.168.122.10")
H11 = DhcpHost(mac="00:16:3e:3e:a9:1a", name="b.example.com", ip="192.168.122.11")
V4 = IPDef(address="192.168.122.1", netmask="255.255.255.0",
           dhcp=Dhcp(ranges=(DhcpRange("192.168.122.2", "192.168.122.254"),), hosts=(H10, H11)))
V4B = IPDef(address="192.168.123.1", netmask="255.255.255.0", family="ipv4")
V6 = IPDef(address="2001:db8:ac10:fd01::1", prefix=64, family="ipv6")


NAT = Network(name="default", ips=(V4, V4B, V6),
              forward=Forward(mode=ForwardMode.NAT, dev="eth1", interfaces=(ForwardInterface("eth1"),)))


def nat(**kw: Any) -> Network:
    return replace(NAT, **kw)


def hosts(net: Network, index: int = 0) -> tuple[DhcpHost, ...]:
    dhcp = net.ips[index].dhcp
    return dhcp.hosts if dhcp else ()


# ------------------------------------------------------------ names

@pytest.mark.parametrize("text,want", [
    ("add", Command.ADD_LAST), ("add-last", Command.ADD_LAST), ("ADD_LAST", Command.ADD_LAST),
    ("add-first", Command.ADD_FIRST), ("ADD_FIRST", Command.ADD_FIRST), ("Modify", Command.MODIFY),
    ("delete", Command.DELETE), ("VIR_NETWORK_UPDATE_COMMAND_DELETE", Command.DELETE),
])
def test_command_names(text: str, want: Command) -> None:
    assert parse_command(text) is want


@pytest.mark.parametrize("text,want", [
    ("ip-dhcp-host", Section.IP_DHCP_HOST), ("IP_DHCP_HOST", Section.IP_DHCP_HOST),
    ("dns-srv", Section.DNS_SRV), ("FORWARD_PF", Section.FORWARD_PF),
    ("VIR_NETWORK_SECTION_PORTGROUP", Section.PORTGROUP),
])
def test_section_names(text: str, want: Section) -> None:
    assert parse_section(text) is want


def test_unknown_names_are_argument_errors() -> None:
    with pytest.raises(InvalidArgError, match="unknown net-update command 'replace'"):
        apply_update(nat(), "replace", "ip-dhcp-host", "<host/>")
    with pytest.raises(InvalidArgError, match="unknown net-update section 'dhcp'.*ip-dhcp-host"):
        apply_update(nat(), "add", "dhcp", "<host/>")


@pytest.mark.parametrize("section,label", [
    ("bridge", "bridge"), ("domain", "domain"), ("ip", "ip"), ("forward", "forward"),
    ("forward-pf", "forward pf"), ("IP", "ip"),
])
def test_unsupported_sections(section: str, label: str) -> None:
    with pytest.raises(UnsupportedError, match=f"can't update '{label}' section of network 'default'"):
        apply_update(nat(), "modify", section, "<bridge name='x'/>")


def test_malformed_fragment_is_a_parse_error_even_for_unsupported_sections() -> None:
    with pytest.raises(XMLParseError):
        apply_update(nat(), "add", "bridge", "<bridge")


@pytest.mark.parametrize("section,fragment,expected", [
    ("ip-dhcp-host", "<range start='192.168.122.3' end='192.168.122.4'/>", "host"),
    ("ip-dhcp-range", "<host mac='00:16:3e:00:00:01' ip='192.168.122.3'/>", "range"),
    ("forward-interface", "<iface dev='eth2'/>", "interface"),
    ("portgroup", "<group name='x'/>", "portgroup"),
    ("dns-host", "<txt name='a' value='b'/>", "host"),
    ("dns-txt", "<srv service='a' protocol='tcp'/>", "txt"),
    ("dns-srv", "<txt name='a' value='b'/>", "srv"),
])
def test_fragment_root_must_match_section(section: str, fragment: str, expected: str) -> None:
    with pytest.raises(XMLParseError, match=f"expecting <{expected}>, while updating network 'default'"):
        apply_update(nat(), "add", section, fragment)


def test_input_network_is_not_changed() -> None:
    net = nat()
    apply_update(net, "add", "ip-dhcp-host", "<host mac='00:16:3e:00:00:01' ip='192.168.122.3'/>")
    assert hosts(net) == (H10, H11)


# ------------------------------------------------------------ ip-dhcp-host

NEW = "<host mac='00:16:3e:77:f0:0d' name='m.example.com' ip='192.168.122.12'/>"
H12 = DhcpHost(mac="00:16:3e:77:f0:0d", name="m.example.com", ip="192.168.122.12")


def test_dhcp_host_add_last_and_first() -> None:
    assert hosts(apply_update(nat(), "add-last", "ip-dhcp-host", NEW)) == (H10, H11, H12)
    assert hosts(apply_update(nat(), "add-first", "ip-dhcp-host", NEW)) == (H12, H10, H11)
    assert hosts(apply_update(nat(), "add", "ip-dhcp-host", NEW.encode())) == (H10, H11, H12)


@pytest.mark.parametrize("fragment,field", [
    ("<host mac='00:16:3E:77:E2:ED' name='new' ip='192.168.122.50'/>", "mac"),
    ("<host mac='00:16:3e:00:00:01' name='b.example.com' ip='192.168.122.50'/>", "name"),
    ("<host mac='00:16:3e:00:00:01' name='new' ip='192.168.122.11'/>", "ip"),
])
def test_dhcp_host_add_duplicate(fragment: str, field: str) -> None:
    with pytest.raises(ConflictError, match=f"existing dhcp host entry .* same {field} .*use 'modify'") as ei:
        apply_update(nat(), "add", "ip-dhcp-host", fragment)
    assert ei.value.code == VIR_ERR_OPERATION_INVALID


@pytest.mark.parametrize("command", ["add", "modify"])
@pytest.mark.parametrize("fragment", ["<host mac='00:16:3e:77:e2:ed'/>", "<host name='tea'/>"])
def test_dhcp_host_partial_only_for_delete(command: str, fragment: str) -> None:
    with pytest.raises(XMLParseError, match="missing its ip attribute"):
        apply_update(nat(), command, "ip-dhcp-host", fragment)


def test_dhcp_host_ipv4_needs_mac_or_name() -> None:
    with pytest.raises(XMLParseError, match="must have a mac or a name"):
        apply_update(nat(), "add", "ip-dhcp-host", "<host ip='192.168.122.3'/>")


def test_dhcp_host_modify_by_mac() -> None:
    out = apply_update(nat(), "modify", "ip-dhcp-host",
                       "<host mac='00:16:3e:77:e2:ed' name='a.example.com' ip='192.168.122.47'/>")
    assert hosts(out) == (DhcpHost(mac="00:16:3e:77:e2:ed", name="a.example.com",
                                   ip="192.168.122.47"), H11)


def test_dhcp_host_modify_by_name_or_ip() -> None:
    out = apply_update(nat(), "modify", "ip-dhcp-host", "<host name='b.example.com' ip='192.168.122.99'/>")
    assert hosts(out)[1] == DhcpHost(name="b.example.com", ip="192.168.122.99")
    out = apply_update(nat(), "modify", "ip-dhcp-host", "<host mac='00:16:3e:00:00:09' ip='192.168.122.10'/>")
    assert hosts(out)[0] == DhcpHost(mac="00:16:3e:00:00:09", ip="192.168.122.10")


def test_dhcp_host_modify_missing() -> None:
    with pytest.raises(NotFoundError, match="couldn't locate an existing dhcp host entry.*use 'add'") as ei:
        apply_update(nat(), "modify", "ip-dhcp-host", NEW)
    assert ei.value.code == VIR_ERR_OPERATION_INVALID


def test_dhcp_host_delete_full_and_partial() -> None:
    full = "<host mac='00:16:3e:77:e2:ed' name='a.example.com' ip='192.168.122.10'/>"
    assert hosts(apply_update(nat(), "delete", "ip-dhcp-host", full)) == (H11,)
    assert hosts(apply_update(nat(), "delete", "ip-dhcp-host", "<host mac='00:16:3e:77:e2:ed'/>")) == (H11,)
    assert hosts(apply_update(nat(), "delete", "ip-dhcp-host", "<host name='b.example.com'/>")) == (H10,)
    assert hosts(apply_update(nat(), "delete", "ip-dhcp-host", "<host ip='192.168.122.11'/>")) == (H10,)


def test_dhcp_host_delete_all_given_attributes_must_match() -> None:
    with pytest.raises(NotFoundError, match="couldn't locate a dhcp host entry matching"):
        apply_update(nat(), "delete", "ip-dhcp-host", "<host mac='00:16:3e:77:e2:ed' ip='192.168.122.11'/>")
    with pytest.raises(XMLParseError):
        apply_update(nat(), "delete", "ip-dhcp-host", "<host/>")


def test_dhcp_host_delete_last_entry_drops_empty_dhcp() -> None:
    net = nat(ips=(IPDef(address="192.168.122.1", prefix=24, dhcp=Dhcp(hosts=(H10,))),))
    out = apply_update(net, "delete", "ip-dhcp-host", "<host mac='00:16:3e:77:e2:ed'/>")
    assert out.ips[0].dhcp is None


def test_dhcp_host_creates_dhcp_element() -> None:
    net = nat(ips=(IPDef(address="192.168.122.1", prefix=24),))
    out = apply_update(net, "add", "ip-dhcp-host", NEW)
    assert out.ips[0].dhcp == Dhcp(hosts=(H12,))


def test_dhcp_host_outside_subnet() -> None:
    with pytest.raises(ValidationError, match="192.168.7.3 is outside the network 192.168.122.0/24"):
        apply_update(nat(), "add", "ip-dhcp-host", "<host mac='00:16:3e:00:00:01' ip='192.168.7.3'/>")


def test_dhcp_host_bad_mac_and_name() -> None:
    with pytest.raises(XMLParseError, match="multicast"):
        apply_update(nat(), "add", "ip-dhcp-host", "<host mac='01:00:5e:00:00:01' ip='192.168.122.3'/>")
    with pytest.raises(XMLParseError, match="invalid MAC address"):
        apply_update(nat(), "add", "ip-dhcp-host", "<host mac='00:16:3e:00:01' ip='192.168.122.3'/>")
    with pytest.raises(XMLParseError, match="must start with a letter or digit"):
        apply_update(nat(), "add", "ip-dhcp-host", "<host name='-x' ip='192.168.122.3'/>")


# parent_index selection over several <ip> elements

V6_DHCP = IPDef(address="2001:db8:ac10:fd01::1", prefix=64, family="ipv6",
                dhcp=Dhcp(hosts=(DhcpHost(name="paul", ip="2001:db8:ac10:fd01::1:21"),)))


def test_parent_index_counts_all_ip_elements() -> None:
    out = apply_update(nat(), "add", "ip-dhcp-host",
                       "<host id='0:3:0:1:0:16:3e:11:22:33' ip='2001:db8:ac10:fd01::1:22'/>", parent_index=2)
    assert hosts(out, 2) == (DhcpHost(id="0:3:0:1:0:16:3e:11:22:33", ip="2001:db8:ac10:fd01::1:22"),)
    assert hosts(out, 0) == (H10, H11)


def test_parent_index_auto_picks_the_fragment_family() -> None:
    out = apply_update(nat(), "add", "ip-dhcp-host", "<host name='paul' ip='2001:db8:ac10:fd01::1:21'/>")
    assert hosts(out, 2) == (DhcpHost(name="paul", ip="2001:db8:ac10:fd01::1:21"),)
    out = apply_update(nat(), "add", "ip-dhcp-host", NEW, parent_index=-1)
    assert hosts(out, 0) == (H10, H11, H12)


def test_parent_index_auto_prefers_the_ip_that_has_dhcp() -> None:
    net = nat(ips=(V4B, V4, V6))
    out = apply_update(net, "add", "ip-dhcp-host", NEW)
    assert hosts(out, 1) == (H10, H11, H12)
    assert out.ips[0].dhcp is None


def test_parent_index_auto_first_ip_of_family_without_dhcp() -> None:
    net = nat(ips=(V6, IPDef(address="10.0.0.1", prefix=8), IPDef(address="10.1.0.1", prefix=16)))
    out = apply_update(net, "add", "ip-dhcp-host", "<host mac='00:16:3e:00:00:01' ip='10.0.0.7'/>")
    assert hosts(out, 1) == (DhcpHost(mac="00:16:3e:00:00:01", ip="10.0.0.7"),)


def test_parent_index_out_of_range() -> None:
    with pytest.raises(InvalidArgError, match="no <ip> element found at index 5.*0..2"):
        apply_update(nat(), "add", "ip-dhcp-host", NEW, parent_index=5)


def test_parent_index_family_mismatch() -> None:
    with pytest.raises(ValidationError, match="address family of a host entry IP must match"):
        apply_update(nat(), "add", "ip-dhcp-host", "<host name='x' ip='192.168.123.5'/>", parent_index=2)
    with pytest.raises(XMLParseError, match="Invalid to specify MAC address.*IPv6"):
        apply_update(nat(), "add", "ip-dhcp-host", "<host mac='00:16:3e:00:00:01' ip='2001:db8:ac10:fd01::9'/>",
                     parent_index=2)


def test_parent_index_second_ipv4_with_dhcp_elsewhere() -> None:
    with pytest.raises(OperationInvalidError, match="dhcp is supported only for a single IPv4 address"):
        apply_update(nat(), "add", "ip-dhcp-host", "<host mac='00:16:3e:00:00:01' ip='192.168.123.5'/>",
                     parent_index=1)


def test_ipv6_host_needs_id_or_name() -> None:
    net = nat(ips=(V4, V6_DHCP))
    with pytest.raises(XMLParseError, match="must have an id or a name"):
        apply_update(net, "add", "ip-dhcp-host", "<host ip='2001:db8:ac10:fd01::1:30'/>", parent_index=1)
    out = apply_update(net, "delete", "ip-dhcp-host", "<host name='paul'/>", parent_index=1)
    assert out.ips[1].dhcp is None


def test_no_ip_elements() -> None:
    with pytest.raises(OperationInvalidError, match="has no <ip> element"):
        apply_update(nat(ips=()), "add", "ip-dhcp-host", NEW)


# ------------------------------------------------------------ ip-dhcp-range

def ranges(net: Network, index: int = 0) -> tuple[DhcpRange, ...]:
    dhcp = net.ips[index].dhcp
    return dhcp.ranges if dhcp else ()


R_OLD = DhcpRange("192.168.122.2", "192.168.122.254")


def test_dhcp_range_add_first_and_last() -> None:
    frag = "<range start='192.168.122.10' end='192.168.122.100'/>"
    new = DhcpRange("192.168.122.10", "192.168.122.100")
    assert ranges(apply_update(nat(), "add-first", "ip-dhcp-range", frag)) == (new, R_OLD)
    assert ranges(apply_update(nat(), "add-last", "ip-dhcp-range", frag)) == (R_OLD, new)


def test_dhcp_range_add_ipv6_picks_ipv6_ip() -> None:
    out = apply_update(nat(), "add", "ip-dhcp-range",
                       "<range start='2001:db8:ac10:fd01::1:10' end='2001:db8:ac10:fd01::1:ff'/>")
    assert ranges(out, 2) == (DhcpRange("2001:db8:ac10:fd01::1:10", "2001:db8:ac10:fd01::1:ff"),)


@pytest.mark.parametrize("start,end,problem", [
    ("10.0.0.10", "10.0.0.100", "not entirely within network 192.168.122.1/24"),
    ("192.168.122.0", "192.168.122.9", "is the network address"),
    ("192.168.122.200", "192.168.122.255", "is the broadcast address"),
    ("192.168.122.90", "192.168.122.20", "is reversed"),
    ("2001:db8::1", "2001:db8::9", "address family of a dhcp range must match"),
])
def test_dhcp_range_checked_against_its_ip(start: str, end: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        apply_update(nat(), "add", "ip-dhcp-range", f"<range start='{start}' end='{end}'/>", parent_index=0)


def test_dhcp_range_too_large() -> None:
    net = nat(ips=(IPDef(address="10.0.0.1", prefix=8),))
    with pytest.raises(ValidationError, match="too large"):
        apply_update(net, "add", "ip-dhcp-range", "<range start='10.0.0.2' end='10.1.0.2'/>")


def test_dhcp_range_duplicate_delete_and_modify() -> None:
    frag = "<range start='192.168.122.2' end='192.168.122.254'/>"
    with pytest.raises(ConflictError, match="existing dhcp range entry"):
        apply_update(nat(), "add", "ip-dhcp-range", frag)
    assert ranges(apply_update(nat(), "delete", "ip-dhcp-range", frag)) == ()
    with pytest.raises(NotFoundError, match="couldn't locate a matching dhcp range"):
        apply_update(nat(), "delete", "ip-dhcp-range", "<range start='192.168.122.2' end='192.168.122.100'/>")
    with pytest.raises(UnsupportedError, match="dhcp ranges cannot be modified"):
        apply_update(nat(), "modify", "ip-dhcp-range", frag)


# ------------------------------------------------------------ forward-interface

def test_forward_interface_add_first_moves_dev() -> None:
    out = apply_update(nat(), "add-first", "forward-interface", "<interface dev='eth47'/>")
    assert out.forward is not None
    assert [i.dev for i in out.forward.interfaces] == ["eth47", "eth1"]
    assert out.forward.dev == "eth47"
    out = apply_update(nat(), "add-last", "forward-interface", "<interface dev='eth47'/>")
    assert out.forward is not None and out.forward.dev == "eth1"


def test_forward_interface_delete_last_clears_dev() -> None:
    out = apply_update(nat(), "delete", "forward-interface", "<interface dev='eth1'/>")
    assert out.forward is not None
    assert out.forward.interfaces == () and out.forward.dev is None


def test_forward_dev_without_interface_list_is_the_pool() -> None:
    net = nat(forward=Forward(mode=ForwardMode.NAT, dev="eth0"))
    out = apply_update(net, "add", "forward-interface", "<interface dev='eth2'/>")
    assert out.forward is not None
    assert [i.dev for i in out.forward.interfaces] == ["eth0", "eth2"]


def test_forward_interface_errors() -> None:
    with pytest.raises(ConflictError, match="existing interface entry"):
        apply_update(nat(), "add", "forward-interface", "<interface dev='eth1'/>")
    with pytest.raises(NotFoundError, match="couldn't find an interface entry.*pool has: eth1"):
        apply_update(nat(), "delete", "forward-interface", "<interface dev='eth47'/>")
    with pytest.raises(UnsupportedError, match="cannot be modified"):
        apply_update(nat(), "modify", "forward-interface", "<interface dev='eth1'/>")
    with pytest.raises(OperationInvalidError, match="has no <forward> element"):
        apply_update(nat(forward=None), "add", "forward-interface", "<interface dev='eth1'/>")
    busy = nat(forward=Forward(mode=ForwardMode.BRIDGE, interfaces=(ForwardInterface("eth1", 2),)))
    with pytest.raises(OperationInvalidError, match="being used by 2 domains"):
        apply_update(busy, "delete", "forward-interface", "<interface dev='eth1'/>")


# ------------------------------------------------------------ portgroup

OVS = Network(name="ovs", forward=Forward(mode=ForwardMode.BRIDGE),
              portgroups=(PortGroup("bob", default=True), PortGroup("alice"), PortGroup("native")))


def names(net: Network) -> list[str]:
    return [g.name for g in net.portgroups]


def test_portgroup_add_modify_delete() -> None:
    assert names(apply_update(OVS, "add-first", "portgroup", "<portgroup name='alison'/>")) == [
        "alison", "bob", "alice", "native"]
    assert names(apply_update(OVS, "add", "portgroup", "<portgroup name='alison'/>"))[-1] == "alison"
    out = apply_update(OVS, "modify", "portgroup", "<portgroup name='alice' trustGuestRxFilters='yes'/>")
    assert names(out) == ["bob", "alice", "native"] and out.portgroups[1].trust_guest_rx_filters is True
    assert names(apply_update(OVS, "delete", "portgroup", "<portgroup name='alice'/>")) == ["bob", "native"]


def test_portgroup_errors() -> None:
    with pytest.raises(ConflictError, match="existing portgroup entry .*alice"):
        apply_update(OVS, "add", "portgroup", "<portgroup name='alice'/>")
    with pytest.raises(NotFoundError, match="couldn't find a portgroup entry.*alison"):
        apply_update(OVS, "modify", "portgroup", "<portgroup name='alison'/>")
    with pytest.raises(NotFoundError, match="portgroups: none"):
        apply_update(nat(), "delete", "portgroup", "<portgroup name='alice'/>")


def test_portgroup_only_one_default() -> None:
    with pytest.raises(ConflictError, match="'bob'.* is already set as the default"):
        apply_update(OVS, "add", "portgroup", "<portgroup name='carol' default='yes'/>")
    with pytest.raises(ConflictError, match="already set as the default"):
        apply_update(OVS, "modify", "portgroup", "<portgroup name='alice' default='yes'/>")
    out = apply_update(OVS, "modify", "portgroup", "<portgroup name='bob' default='yes'/>")
    assert out.portgroups[0].default is True
    out = apply_update(OVS, "delete", "portgroup", "<portgroup name='bob'/>")
    out = apply_update(out, "add", "portgroup", "<portgroup name='carol' default='yes'/>")
    assert out.portgroups[-1].default is True


# ------------------------------------------------------------ dns-host

DNS_HOSTS = nat(dns=Dns(hosts=(
    DnsHost("192.168.122.122", ("pudding",)), DnsHost("192.168.122.1", ("host", "gateway")),
    DnsHost("192.168.122.2", ("shared", "names")),
    DnsHost("fd8f:1391:3a82:150::c0a8:9603", ("shared", "names")))))


def dns_hosts(net: Network) -> list[DnsHost]:
    return list(net.dns.hosts) if net.dns else []


def test_dns_host_add() -> None:
    out = apply_update(nat(), "add", "dns-host", "<host ip='192.168.122.5'><hostname>x</hostname></host>")
    assert dns_hosts(out) == [DnsHost("192.168.122.5", ("x",))]
    # the same name on another address is a legitimate configuration
    out = apply_update(DNS_HOSTS, "add-first", "dns-host",
                       "<host ip='192.168.122.7'><hostname>pudding</hostname></host>")
    assert dns_hosts(out)[0] == DnsHost("192.168.122.7", ("pudding",))


def test_dns_host_add_errors() -> None:
    with pytest.raises(ConflictError, match="already at least one DNS HOST record"):
        apply_update(DNS_HOSTS, "add", "dns-host", "<host ip='192.168.122.1'><hostname>x</hostname></host>")
    with pytest.raises(XMLParseError, match="missing its ip attribute"):
        apply_update(DNS_HOSTS, "add-first", "dns-host", "<host><hostname>gateway</hostname></host>")
    with pytest.raises(XMLParseError, match="at least one <hostname>"):
        apply_update(DNS_HOSTS, "add", "dns-host", "<host ip='192.168.122.9'/>")
    with pytest.raises(KvmnetError):
        apply_update(DNS_HOSTS, "add", "dns-host", "<host ip='192.168.122.333'><hostname>x</hostname></host>")


def test_dns_host_delete() -> None:
    out = apply_update(DNS_HOSTS, "delete", "dns-host", "<host><hostname>gateway</hostname></host>")
    assert [h.ip for h in dns_hosts(out)] == ["192.168.122.122", "192.168.122.2",
                                              "fd8f:1391:3a82:150::c0a8:9603"]
    out = apply_update(DNS_HOSTS, "delete", "dns-host", "<host ip='192.168.122.122'/>")
    assert len(dns_hosts(out)) == 3
    with pytest.raises(OperationInvalidError, match="multiple matching DNS HOST records"):
        apply_update(DNS_HOSTS, "delete", "dns-host", "<host><hostname>shared</hostname></host>")
    with pytest.raises(NotFoundError, match="couldn't locate a matching DNS HOST record"):
        apply_update(DNS_HOSTS, "delete", "dns-host", "<host><hostname>nobody</hostname></host>")
    with pytest.raises(XMLParseError, match="neither an ip attribute nor a <hostname>"):
        apply_update(nat(), "delete", "dns-host", "<host protocol='name'/>")


def test_dns_host_delete_last_drops_dns() -> None:
    net = nat(dns=Dns(hosts=(DnsHost("192.168.122.5", ("x",)),)))
    assert apply_update(net, "delete", "dns-host", "<host ip='192.168.122.5'/>").dns is None


def test_dns_host_modify_matches_by_ip() -> None:
    out = apply_update(DNS_HOSTS, "modify", "dns-host",
                       "<host ip='192.168.122.1'><hostname>gw</hostname><hostname>router</hostname></host>")
    assert dns_hosts(out)[1] == DnsHost("192.168.122.1", ("gw", "router"))
    with pytest.raises(NotFoundError, match="matched by ip"):
        apply_update(DNS_HOSTS, "modify", "dns-host",
                     "<host ip='192.168.122.5'><hostname>host</hostname><hostname>gateway</hostname></host>")


def test_dns_disabled_refuses_records() -> None:
    net = nat(dns=Dns(enable=False))
    with pytest.raises(OperationInvalidError, match="DNS is disabled"):
        apply_update(net, "add", "dns-txt", "<txt name='a' value='b'/>")


# ------------------------------------------------------------ dns-txt

TXT = nat(dns=Dns(txts=(DnsTxt("example", "example value"),)))


def txts(net: Network) -> list[DnsTxt]:
    return list(net.dns.txts) if net.dns else []


def test_dns_txt_add_modify_delete() -> None:
    out = apply_update(TXT, "add-first", "dns-txt", "<txt name='snowman' value='water'/>")
    assert txts(out) == [DnsTxt("snowman", "water"), DnsTxt("example", "example value")]
    out = apply_update(TXT, "modify", "dns-txt", "<txt name='example' value='modified example'/>")
    assert txts(out) == [DnsTxt("example", "modified example")]
    assert apply_update(TXT, "delete", "dns-txt", "<txt name='example'/>").dns is None


def test_dns_txt_errors() -> None:
    with pytest.raises(ConflictError, match="already a DNS TXT record with name 'example'"):
        apply_update(TXT, "add", "dns-txt", "<txt name='example' value='x'/>")
    with pytest.raises(NotFoundError, match="'snowman'.*TXT records: example"):
        apply_update(TXT, "delete", "dns-txt", "<txt name='snowman' value='water'/>")
    with pytest.raises(NotFoundError, match="notexisted"):
        apply_update(TXT, "modify", "dns-txt", "<txt name='notexisted' value='x'/>")
    with pytest.raises(XMLParseError, match="missing its value attribute"):
        apply_update(TXT, "modify", "dns-txt", "<txt name='example'/>")
    with pytest.raises(KvmnetError):
        apply_update(TXT, "add", "dns-txt", "<txt name='a b' value='x'/>")


@pytest.mark.parametrize("command", ["add-first", "modify"])
@pytest.mark.parametrize("brk", ["&#10;", "&#13;"])
def test_dns_txt_value_line_break_rejected(command: str, brk: str) -> None:
    with pytest.raises(KvmnetError, match="line break"):
        apply_update(TXT, command, "dns-txt", f"<txt name='example' value='a{brk}b'/>")


# ------------------------------------------------------------ dns-srv

SRV = DnsSrv(service="name", protocol="tcp", domain="test-domain-name", target=".", port=1024,
             priority=10, weight=10)
SRV_FRAG = ("<srv service='name' protocol='tcp' domain='test-domain-name' target='.' port='1024' "
            "priority='10' weight='10'/>")
DONKEY = DnsSrv(service="name", protocol="udp", domain="donkey.example", target="donkey.example",
                port=53, priority=1, weight=1)


def srvs(net: Network) -> list[DnsSrv]:
    return list(net.dns.srvs) if net.dns else []


def test_dns_srv_add() -> None:
    assert srvs(apply_update(nat(), "add-first", "dns-srv", SRV_FRAG)) == [SRV]
    assert srvs(apply_update(nat(), "add-last", "dns-srv", SRV_FRAG)) == [SRV]
    with pytest.raises(ConflictError, match="already at least one DNS SRV record"):
        apply_update(nat(dns=Dns(srvs=(SRV,))), "add", "dns-srv", SRV_FRAG)
    with pytest.raises(XMLParseError, match="missing its protocol attribute"):
        apply_update(nat(), "add", "dns-srv", "<srv service='name'/>")


def test_dns_srv_delete_matches_given_fields() -> None:
    two = nat(dns=Dns(srvs=(SRV, DONKEY)))
    assert srvs(apply_update(two, "delete", "dns-srv", "<srv protocol='udp'/>")) == [SRV]
    assert apply_update(nat(dns=Dns(srvs=(SRV,))), "delete", "dns-srv", "<srv protocol='tcp'/>").dns is None
    with pytest.raises(OperationInvalidError, match="multiple DNS SRV records"):
        apply_update(two, "delete", "dns-srv", "<srv service='name'/>")
    with pytest.raises(NotFoundError, match="couldn't locate a matching DNS SRV record"):
        apply_update(two, "delete", "dns-srv", "<srv protocol='pudding'/>")
    with pytest.raises(NotFoundError):
        apply_update(nat(), "delete", "dns-srv", "<srv service='name'/>")


def test_dns_srv_modify_unsupported_and_line_breaks() -> None:
    with pytest.raises(UnsupportedError, match="DNS SRV records cannot be modified"):
        apply_update(nat(), "modify", "dns-srv", SRV_FRAG)
    with pytest.raises(KvmnetError, match="line break"):
        apply_update(nat(), "add", "dns-srv",
                     "<srv service='name' protocol='tcp' target='a&#10;b' port='1'/>")
    with pytest.raises(KvmnetError, match="line break"):
        apply_update(nat(), "add", "dns-srv", "<srv service='name' protocol='tcp' domain='a&#13;b'/>")
