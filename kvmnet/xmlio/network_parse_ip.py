"""Parse a network's ``<ip>`` elements (with their ``<dhcp>`` and ``<tftp>``) and ``<route>``s.

Part of the one network reader, :mod:`kvmnet.xmlio.network_parse`, which calls these for each
element (libvirt 11.3.0's ``virNetworkIPDefParseXML``, ``virNetworkDHCPDefParseXML`` and
``virNetDevIPRouteParseXML``): per-attribute checks raise :class:`XMLParseError` with the
element path; the cross-element rules (ranges inside subnets, ...) are in
:mod:`kvmnet.config.validate`.
"""
from __future__ import annotations

import ipaddress

from kvmnet.errors import XMLParseError, quote
from kvmnet.model.network import Dhcp, DhcpHost, DhcpRange, IPDef, Route
from kvmnet.xmlio import values as v
from kvmnet.xmlio.network_fragments import (
    parse_dhcp_host,
    parse_dhcp_range,
    require_complete_dhcp_host,
)

TYPE_CHECKING = False  # typing costs milliseconds of a cold start: annotations only
if TYPE_CHECKING:
    from kvmnet.xmlio.expat_tree import Node


def parse_ip(el: Node, path: str) -> IPDef:
    family = v.attr(el, "family")
    addr_text = v.attr(el, "address")
    if not addr_text:
        raise XMLParseError("missing required address attribute in <ip>; add address='ADDRESS'",
                            path)
    address = v.ip_address(addr_text, path, "address")
    version = v.ip_version(address)
    netmask_text = v.attr(el, "netmask")
    netmask = None if netmask_text is None else v.ip_address(netmask_text, path, "netmask")
    prefix_text = v.attr(el, "prefix")
    prefix = None if prefix_text is None else v.unsigned(prefix_text, path, "prefix",
                                                         maximum=2**32 - 1)
    local_ptr = v.yes_no_attr(el, "localPtr", path)
    if family is None or family == "ipv4":
        if version != 4:
            raise XMLParseError(
                f"{'no' if family is None else 'ipv4'} family specified for non-IPv4 address "
                f"{quote(addr_text)}; add family='ipv6' for an IPv6 address",
                path,
            )
        if netmask is not None:
            if v.ip_version(netmask) != 4:
                raise XMLParseError(f"invalid netmask {quote(netmask_text)}: it must be IPv4", path)
            if prefix:
                raise XMLParseError("<ip> cannot have both a prefix and a netmask; keep one",
                                    path)
        elif prefix is not None and prefix > 32:
            raise XMLParseError(f"invalid IPv4 prefix {prefix}; it must be 0-32", path)
    elif family == "ipv6":
        if version != 6:
            raise XMLParseError(
                f"family 'ipv6' specified for non-IPv6 address {quote(addr_text)}", path)
        if netmask is not None:
            raise XMLParseError("netmask is not allowed for an IPv6 address; use prefix='64'",
                                path)
        if prefix is not None and prefix > 128:
            raise XMLParseError(f"invalid IPv6 prefix {prefix}; it must be 0-128", path)
    else:
        raise XMLParseError(f"unrecognized family {quote(family)}; use 'ipv4' or 'ipv6'", path)

    dhcp_el = v.first_child(el, "dhcp")
    dhcp = None if dhcp_el is None else parse_dhcp(dhcp_el, v.child_path(path, "dhcp"),
                                                    version == 6)
    tftp_root = None
    tftp_el = v.first_child(el, "tftp")
    if tftp_el is not None:
        if version != 4:
            raise XMLParseError("<tftp> is only supported in an IPv4 <ip> element",
                                v.child_path(path, "tftp"))
        tftp_root = v.attr(tftp_el, "root") or None
    return IPDef(address=address, netmask=netmask, prefix=prefix or None, family=family,
                 local_ptr=local_ptr, tftp_root=tftp_root, dhcp=dhcp)


