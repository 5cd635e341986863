"""Unit tests for the dnsmasq renderer, on hand-built models (no XML parser needed)."""
from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pytest

from kvmnet.errors import ValidationError
from kvmnet.model.network import (
    Bridge,
    Dhcp,
    DhcpHost,
    DhcpRange,
    Dns,
    DnsForwarder,
    DnsHost,
    DnsSrv,
    DnsTxt,
    Domain,
    Forward,
    ForwardMode,
    IPDef,
    Lease,
    Network,
)
from kvmnet.network.dnsmasq import (
    DnsmasqFiles,
    dnsmasq_needed,
    format_addr,
    lease_time,
    ptr_domain,
    render_dnsmasq,
)

CONF_DIR = "/var/lib/libvirt/dnsmasq"
NAT = Forward(mode=ForwardMode.NAT)


def net(**kw: Any) -> Network:
    base: dict[str, Any] = {"name": "n1", "forward": NAT, "bridge": Bridge(name="virbr9")}
    base.update(kw)
    return Network(**base)


def v4(dhcp: Dhcp | None = None, address: str = "192.168.100.1", netmask: str | None = "255.255.255.0",
       **kw: Any) -> IPDef:
    return IPDef(address=address, netmask=netmask, dhcp=dhcp, **kw)


def v6(dhcp: Dhcp | None = None, address: str = "2001:db8:1::1", **kw: Any) -> IPDef:
    return IPDef(address=address, prefix=64, family="ipv6", dhcp=dhcp, **kw)


def render(n: Network, **kw: Any) -> DnsmasqFiles:
    return render_dnsmasq(n, config_dir=CONF_DIR, **kw)


def options(conf: str) -> list[str]:
    return [line for line in conf.splitlines() if not line.startswith("#")]


RANGE = DhcpRange("192.168.100.2", "192.168.100.254")


# ------------------------------------------------------------------ basics

def test_header_and_fixed_lines() -> None:
    conf = render(net(ips=(v4(),))).conf
    lines = conf.splitlines()
    assert lines[2] == "##    virsh net-edit n1"
    assert lines[5] == "## dnsmasq conf file created by libvirt"
    assert options(conf) == [
        "strict-order", "except-interface=lo", "bind-dynamic", "interface=virbr9",
        f"addn-hosts={CONF_DIR}/n1.addnhosts",
    ]
    assert conf.endswith("\n")


def test_no_ip_at_all() -> None:
    n = net()
    files = render(n)
    assert "dhcp-range" not in files.conf
    assert files.hostsfile is None and files.hostsfile_path is None
    assert not dnsmasq_needed(n)


def test_dns_disabled_drops_dns_features() -> None:
    dns = Dns(enable=False, txts=(DnsTxt("t", "v"),), srvs=(DnsSrv("s", "tcp"),),
              forwarders=(DnsForwarder("8.8.8.8"),), forward_plain_names=False,
              hosts=(DnsHost("192.168.100.5", ("h",)),))
    files = render(net(dns=dns, ips=(v4(Dhcp(ranges=(RANGE,)), local_ptr=True),)))
    opts = options(files.conf)
    assert opts[1] == "port=0"
    for unwanted in ("txt-record", "srv-host", "server=", "addn-hosts", "local=", "domain-needed"):
        assert not any(o.startswith(unwanted) for o in opts), unwanted
    assert files.addnhosts_path is None
    assert f"dhcp-hostsfile={CONF_DIR}/n1.hostsfile" in opts
    assert files.aux_files() == {f"{CONF_DIR}/n1.hostsfile": ""}


def test_dns_disabled_without_dhcp_needs_no_dnsmasq() -> None:
    assert not dnsmasq_needed(net(dns=Dns(enable=False), ips=(v4(),)))
    assert dnsmasq_needed(net(ips=(v4(),)))
    assert dnsmasq_needed(net(dns=Dns(enable=False), ips=(v4(Dhcp(ranges=(RANGE,))),)))
    assert dnsmasq_needed(net(dns=Dns(enable=False), ips=(v4(tftp_root="/srv/tftp"),)))
    assert not dnsmasq_needed(net(forward=Forward(mode=ForwardMode.BRIDGE), ips=(v4(),)))


