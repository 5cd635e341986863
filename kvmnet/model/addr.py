"""The prefix of an ``<ip>`` element: libvirt's one rule, in one place.

libvirt derives the prefix of a network address in ``virSocketAddrGetIPPrefix``
(called as ``virNetworkIPDefPrefix``): an explicit ``prefix`` above 0 wins, else
the ``netmask`` (its count of leading one bits, -1 when it has holes), else for
IPv4 the classful default (A=8, B=16, C=24; class D/E has none: -1), for IPv6 64;
the wildcard address (0.0.0.0 or ::) and an absent address give 0 ("unknown").
``prefix='0'`` therefore means "not given", as in libvirt.

Here -1 is ``None``.  Validation, the dnsmasq and nftables renderers, the
drivers' bridge addresses, net-update and the lease listing all call these
functions, so the subnet a definition means cannot differ between them.
Plain functions of the model, no I/O.
"""
from __future__ import annotations

import ipaddress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from kvmnet.model.network import IPDef, Route

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def netmask_prefix(netmask: str) -> int | None:
    """Prefix length of a contiguous IPv4 netmask (``255.255.255.0`` -> 24).

    None when the mask has holes (``255.0.255.0``), is a host mask
    (``0.0.0.255``) or is not an IPv4 address: libvirt accepts netmasks only for
    IPv4 and counts a mask with holes as invalid (virSocketAddrGetNumNetmaskBits).
    """
    try:
        value = int(ipaddress.IPv4Address(netmask))
    except ValueError:
        return None
    ones = value.bit_count()
    if value != (0xFFFFFFFF << (32 - ones)) & 0xFFFFFFFF:
        return None
    return ones


def classful_prefix(address: ipaddress.IPv4Address) -> int | None:
    """The classful prefix of an IPv4 address (A=8, B=16, C=24); None for class D/E."""
    first = int(address) >> 24
    if first & 0x80 == 0:
        return 8
    if first & 0xC0 == 0x80:
        return 16
    if first & 0xE0 == 0xC0:
        return 24
    return None


def address_prefix(address: str | None, netmask: str | None, prefix: int | None) -> int | None:
    """libvirt's virSocketAddrGetIPPrefix; None where libvirt returns -1 (invalid).

    0 when nothing can be known (no address, or the wildcard address without a
    prefix or netmask), as libvirt returns 0 there.
    """
    if prefix is not None and prefix > 0:
        return prefix
    if netmask is not None:
        return netmask_prefix(netmask)
    if address is None:
        return 0
    try:
        addr = ipaddress.ip_address(address)
    except ValueError:
        return None
    if addr.is_unspecified:
        return 0
    if addr.version == 6:
        return 64
    return classful_prefix(addr)


def ip_prefix(ip: IPDef) -> int | None:
    """The prefix length libvirt uses for an ``<ip>`` (virNetworkIPDefPrefix); None when invalid."""
    return address_prefix(ip.address, ip.netmask, ip.prefix)


def route_prefix(route: Route) -> int | None:
    """The prefix length of a ``<route>`` (libvirt's virNetDevIPRouteGetPrefix).

    As for an ``<ip>``, except that an explicit prefix 0 (or netmask 0.0.0.0)
    on the wildcard address is a default route.  The parser only lets a route
    without prefix or netmask have the wildcard address, so such a route is a
    default route too (prefix 0).
    """
    try:
        wildcard = ipaddress.ip_address(route.address).is_unspecified
    except ValueError:
        return None
    if wildcard and (route.prefix == 0 or (route.netmask is not None
                                           and netmask_prefix(route.netmask) == 0)):
        return 0
    return address_prefix(route.address, route.netmask, route.prefix)


def ip_interface(ip: IPDef) -> IPInterface | None:
    """The address of ``ip`` with its prefix (``192.168.122.1/24``), or None when unusable.

    Unusable: no address, an invalid prefix (see :func:`ip_prefix`), or a prefix
    too long for the address family.
    """
    prefix = ip_prefix(ip)
    if ip.address is None or prefix is None:
        return None
    try:
        return ipaddress.ip_interface(f"{ip.address}/{prefix}")
    except ValueError:
        return None


def ip_network(ip: IPDef) -> IPNetwork | None:
    """The subnet of ``ip`` (``192.168.122.0/24``), or None when unusable (see :func:`ip_interface`)."""
    iface = ip_interface(ip)
    return None if iface is None else iface.network