def parse_dhcp(el: Node, path: str, ipv6: bool) -> Dhcp | None:
    ranges: list[DhcpRange] = [
        parse_dhcp_range(r, v.child_path(path, "range", i))
        for i, r in enumerate(v.children(el, "range"), 1)
    ]
    hosts: list[DhcpHost] = []
    for i, h in enumerate(v.children(el, "host"), 1):
        hpath = v.child_path(path, "host", i)
        host = parse_dhcp_host(h, hpath)
        require_complete_dhcp_host(host, ipv6, hpath)
        if host.name is not None:
            v.no_line_breaks(host.name, hpath, "DHCP host name")
        hosts.append(host)
    bootp_file = bootp_server = None
    bootp = v.first_child(el, "bootp")
    # libvirt ignores <bootp> in an IPv6 <ip>: BOOTP is an IPv4 protocol.
    if bootp is not None and not ipv6:
        bpath = v.child_path(path, "bootp")
        bootp_file = v.attr(bootp, "file")
        if not bootp_file:
            raise XMLParseError("missing required file attribute in <bootp>", bpath)
        v.no_line_breaks(bootp_file, bpath, "bootp file")
        server = v.attr(bootp, "server")
        if server is not None:
            bootp_server = v.ip_address(server, bpath, "server")
    if not ranges and not hosts:
        # libvirt formats <dhcp> (and so <bootp>) only with a range or a host, and
        # BOOTP is only served with DHCP: a lone <bootp> would not survive storing.
        return None
    return Dhcp(ranges=tuple(ranges), hosts=tuple(hosts), bootp_file=bootp_file,
                bootp_server=bootp_server)


def parse_route(el: Node, path: str) -> Route:
    family = v.attr(el, "family")
    addr_text = v.attr(el, "address")
    gw_text = v.attr(el, "gateway")
    if not addr_text:
        raise XMLParseError("missing required address attribute in <route>", path)
    if not gw_text:
        raise XMLParseError("missing required gateway attribute in <route>", path)
    address = v.ip_address(addr_text, path, "address")
    gateway = v.ip_address(gw_text, path, "gateway")
    prefix_text = v.attr(el, "prefix")
    prefix = None if prefix_text is None else v.unsigned(prefix_text, path, "prefix",
                                                         maximum=2**32 - 1)
    metric_text = v.attr(el, "metric")
    metric = None
    if metric_text is not None:
        metric = v.unsigned(metric_text, path, "metric", minimum=1, maximum=2**32 - 1)
    netmask_text = v.attr(el, "netmask")
    netmask = None
    want = 6 if family == "ipv6" else 4
    if family not in (None, "ipv4", "ipv6"):
        raise XMLParseError(f"unrecognized family {quote(family)} in <route>; use ipv4 or ipv6", path)
    label = family or "no"
    if v.ip_version(address) != want:
        raise XMLParseError(f"{label} family specified for address {quote(addr_text)} of another "
                            "family; set family to match the address", path)
    if v.ip_version(gateway) != want:
        raise XMLParseError(f"{label} family specified for gateway {quote(gw_text)} of another "
                            "family; set family to match the gateway", path)
    if netmask_text is not None:
        if want == 6:
            raise XMLParseError("netmask is not allowed in an IPv6 <route>; use prefix", path)
        netmask = v.ip_address(netmask_text, path, "netmask", family="ipv4")
        if prefix is not None:
            raise XMLParseError("<route> cannot have both a prefix and a netmask", path)
    if prefix is not None and prefix > (128 if want == 6 else 32):
        raise XMLParseError(f"invalid prefix {prefix} in <route>", path)
    _check_network_address(address, netmask, prefix or 0, path)
    return Route(address=address, gateway=gateway, family=family, netmask=netmask,
                 prefix=prefix, metric=metric)


def _check_network_address(address: str, netmask: str | None, prefix: int, path: str) -> None:
    addr = ipaddress.ip_address(address)
    if netmask is not None:
        mask = int(ipaddress.IPv4Address(netmask))
        masked = int(addr) & mask
    else:
        bits = addr.max_prefixlen
        masked = int(addr) & (((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1))
    if masked != int(addr):
        raise XMLParseError(
            f"address {address!r} in <route> is not a network address for its "
            f"{'netmask' if netmask else 'prefix'}; use the network's first address "
            f"({ipaddress.IPv4Address(masked) if addr.version == 4 else ipaddress.IPv6Address(masked)}) "
            "or give the right prefix",
            path,
        )