def test_isolated_network_lines() -> None:
    opts = options(render(net(forward=None, ips=(v4(),))).conf)
    i = opts.index("interface=virbr9")
    assert opts[i + 1:i + 4] == ["dhcp-option=3", "no-resolv", "ra-param=*,0,0"]


@pytest.mark.parametrize("mode", [ForwardMode.NAT, ForwardMode.ROUTE, ForwardMode.OPEN])
def test_forwarding_networks_have_no_isolation_lines(mode: ForwardMode) -> None:
    opts = options(render(net(forward=Forward(mode=mode), ips=(v4(),))).conf)
    assert "dhcp-option=3" not in opts and "ra-param=*,0,0" not in opts


# ------------------------------------------------------------------ DHCP

def test_ipv4_dhcp_range_hosts_and_lease_max() -> None:
    hosts = (DhcpHost(ip="192.168.100.10", mac="52:54:00:00:00:01", name="a"),
             DhcpHost(ip="192.168.100.11", mac="52:54:00:00:00:02"),
             DhcpHost(ip="192.168.100.12", name="c"))
    files = render(net(ips=(v4(Dhcp(ranges=(RANGE, DhcpRange("192.168.100.100", "192.168.100.101")),
                                    hosts=hosts)),)))
    opts = options(files.conf)
    assert opts[4:10] == [
        "dhcp-range=192.168.100.2,192.168.100.254,255.255.255.0",
        "dhcp-range=192.168.100.100,192.168.100.101,255.255.255.0",
        "dhcp-no-override", "dhcp-authoritative", "dhcp-lease-max=255",
        f"dhcp-hostsfile={CONF_DIR}/n1.hostsfile",
    ]
    assert files.hostsfile == ("52:54:00:00:00:01,192.168.100.10,a\n"
                               "52:54:00:00:00:02,192.168.100.11\n"
                               "c,192.168.100.12\n")


def test_ipv4_static_only_dhcp() -> None:
    files = render(net(ips=(v4(Dhcp(hosts=(DhcpHost(ip="192.168.100.9", mac="52:54:00:aa:bb:cc"),))),)))
    opts = options(files.conf)
    assert "dhcp-range=192.168.100.1,static" in opts
    assert "dhcp-no-override" in opts and "dhcp-authoritative" in opts
    assert not any(o.startswith("dhcp-lease-max") for o in opts)


def test_empty_dhcp_element_is_no_dhcp() -> None:
    opts = options(render(net(ips=(v4(Dhcp()),))).conf)
    assert not any(o.startswith(("dhcp-", "enable-ra")) for o in opts)


def test_ipv6_only_with_dhcp() -> None:
    hosts = (DhcpHost(ip="2001:db8:1::20", id="0:1:2:3"), DhcpHost(ip="2001:db8:1::21", name="p"),
             DhcpHost(ip="2001:db8:1::22", id="0:4", name="q", lease=Lease(3, "hours")))
    files = render(net(ips=(v6(Dhcp(ranges=(DhcpRange("2001:db8:1::100", "2001:db8:1::1ff"),),
                                    hosts=hosts)),)))
    opts = options(files.conf)
    assert "dhcp-range=2001:db8:1::100,2001:db8:1::1ff,64" in opts
    assert "dhcp-lease-max=256" in opts
    assert "dhcp-no-override" not in opts and "dhcp-authoritative" not in opts
    assert opts[-1] == "enable-ra"
    assert files.hostsfile == ("id:0:1:2:3,[2001:db8:1::20]\n"
                               "p,[2001:db8:1::21]\n"
                               "id:0:4,q,[2001:db8:1::22],3h\n")


def test_ipv6_static_only_has_prefix() -> None:
    opts = options(render(net(ips=(v6(Dhcp(hosts=(DhcpHost(ip="2001:db8:1::5", name="x"),))),))).conf)
    assert "dhcp-range=2001:db8:1::1,static,64" in opts


