"""Checks made before a network start changes anything on the host.

Every problem is collected and reported at once, each as a diagnosis with the
fix.  Only reads: the links it names (netlink, one request each), the
addresses (one netlink dump, read raw: an address on a link that is down has
no route yet), the routes and listening sockets (/proc/net, as libvirt's
route-collision check does) and PATH.  Nothing is decoded attribute by
attribute in Python, so the checks stay in the milliseconds with a thousand
networks running.  Works on a start's steps (:mod:`kvmnet.engine.steps`): what they create,
bind and need.
"""
from __future__ import annotations

import _socket as socket  # the C module: socket.py costs ~5 ms of start-up

from kvmnet.host import procnet
from kvmnet.host.which import which

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from ipaddress import IPv4Network, IPv6Network
    from typing import Any, Protocol

    from kvmnet.engine.step import Step
    from kvmnet.host.nltypes import Link

    class HostView(Protocol):
        def link_info(self, name: str) -> Link | None: ...
        def addresses_within(self, spans: Iterable[tuple[int, int, int]]) -> list[Any]: ...

PROGRAMS = {
    "dnsmasq": "the dnsmasq-base package (it serves DHCP and DNS to the network's guests)",
    "nft": "the nftables package (it holds the network's firewall and NAT rules)",
}


def _span(address: str, prefixlen: int) -> procnet.Span:
    """(IP version, first, last) of the subnet ``address/prefixlen``, as integers."""
    v6 = ":" in address
    raw = socket.inet_pton(socket.AF_INET6 if v6 else socket.AF_INET, address)
    return procnet.span(6 if v6 else 4, int.from_bytes(raw, "big"), prefixlen)


def missing_programs(steps: Iterable[Step], path: str | None = None) -> list[str]:
    kinds = {step.kind for step in steps}
    problems = []
    if "dnsmasq" in kinds and which("dnsmasq", path=path) is None:
        problems.append(f"dnsmasq not found in PATH: install {PROGRAMS['dnsmasq']}")
    if "nft" in kinds:
        from kvmnet.host import nftables

        # libnftables in-process is preferred; the nft program is the fallback
        if nftables.libnftables() is None and which("nft", path=path) is None:
            problems.append("nft not found in PATH and libnftables cannot be loaded: install "
                            + PROGRAMS["nft"])
    return problems


def conflicts(net: str, steps: Iterable[Step], host: HostView, *, own_links: Iterable[str] = (),
              owner_of: Callable[[str], str | None] = lambda ifname: None) -> list[str]:
    """Every reason network ``net``'s steps cannot run on this host now (empty when they can).

    ``owner_of(ifname)`` names the kvmnet network that owns a link, so that a clash
    with another network says which one (it is asked only when there is a clash).
    """
    problems: list[str] = []
    owned = set(own_links)
    by_kind: dict[str, list[Any]] = {}
    for step in steps:
        by_kind.setdefault(step.kind, []).append(step)
    bridges = by_kind.get("link.bridge", [])
    bridge = bridges[0].name if bridges else None
    addresses = [(s.address, s.prefixlen) for s in by_kind.get("ip.addr", ())]
    routes = [(s.dst, s.prefixlen) for s in by_kind.get("ip.route", ())]
    listens = [tuple(x) for s in by_kind.get("dnsmasq", ()) for x in s.listens]

    existing = host.link_info(bridge) if bridge is not None and bridge not in owned else None
    if existing is not None:
        kind = existing.kind or "network"
        problems.append(
            f"network '{net}' wants bridge {bridge}, but a {kind} link with that name already "
            "exists and kvmnet did not create it: choose another name with <bridge name='...'/> "
            "or remove that link")
    for dev in (s.name for s in by_kind.get("link.exists", ())):
        if host.link_info(dev) is None:
            problems.append(f"network '{net}' needs the host interface {dev}, which does not "
                            "exist: create it first or change the network's definition")

    # Integer ranges: with a thousand networks there are thousands of addresses and routes
    # to compare, and ipaddress objects for each would cost tens of milliseconds.
    ours = [_span(address, prefixlen) for address, prefixlen in addresses]
    ours += [_span(dst, prefixlen) for dst, prefixlen in routes]
    taken: set[str] = set()  # our addresses already reported as clashing

    def clash(address: str, prefixlen: int) -> IPv4Network | IPv6Network | None:
        """The other subnet when it overlaps one of ours (and is not link-local etc.)."""
        version, lo, hi = _span(address, prefixlen)
        if not any(v == version and lo <= h and l <= hi for v, l, h in ours):
            return None
        import ipaddress  # only for a clash: ~1.5 ms of every net-start otherwise

        other = ipaddress.ip_network(f"{address}/{prefixlen}", strict=False)
        if other.is_link_local or other.is_loopback or other.is_multicast:
            return None
        taken.update(a for a, _prefixlen in addresses if ipaddress.ip_address(a) in other)
        return other

    if ours:
        seen: set[str] = set()
        for addr in host.addresses_within(ours):
            if addr.ifname == bridge or addr.ifname in owned or addr.prefixlen == 0:
                continue
            other = clash(addr.address, addr.prefixlen)
            if other is not None:
                seen.add(f"{other} {addr.ifname}")
                owner = owner_of(addr.ifname)
                where = (f"network '{owner}' ({other} on {addr.ifname})" if owner
                         else f"{other} on {addr.ifname}")
                problems.append(f"network '{net}' overlaps {where}: choose another subnet")
        for route in procnet.routes_within(ours):
            if route.prefixlen == 0 or route.ifname == bridge or route.ifname in owned:
                continue
            other = clash(route.dst, route.prefixlen)
            if other is None or f"{other} {route.ifname}" in seen:
                continue
            owner = owner_of(route.ifname)
            if route.gateway:
                where = f"the route to {other} via {route.gateway}"
            elif owner:
                where = f"network '{owner}' ({other} on {route.ifname})"
            else:
                where = f"{other} on {route.ifname}"
            problems.append(f"network '{net}' overlaps {where}: choose another subnet")

    for address, port, proto in listens:
        if address in taken or procnet.can_bind(address, port, proto):
            continue  # free, or the subnet clash is the problem to fix, not the port
        hits = procnet.conflicting_listeners([address], port, proto)
        holder = f"{hits[0].address}:{hits[0].port}" if hits else f"{address}:{port}"
        problems.append(
            f"network '{net}' needs {proto} port {port} on {address} for DNS, but {holder} is "
            "already taken by another program: stop it, or disable DNS with <dns enable='no'/>")
    return list(dict.fromkeys(problems))
