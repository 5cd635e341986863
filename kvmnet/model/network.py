"""The virtual network definition: plain, frozen data with no I/O.

Mirrors libvirt's ``virNetworkDef`` (src/conf/network_conf.h).  Parsing lives in
``kvmnet.xmlio.network``, semantic checks in ``kvmnet.config.validate``; nothing here
touches the host.  Addresses are kept as the canonical text libvirt would
format; optional attributes are ``None`` when absent so that a round trip
writes back exactly what was given.
"""
from __future__ import annotations

import enum

from kvmnet.model.forward import PortForward
from kvmnet.model.frozen import frozen


class ForwardMode(str, enum.Enum):
    """``<forward mode=...>``; ``NONE`` is an isolated network (no ``<forward>``)."""

    NONE = "none"
    NAT = "nat"
    ROUTE = "route"
    OPEN = "open"
    BRIDGE = "bridge"
    PRIVATE = "private"
    VEPA = "vepa"
    PASSTHROUGH = "passthrough"
    HOSTDEV = "hostdev"


@frozen
class Lease:
    """``<lease expiry='N' unit='seconds|minutes|hours'/>``; expiry 0 means infinite."""

    expiry: int
    unit: str | None = None


@frozen
class DhcpRange:
    start: str
    end: str
    lease: Lease | None = None


@frozen
class DhcpHost:
    """A static DHCP reservation.  IPv4 hosts use ``mac``; IPv6 use ``id`` (DUID) or ``name``."""

    ip: str | None = None
    mac: str | None = None
    id: str | None = None
    name: str | None = None
    lease: Lease | None = None


@frozen
class Dhcp:
    ranges: tuple[DhcpRange, ...] = ()
    hosts: tuple[DhcpHost, ...] = ()
    bootp_file: str | None = None
    bootp_server: str | None = None


@frozen
class IPDef:
    """One ``<ip>`` element: the bridge's address plus optional DHCP/TFTP service."""

    address: str | None = None
    netmask: str | None = None
    prefix: int | None = None
    family: str | None = None  # 'ipv4' | 'ipv6' as written; None when not given
    local_ptr: bool | None = None
    tftp_root: str | None = None
    dhcp: Dhcp | None = None


@frozen
class Route:
    address: str
    gateway: str
    family: str | None = None
    netmask: str | None = None
    prefix: int | None = None
    metric: int | None = None


@frozen
class Nat:
    ipv6: bool | None = None
    address_start: str | None = None
    address_end: str | None = None
    port_start: int | None = None
    port_end: int | None = None


@frozen
class ForwardInterface:
    dev: str
    connections: int | None = None


@frozen
class PciAddress:
    domain: int
    bus: int
    slot: int
    function: int
    connections: int | None = None


@frozen
class HostdevDriver:
    name: str | None = None
    model: str | None = None


@frozen
class Forward:
    mode: ForwardMode = ForwardMode.NAT
    dev: str | None = None
    managed: bool | None = None
    interfaces: tuple[ForwardInterface, ...] = ()
    addresses: tuple[PciAddress, ...] = ()
    pf: str | None = None
    driver: HostdevDriver | None = None
    nat: Nat | None = None
    # Whether mode= was written: libvirt always formats it, but keep the fact.
    mode_given: bool = True


@frozen
class Bridge:
    name: str | None = None
    stp: bool | None = None
    delay: int | None = None
    mac_table_manager: str | None = None  # 'kernel' | 'libvirt'
    zone: str | None = None


@frozen
class Domain:
    name: str
    local_only: bool | None = None
    register: bool | None = None


@frozen
class DnsForwarder:
    addr: str | None = None
    domain: str | None = None


@frozen
class DnsTxt:
    name: str
    value: str | None = None


@frozen
class DnsSrv:
    service: str | None = None
    protocol: str | None = None
    domain: str | None = None
    target: str | None = None
    port: int | None = None
    priority: int | None = None
    weight: int | None = None


@frozen
class DnsHost:
    ip: str | None = None
    hostnames: tuple[str, ...] = ()


@frozen
class Dns:
    enable: bool | None = None
    forward_plain_names: bool | None = None
    forwarders: tuple[DnsForwarder, ...] = ()
    txts: tuple[DnsTxt, ...] = ()
    srvs: tuple[DnsSrv, ...] = ()
    hosts: tuple[DnsHost, ...] = ()


@frozen
class VlanTag:
    id: int
    native_mode: str | None = None  # 'tagged' | 'untagged'


@frozen
class Vlan:
    tags: tuple[VlanTag, ...] = ()
    trunk: bool | None = None


@frozen
class Rate:
    """One direction of ``<bandwidth>``: kilobytes/s (average, peak, floor), kilobytes (burst)."""

    average: int | None = None
    peak: int | None = None
    burst: int | None = None
    floor: int | None = None


@frozen
class Bandwidth:
    inbound: Rate | None = None
    outbound: Rate | None = None


@frozen
class VirtualPort:
    """``<virtualport type=...><parameters .../></virtualport>``.

    ``parameters`` keeps attribute order as (name, value) pairs: managerid,
    typeid, typeidversion, instanceid, profileid, interfaceid.
    """

    type: str | None = None
    parameters: tuple[tuple[str, str], ...] = ()

    def param(self, key: str) -> str | None:
        return dict(self.parameters).get(key)


@frozen
class PortGroup:
    name: str
    default: bool | None = None
    trust_guest_rx_filters: bool | None = None
    virtualport: VirtualPort | None = None
    bandwidth: Bandwidth | None = None
    vlan: Vlan | None = None


@frozen
class Network:
    name: str
    uuid: str | None = None
    title: str | None = None
    description: str | None = None
    metadata: str | None = None  # serialized <metadata> element, kept verbatim
    connections: int | None = None
    ipv6: bool | None = None
    trust_guest_rx_filters: bool | None = None
    forward: Forward | None = None
    bridge: Bridge | None = None
    mtu: int | None = None
    mac: str | None = None
    domain: Domain | None = None
    dns: Dns | None = None
    vlan: Vlan | None = None
    bandwidth: Bandwidth | None = None
    port_isolated: bool | None = None
    ips: tuple[IPDef, ...] = ()
    routes: tuple[Route, ...] = ()
    virtualport: VirtualPort | None = None
    portgroups: tuple[PortGroup, ...] = ()
    dnsmasq_options: tuple[str, ...] = ()
    # kvmnet's own extension (<kvmnet:forwards>, kvmnet.model.forward)
    forwards: tuple[PortForward, ...] = ()

    @property
    def forward_mode(self) -> ForwardMode:
        return self.forward.mode if self.forward is not None else ForwardMode.NONE

    @property
    def bridge_name(self) -> str | None:
        return self.bridge.name if self.bridge is not None else None