def test_ipv6_without_dhcp_is_ra_only() -> None:
    files = render(net(ips=(v6(), v6(address="2001:db8:2::1"))))
    opts = options(files.conf)
    assert opts[-2:] == ["dhcp-range=2001:db8:1::1,ra-only", "dhcp-range=2001:db8:2::1,ra-only"]
    assert "enable-ra" not in opts and files.hostsfile_path is None


def test_ipv6_dhcp_suppresses_ra_only_of_other_ipv6() -> None:
    opts = options(render(net(ips=(v6(Dhcp(ranges=(DhcpRange("2001:db8:1::10", "2001:db8:1::20"),))),
                                   v6(address="2001:db8:2::1")))).conf)
    assert "enable-ra" in opts and not any("ra-only" in o for o in opts)


def test_multiple_ipv4_dhcp_only_first_used() -> None:
    ips = (v4(Dhcp(ranges=(RANGE,))), v4(address="192.168.101.1", tftp_root="/srv/tftp"),
           v4(address="10.0.0.1", netmask=None))
    opts = options(render(net(ips=ips)).conf)
    assert [o for o in opts if o.startswith("dhcp-range")] == [
        "dhcp-range=192.168.100.2,192.168.100.254,255.255.255.0"]
    # TFTP comes from any IPv4 <ip>, before the DHCP block
    assert opts.index("tftp-root=/srv/tftp") < opts.index("dhcp-range=192.168.100.2,192.168.100.254,"
                                                          "255.255.255.0")


def test_two_ipv4_dhcp_definitions_refused() -> None:
    ips = (v4(Dhcp(ranges=(RANGE,))),
           v4(Dhcp(ranges=(DhcpRange("192.168.101.2", "192.168.101.9"),)), address="192.168.101.1"))
    with pytest.raises(ValidationError, match="multiple DHCP definitions"):
        render(net(ips=ips))


def test_classful_default_prefix_and_prefix_attr() -> None:
    a = IPDef(address="10.0.0.1", dhcp=Dhcp(ranges=(DhcpRange("10.0.0.2", "10.0.0.9"),)))
    assert "dhcp-range=10.0.0.2,10.0.0.9,255.0.0.0" in render(net(ips=(a,))).conf
    b = IPDef(address="172.16.0.1", prefix=20, dhcp=Dhcp(ranges=(DhcpRange("172.16.1.2", "172.16.1.9"),)))
    assert "dhcp-range=172.16.1.2,172.16.1.9,255.255.240.0" in render(net(ips=(b,))).conf


def test_lease_max_counts_v4_and_v6_ranges() -> None:
    ips = (v4(Dhcp(ranges=(DhcpRange("192.168.100.2", "192.168.100.11"),))),
           v6(Dhcp(ranges=(DhcpRange("2001:db8:1::10", "2001:db8:1::19"),))))
    assert "dhcp-lease-max=20" in render(net(ips=ips)).conf


def test_bootp_lines() -> None:
    d = Dhcp(ranges=(RANGE,), bootp_file="pxe.img", bootp_server="10.1.2.3")
    assert "dhcp-boot=pxe.img,,10.1.2.3" in render(net(ips=(v4(d),))).conf
    d2 = Dhcp(ranges=(RANGE,), bootp_file="pxe.img")
    opts = options(render(net(ips=(v4(d2),))).conf)
    assert opts.index("dhcp-boot=pxe.img") == opts.index("dhcp-authoritative") + 1


def test_tftp_enabled_once() -> None:
    ips = (v4(tftp_root="/a"), v4(address="192.168.101.1", tftp_root="/b"))
    opts = options(render(net(ips=ips)).conf)
    assert opts.count("enable-tftp") == 1
    assert opts[opts.index("enable-tftp") + 1:][:2] == ["tftp-root=/a", "tftp-root=/b"]


