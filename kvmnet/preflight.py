"""Checks made before a network start changes anything on the host.

Every problem is collected and reported at once, each as a diagnosis with the
fix.  Only reads: links, addresses and routes (netlink), listening sockets
(/proc/net) and PATH.
"""
from __future__ import annotations

import ipaddress
import shutil
from collections.abc import Iterable
from typing import Any, Protocol

from kvmnet.drivers.base import Plan
from kvmnet.host import procnet

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network


class HostView(Protocol):
    def list_links(self) -> list[dict[str, Any]]: ...
    def list_addresses(self) -> list[Any]: ...
    def list_routes(self) -> list[Any]: ...


PROGRAMS = {
    "dnsmasq": "the dnsmasq-base package (it serves DHCP and DNS to the network's guests)",
    "nft": "the nftables package (it holds the network's firewall and NAT rules)",
}


def missing_programs(plan: Plan, path: str | None = None) -> list[str]:
    wanted = []
    if plan.dnsmasq is not None:
        wanted.append("dnsmasq")
    if plan.nft_start:
        wanted.append("nft")
    return [f"{p} not found in PATH: install {PROGRAMS[p]}"
            for p in wanted if shutil.which(p, path=path) is None]


def _overlaps(ours: IPNet, other: IPNet) -> bool:
    return ours.version == other.version and ours.overlaps(other)


def conflicts(plan: Plan, host: HostView, *, own_links: Iterable[str] = ()) -> list[str]:
    """Every reason the plan cannot start on this host now (empty when it can)."""
    problems: list[str] = []
    owned = set(own_links)
    links = {str(link["ifname"]): link for link in host.list_links()}
    net = plan.network

    if plan.bridge is not None and plan.bridge.name in links and plan.bridge.name not in owned:
        kind = links[plan.bridge.name].get("kind") or "network"
        problems.append(
            f"network '{net}' wants bridge {plan.bridge.name}, but a {kind} link with that name "
            "already exists and kvmnet did not create it: choose another name with "
            "<bridge name='...'/> or remove that link")
    for dev in plan.requires_links:
        if dev not in links:
            problems.append(f"network '{net}' needs the host interface {dev}, which does not "
                            "exist: create it first or change the network's definition")

    ours = [a.network for a in plan.addresses]
    ours += [r.network for r in plan.routes]
    bridge = plan.bridge.name if plan.bridge else None
    for addr in host.list_addresses():
        if addr.ifname == bridge or addr.ifname in owned:
            continue
        other = ipaddress.ip_network(f"{addr.address}/{addr.prefixlen}", strict=False)
        if other.is_link_local or other.prefixlen == 0:
            continue
        for mine in ours:
            if _overlaps(mine, other):
                problems.append(
                    f"network '{net}' overlaps {other} on {addr.ifname}: choose another subnet")
    for route in host.list_routes():
        if route.prefixlen == 0 or route.ifname == bridge or route.ifname in owned:
            continue
        other = ipaddress.ip_network(f"{route.dst}/{route.prefixlen}", strict=False)
        if other.is_link_local or other.is_multicast:
            continue
        for mine in ours:
            if _overlaps(mine, other) and not any(
                    p.endswith(f"overlaps {other} on {route.ifname}: choose another subnet")
                    for p in problems):
                via = f"via {route.gateway}" if route.gateway else f"on {route.ifname}"
                problems.append(
                    f"network '{net}' overlaps the route to {other} {via}: choose another subnet")

    listeners = procnet.read_listening()
    for address, port, proto in plan.listens:
        for hit in procnet.conflicting_listeners([address], port, proto, listeners):  # type: ignore[arg-type]
            problems.append(
                f"network '{net}' needs {proto} port {port} on {address} for DNS, but "
                f"{hit.address}:{hit.port} is already taken by another program: stop it, or "
                "disable DNS with <dns enable='no'/>")
            break
    return list(dict.fromkeys(problems))
