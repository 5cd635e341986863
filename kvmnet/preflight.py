"""Checks made before a network start changes anything on the host.

Every problem is collected and reported at once, each as a diagnosis with the
fix.  Only reads: the links it names (netlink, one request each), the
addresses (one netlink dump, read raw: an address on a link that is down has
no route yet), the routes and listening sockets (/proc/net, as libvirt's
route-collision check does) and PATH.  Nothing is decoded attribute by
attribute in Python, so the checks stay in the milliseconds with a thousand
networks running.  Works on a start program (plain data, kvmnet.program).
"""
from __future__ import annotations

import ipaddress
import shutil

from kvmnet.host import procnet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any, Protocol

    from kvmnet.program import Program

    class HostView(Protocol):
        def link_info(self, name: str) -> dict[str, Any] | None: ...
        def list_addresses(self) -> list[Any]: ...

PROGRAMS = {
    "dnsmasq": "the dnsmasq-base package (it serves DHCP and DNS to the network's guests)",
    "nft": "the nftables package (it holds the network's firewall and NAT rules)",
}


def missing_programs(program: Program, path: str | None = None) -> list[str]:
    problems = []
    if program.get("dnsmasq") is not None and shutil.which("dnsmasq", path=path) is None:
        problems.append(f"dnsmasq not found in PATH: install {PROGRAMS['dnsmasq']}")
    if program.get("nft_start"):
        from kvmnet.host import nftables

        # libnftables in-process is preferred; the nft program is the fallback
        if nftables.libnftables() is None and shutil.which("nft", path=path) is None:
            problems.append("nft not found in PATH and libnftables cannot be loaded: install "
                            + PROGRAMS["nft"])
    return problems


def conflicts(program: Program, host: HostView, *, own_links: Iterable[str] = (),
              owner_of: Callable[[str], str | None] = lambda ifname: None) -> list[str]:
    """Every reason the program cannot start on this host now (empty when it can).

    ``owner_of(ifname)`` names the kvmnet network that owns a link, so that a clash
    with another network says which one (it is asked only when there is a clash).
    """
    problems: list[str] = []
    owned = set(own_links)
    net = program["network"]
    bridge = program["bridge"]["name"] if program.get("bridge") else None

    existing = host.link_info(bridge) if bridge is not None and bridge not in owned else None
    if existing is not None:
        kind = existing.get("kind") or "network"
        problems.append(
            f"network '{net}' wants bridge {bridge}, but a {kind} link with that name already "
            "exists and kvmnet did not create it: choose another name with <bridge name='...'/> "
            "or remove that link")
    for dev in program.get("requires_links", ()):
        if host.link_info(dev) is None:
            problems.append(f"network '{net}' needs the host interface {dev}, which does not "
                            "exist: create it first or change the network's definition")

    ours = [ipaddress.ip_network(f"{a['address']}/{a['prefixlen']}", strict=False)
            for a in program["addresses"]]
    ours += [ipaddress.ip_network(f"{r['dst']}/{r['prefixlen']}", strict=False)
             for r in program["routes"]]
    taken: set[str] = set()  # our addresses already reported as clashing
    if ours:
        seen: set[str] = set()
        for addr in host.list_addresses():
            if addr.ifname == bridge or addr.ifname in owned:
                continue
            other = ipaddress.ip_network(f"{addr.address}/{addr.prefixlen}", strict=False)
            if other.is_link_local or other.prefixlen == 0 or other.is_loopback:
                continue
            for mine in ours:
                if mine.version == other.version and mine.overlaps(other):
                    seen.add(f"{other} {addr.ifname}")
                    taken.update(a["address"] for a in program["addresses"]
                                 if ipaddress.ip_address(a["address"]) in other)
                    owner = owner_of(addr.ifname)
                    where = (f"network '{owner}' ({other} on {addr.ifname})" if owner
                             else f"{other} on {addr.ifname}")
                    problems.append(f"network '{net}' overlaps {where}: choose another subnet")
                    break
        for route in procnet.read_routes():
            if route.prefixlen == 0 or route.ifname == bridge or route.ifname in owned:
                continue
            other = ipaddress.ip_network(f"{route.dst}/{route.prefixlen}", strict=False)
            if other.is_link_local or other.is_multicast or f"{other} {route.ifname}" in seen:
                continue
            for mine in ours:
                if mine.version == other.version and mine.overlaps(other):
                    taken.update(a["address"] for a in program["addresses"]
                                 if ipaddress.ip_address(a["address"]) in other)
                    owner = owner_of(route.ifname)
                    if route.gateway:
                        where = f"the route to {other} via {route.gateway}"
                    elif owner:
                        where = f"network '{owner}' ({other} on {route.ifname})"
                    else:
                        where = f"{other} on {route.ifname}"
                    problems.append(f"network '{net}' overlaps {where}: choose another subnet")
                    break

    if program.get("listens"):
        listeners = procnet.read_listening()
        for address, port, proto in program["listens"]:
            if address in taken:
                continue  # the subnet clash is the problem to fix, not the port
            for hit in procnet.conflicting_listeners([address], port, proto, listeners):
                problems.append(
                    f"network '{net}' needs {proto} port {port} on {address} for DNS, but "
                    f"{hit.address}:{hit.port} is already taken by another program: stop it, "
                    "or disable DNS with <dns enable='no'/>")
                break
    return list(dict.fromkeys(problems))