@pytest.mark.parametrize("start,end,msg", [
    ("192.168.200.2", "192.168.200.9", "not entirely within"),
    ("192.168.100.9", "192.168.100.2", "reversed"),
    ("192.168.100.0", "192.168.100.9", "network address"),
    ("192.168.100.2", "192.168.100.255", "broadcast"),
])
def test_bad_ranges_refused(start: str, end: str, msg: str) -> None:
    with pytest.raises(ValidationError, match=msg):
        render(net(ips=(v4(Dhcp(ranges=(DhcpRange(start, end),))),)))


def test_too_large_range_refused() -> None:
    ip = IPDef(address="10.0.0.1", prefix=8, dhcp=Dhcp(ranges=(DhcpRange("10.0.0.2", "10.2.0.1"),)))
    with pytest.raises(ValidationError, match="too large"):
        render(net(ips=(ip,)))


# ------------------------------------------------------------------ leases

@pytest.mark.parametrize("lease,text", [
    (Lease(200, "seconds"), "200s"), (Lease(10, "minutes"), "10m"), (Lease(10), "10m"),
    (Lease(1, "hours"), "1h"), (Lease(0), "infinite"), (Lease(0, "hours"), "infinite"), (None, None),
])
def test_lease_time_units(lease: Lease | None, text: str | None) -> None:
    assert lease_time(lease) == text


def test_lease_on_range_and_host() -> None:
    d = Dhcp(ranges=(DhcpRange("192.168.100.2", "192.168.100.254", Lease(1, "hours")),),
             hosts=(DhcpHost(ip="192.168.100.10", mac="52:54:00:00:00:01", name="a", lease=Lease(0)),))
    files = render(net(ips=(v4(d),)))
    assert "dhcp-range=192.168.100.2,192.168.100.254,255.255.255.0,1h" in files.conf
    assert files.hostsfile == "52:54:00:00:00:01,192.168.100.10,a,infinite\n"


def test_bad_lease_unit_refused() -> None:
    with pytest.raises(ValidationError, match="unit"):
        lease_time(Lease(5, "days"))


# ------------------------------------------------------------------ DNS

def test_forwarders_and_no_resolv() -> None:
    dns = Dns(forwarders=(DnsForwarder("8.8.8.8"), DnsForwarder("192.168.1.1", "example.com"),
                          DnsForwarder(domain="local.lan")))
    opts = options(render(net(dns=dns, ips=(v4(),))).conf)
    assert opts[1:5] == ["server=8.8.8.8", "server=/example.com/192.168.1.1", "server=/local.lan/#",
                         "no-resolv"]


def test_domain_only_forwarders_keep_resolv() -> None:
    dns = Dns(forwarders=(DnsForwarder("192.168.1.1", "example.com"),))
    opts = options(render(net(dns=dns, ips=(v4(),))).conf)
    assert "server=/example.com/192.168.1.1" in opts and "no-resolv" not in opts


def test_domain_local_only_and_plain_names() -> None:
    opts = options(render(net(domain=Domain("example.com", local_only=True),
                              dns=Dns(forward_plain_names=False), ips=(v4(),))).conf)
    assert opts[1:6] == ["local=/example.com/", "domain=example.com", "expand-hosts", "domain-needed",
                         "local=//"]


def test_txt_and_srv_records() -> None:
    dns = Dns(txts=(DnsTxt("example", "some value"),), srvs=(
        DnsSrv("ldap", "tcp", "ex.com", "srv.ex.com", 389, 10, 5),
        DnsSrv("a", "udp", None, "t.ex.com", None, None, 7),
        DnsSrv("b", "tcp", "ex.com", "t.ex.com", 80),
        DnsSrv("c", "tcp", "ex.com", ".", 80, 1, 1),
        DnsSrv("d", "tcp"),
    ))
    opts = options(render(net(dns=dns, ips=(v4(),))).conf)
    i = opts.index("txt-record=example,some value")
    assert opts[i + 1:i + 6] == [
        "srv-host=_ldap._tcp.ex.com,srv.ex.com,389,10,5",
        "srv-host=_a._udp,t.ex.com,1,0,7",
        "srv-host=_b._tcp.ex.com,t.ex.com,80",
        "srv-host=_c._tcp.ex.com",
        "srv-host=_d._tcp",
    ]


