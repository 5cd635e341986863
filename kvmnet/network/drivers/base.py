"""What a driver produces: a start plan, pure data rendered from the definition.

A driver never touches the host.  It turns a :class:`~kvmnet.model.network.Network`
into a :class:`Plan` (links, addresses, routes, sysctls, nft documents, dnsmasq
files, links that must already exist); ``kvmnet.network.compile`` applies plans through
the host adapters with an undo stack, and ``net-plan`` prints them.
"""
from __future__ import annotations

import ipaddress
from typing import ClassVar, Literal

from kvmnet.model.frozen import frozen
from kvmnet.model.network import ForwardMode, Network
from kvmnet.network.dnsmasq import DnsmasqFiles

Scope = Literal["shared", "link"]


@frozen
class BridgeSpec:
    name: str
    stp: bool
    delay: int  # seconds, as in the XML
    mtu: int | None = None
    mac: str | None = None

    def shell(self) -> str:
        words = ["ip", "link", "add", self.name]
        if self.mac:
            words += ["address", self.mac]
        if self.mtu:
            words += ["mtu", str(self.mtu)]
        words += ["type", "bridge", "stp_state", "1" if self.stp else "0",
                  "forward_delay", str(self.delay * 100)]
        return " ".join(words)


@frozen
class AddressSpec:
    ifname: str
    address: str
    prefixlen: int

    @property
    def family(self) -> int:
        return ipaddress.ip_address(self.address).version

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(f"{self.address}/{self.prefixlen}", strict=False)

    def shell(self) -> str:
        return f"ip addr add {self.address}/{self.prefixlen} dev {self.ifname}"


@frozen
class RouteSpec:
    dst: str
    prefixlen: int
    gateway: str
    metric: int | None = None

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(f"{self.dst}/{self.prefixlen}", strict=False)

    def shell(self) -> str:
        text = f"ip route add {self.network} via {self.gateway}"
        return text + (f" metric {self.metric}" if self.metric is not None else "")


@frozen
class SysctlSpec:
    key: str
    value: str
    reason: str
    # 'shared' settings (forwarding) serve every network and stay after destroy, as with
    # libvirt; 'link' settings live on our bridge and vanish with it.
    scope: Scope = "link"

    def shell(self) -> str:
        return f"sysctl -w {self.key}={self.value}"


@frozen
class Plan:
    network: str
    mode: ForwardMode
    bridge: BridgeSpec | None = None
    addresses: tuple[AddressSpec, ...] = ()
    routes: tuple[RouteSpec, ...] = ()
    sysctls: tuple[SysctlSpec, ...] = ()
    nft_start: str | None = None
    # the same without the base, for when the base is already installed (faster)
    nft_start_fast: str | None = None
    nft_destroy: str | None = None
    dnsmasq: DnsmasqFiles | None = None
    # Host links that must exist already (a host bridge, a macvtap parent).
    requires_links: tuple[str, ...] = ()
    # (address, port, proto) that dnsmasq will bind: checked free before anything changes.
    listens: tuple[tuple[str, int, str], ...] = ()
    notes: tuple[str, ...] = ()


@frozen
class PlanContext:
    """Where run-time files go; paths are plain strings so plans stay pure data."""

    dnsmasq_dir: str
    pid_file: str
    lease_helper: str | None = None
    servers_file: str | None = None
    user: str | None = None


class NetworkDriver:
    """One subclass per forward mode, registered in :mod:`kvmnet.network.drivers`."""

    mode: ClassVar[ForwardMode]
    # Human name for messages: "NAT network", "bridge network"...
    label: ClassVar[str] = "network"

    def plan(self, net: Network, ctx: PlanContext) -> Plan:
        raise NotImplementedError