def test_srv_without_protocol_refused() -> None:
    with pytest.raises(ValidationError, match="protocol"):
        render(net(dns=Dns(srvs=(DnsSrv("x", None),)), ips=(v4(),)))


def test_addn_hosts_grouped_by_address() -> None:
    dns = Dns(hosts=(DnsHost("192.168.100.1", ("gw", "router")), DnsHost("2001:db8::0:1", ("six",)),
                     DnsHost("192.168.100.1", ("more",))))
    files = render(net(dns=dns, ips=(v4(),)))
    assert files.addnhosts == "192.168.100.1\tgw\trouter\tmore\t\n2001:db8::1\tsix\t\n"
    assert files.aux_files() == {f"{CONF_DIR}/n1.addnhosts": files.addnhosts}


def test_local_ptr_zones() -> None:
    ips = (v4(local_ptr=True), v6(local_ptr=True))
    opts = options(render(net(ips=ips)).conf)
    assert opts[1:3] == ["local=/100.168.192.in-addr.arpa/",
                         "local=/0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa/"]
    assert ptr_domain(ipaddress.ip_address("10.1.2.3"), 16) == "1.10.in-addr.arpa"


def test_local_ptr_unaligned_prefix_refused() -> None:
    with pytest.raises(ValidationError, match="cannot be automatically created"):
        render(net(ips=(v4(netmask="255.255.255.128", local_ptr=True),)))


def test_mtu_and_dnsmasq_options_order() -> None:
    n = net(mtu=9000, ips=(v4(Dhcp(ranges=(RANGE,))), v6()),
            dnsmasq_options=("foo=bar", "cname=*.a.example,b.example"))
    opts = options(render(n).conf)
    assert opts[-4:] == ["dhcp-option=option:mtu,9000", "dhcp-range=2001:db8:1::1,ra-only",
                         "foo=bar", "cname=*.a.example,b.example"]


# ------------------------------------------------------------------ names, paths, run time

def test_name_escaped_in_paths_but_not_header() -> None:
    # (a '"' is refused: kvmnet's run-time paths in the conf hold the name unescaped)
    files = render(net(name="a'b<&>", ips=(v4(Dhcp(ranges=(RANGE,))),)))
    assert "##    virsh net-edit a'b<&>\n" in files.conf
    escaped = "a&apos;b&lt;&amp;&gt;"
    assert files.hostsfile_path == f"{CONF_DIR}/{escaped}.hostsfile"
    assert f"addn-hosts={CONF_DIR}/{escaped}.addnhosts" in files.conf


def test_runtime_keys_only_when_asked() -> None:
    n = net(ips=(v4(Dhcp(ranges=(RANGE,))),))
    plain = options(render(n).conf)
    assert not any(o.startswith(("pid-file", "user=", "dhcp-script", "dhcp-leasefile", "leasefile-ro"))
                   for o in plain)
    files = render(n, pid_file="/run/kvmnet/n1.pid", lease_helper="/usr/libexec/kvmnet-leases",
                   user="kvmnet-dnsmasq", group="kvmnet", script_user="kvmnet-dnsmasq")
    opts = options(files.conf)
    i = opts.index("pid-file=/run/kvmnet/n1.pid")
    assert opts[i:i + 6] == ["pid-file=/run/kvmnet/n1.pid", "user=kvmnet-dnsmasq", "group=kvmnet",
                             "leasefile-ro", "dhcp-script=/usr/libexec/kvmnet-leases",
                             "dhcp-scriptuser=kvmnet-dnsmasq"]
    assert opts[i + 6] == "except-interface=lo"
    own = options(render(n, lease_helper="/h", lease_file="/var/lib/kvmnet/n1.leases").conf)
    assert "dhcp-leasefile=/var/lib/kvmnet/n1.leases" in own and "leasefile-ro" not in own


def test_bridge_override_and_missing_bridge() -> None:
    assert "interface=br-x" in render(net(bridge=None, ips=(v4(),)), bridge="br-x").conf
    with pytest.raises(ValidationError, match="no bridge name"):
        render(net(bridge=None, ips=(v4(),)))


def test_non_bridge_forward_mode_refused() -> None:
    with pytest.raises(ValidationError, match="forward mode 'bridge'"):
        render(net(forward=Forward(mode=ForwardMode.BRIDGE), ips=(v4(),)))


def test_invalid_address_refused() -> None:
    with pytest.raises(ValidationError, match="not a valid"):
        render(net(ips=(v4(Dhcp(ranges=(DhcpRange("192.168.100.2", "nope"),))),)))


def test_glibc_style_ipv6_formatting() -> None:
    assert format_addr(ipaddress.ip_address("::ffff:1.2.3.4")) == "::ffff:1.2.3.4"
    assert format_addr(ipaddress.ip_address("::1.2.3.4")) == "::1.2.3.4"
    assert format_addr(ipaddress.ip_address("::2")) == "::2"
    assert format_addr(ipaddress.ip_address("2001:DB8:0:0:1:0:0:1")) == "2001:db8::1:0:0:1"
    assert format_addr(ipaddress.ip_address("2001:db8:0:1:1:1:1:1")) == "2001:db8:0:1:1:1:1:1"


# ------------------------------------------------------------------ injection

@pytest.mark.parametrize("build,where", [
    (lambda: net(dns=Dns(txts=(DnsTxt("t", "v\ndhcp-script=/tmp/x"),)), ips=(v4(),)), "txt"),
    (lambda: net(dns=Dns(txts=(DnsTxt("t\r", "v"),)), ips=(v4(),)), "txt"),
    (lambda: net(dns=Dns(srvs=(DnsSrv("s", "tcp", "d\ndhcp-script=/x", "t"),)), ips=(v4(),)), "srv"),
    (lambda: net(dns=Dns(srvs=(DnsSrv("s", "tcp", "d", "t\nport=0"),)), ips=(v4(),)), "srv"),
    (lambda: net(dns=Dns(hosts=(DnsHost("192.168.100.3", ("h\nx",)),)), ips=(v4(),)), "hostname"),
    (lambda: net(dnsmasq_options=("foo=bar\nconf-file=/x",), ips=(v4(),)), "dnsmasq:option"),
    (lambda: net(name="n\nconf-file=/x", ips=(v4(),)), "network name"),
    (lambda: net(domain=Domain("ex.com\nlocal=/"), ips=(v4(),)), "domain"),
    (lambda: net(ips=(v4(Dhcp(hosts=(DhcpHost(ip="192.168.100.5", mac="52:54:00:00:00:01",
                                              name="a\n00:11:22:33:44:55,192.168.100.6"),))),)),
     "host"),
    (lambda: net(ips=(v4(tftp_root="/srv\x00"),)), "tftp"),
])
def test_line_injection_refused(build: Callable[[], Network], where: str) -> None:
    with pytest.raises(ValidationError) as exc:
        render(build())
    assert where in str(exc.value) and "inject" in str(exc.value)


def test_injection_in_runtime_argument_refused() -> None:
    with pytest.raises(ValidationError, match="pid_file"):
        render(net(ips=(v4(),)), pid_file="/run/x.pid\nuser=root")


def test_all_injection_problems_reported_at_once() -> None:
    n = net(dns=Dns(txts=(DnsTxt("a", "1\n2"), DnsTxt("b", "3\r4"))), ips=(v4(),))
    with pytest.raises(ValidationError) as exc:
        render(n)
    assert len(exc.value.problems) == 2


def test_tab_is_refused_in_values() -> None:
    # dnsmasq reads a tab as a space: the TXT data would not be what the definition says
    with pytest.raises(ValidationError, match="control character"):
        render(net(dns=Dns(txts=(DnsTxt("t", "a\tb"),)), ips=(v4(),)))
