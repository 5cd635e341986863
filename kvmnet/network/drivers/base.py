"""What a driver produces: a start plan, pure data rendered from the definition.

A driver never touches the host.  It turns a :class:`~kvmnet.model.network.Network`
into a :class:`Plan` (links, addresses, routes, sysctls, nft documents, what dnsmasq gets,
links that must already exist), and :meth:`Plan.steps` turns a plan into the one ordered
tuple of engine steps (:mod:`kvmnet.engine`) that ``net-start`` runs and ``net-plan``
prints: the only place that orders a network start.
"""
from __future__ import annotations

import ipaddress

from kvmnet.model.frozen import frozen
from kvmnet.model.modes import MODES, ModeRules
from kvmnet.model.network import ForwardMode, Network
from kvmnet.model.port import Plug

TYPE_CHECKING = False  # annotations only: no typing import on define's path from here (kvmnet/tuples.py)
if TYPE_CHECKING:
    from typing import ClassVar, Literal

    from kvmnet.engine.step import Step
    from kvmnet.model.network import VirtualPort
    from kvmnet.network.dnsmasq_setup import DnsmasqSetup

    Scope = Literal["shared", "link"]


@frozen
class BridgeSpec:
    name: str
    stp: bool
    delay: int  # seconds, as in the XML
    mtu: int | None = None
    mac: str | None = None


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


@frozen
class RouteSpec:
    dst: str
    prefixlen: int
    gateway: str
    metric: int | None = None

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(f"{self.dst}/{self.prefixlen}", strict=False)


@frozen
class SysctlSpec:
    key: str
    value: str
    reason: str
    # 'shared' settings (forwarding) serve every network and stay after destroy, as with
    # libvirt; 'link' settings live on our bridge and vanish with it.
    scope: Scope = "link"


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
    # the port forwards' (start, fast start, destroy) documents (kvmnet.network.firewall.forwards)
    nft_forwards: tuple[str, str, str] | None = None
    dnsmasq: DnsmasqSetup | None = None
    # Host links that must exist already (a host bridge, a macvtap parent).
    requires_links: tuple[str, ...] = ()
    # An Open vSwitch bridge that must exist already (checked in OVSDB when the start runs).
    requires_ovs_bridge: str | None = None
    # What the start says to the user (a limit of this host or mode): ``note`` steps, last.
    notes: tuple[str, ...] = ()
    # macvlans (bridge mode) the network owns: (parent, name, MAC), e.g. a direct network's
    # host access (kvmnet.network.drivers.direct)
    host_links: tuple[tuple[str, str, str], ...] = ()
    # SR-IOV PFs whose virtual functions (netdevs) must exist at start: a macvtap pool
    requires_vfs: tuple[str, ...] = ()
    # Steps on devices the network finds rather than makes (an SR-IOV VF pool), first.
    device_steps: tuple[Step, ...] = ()

    def steps(self) -> tuple[Step, ...]:
        """The start, in the one order it is applied and printed.

        Links that must exist (checked by preflight), an Open vSwitch bridge that must exist
        (checked in OVSDB), the bridge (created down), its
        sysctls (the accept_ra guard just before IPv6 forwarding goes on), the bridge up,
        then its addresses -- up first, so that each address brings its routes in one
        kernel call (see LinkUp) -- routes, the nft transaction, the port forwards' nft
        transaction, dnsmasq's files, dnsmasq.
        """
        from kvmnet.engine.steps.ip import AddAddress, AddRoute
        from kvmnet.engine.steps.link import CreateBridge, LinkUp, NeedLink
        from kvmnet.engine.steps.nft import NftTransaction
        from kvmnet.engine.steps.sysctl import IPV6_FORWARDING, KeepRouterAdvertisements, SetSysctl

        out: list[Step] = [NeedLink(name=dev) for dev in self.requires_links]
        out += self.device_steps
        if self.requires_ovs_bridge is not None:
            from kvmnet.engine.steps.ovsnet import NeedOvsBridge

            out.append(NeedOvsBridge(name=self.requires_ovs_bridge, network=self.network))
        if self.requires_vfs or self.host_links:
            from kvmnet.engine.steps.macvtap import CreateMacvtap, NeedVirtualFunctions

            out += [NeedVirtualFunctions(pf=pf) for pf in self.requires_vfs]

            out += [CreateMacvtap(parent=parent, mode="bridge", mac=mac, link_kind="macvlan",
                                  name=name) for parent, name, mac in self.host_links]
        br = self.bridge
        if br is not None:
            out.append(CreateBridge(name=br.name, stp=br.stp, delay=br.delay, mtu=br.mtu,
                                    mac=br.mac))
        for s in self.sysctls:
            if s.key == IPV6_FORWARDING and s.scope == "shared":
                out.append(KeepRouterAdvertisements())
            out.append(SetSysctl(key=s.key, value=s.value, scope=s.scope, reason=s.reason))
        if br is not None:
            out.append(LinkUp(name=br.name))
        out += [AddAddress(ifname=a.ifname, address=a.address, prefixlen=a.prefixlen)
                for a in self.addresses]
        out += [AddRoute(dst=r.dst, prefixlen=r.prefixlen, gateway=r.gateway, metric=r.metric)
                for r in self.routes]
        if self.nft_start:
            out.append(NftTransaction(document=self.nft_start, fast=self.nft_start_fast,
                                      destroy=self.nft_destroy))
        if self.nft_forwards:
            from kvmnet.engine.steps.forwards import ForwardsTransaction

            start, fast, destroy = self.nft_forwards
            out.append(ForwardsTransaction(document=start, fast=fast, destroy=destroy))
        if self.dnsmasq is not None:
            out += self.dnsmasq.steps()
        if self.notes:
            from kvmnet.engine.steps.note import Note

            out += [Note(text=text) for text in self.notes]
        return tuple(out)


@frozen
class PlanContext:
    """Where run-time files go; paths are plain strings so plans stay pure data."""

    dnsmasq_dir: str
    pid_file: str
    lease_helper: str
    servers_file: str
    conf_file: str
    leases_file: str
    root: str  # the state root and the Python the lease helper runs (kvmnet.network.leases)
    python: str
    user: str | None = None


class NetworkDriver:
    """One subclass per forward mode, registered in :mod:`kvmnet.network.drivers`."""

    mode: ClassVar[ForwardMode]
    # Human name for messages: "NAT network", "bridge network"...
    label: ClassVar[str] = "network"

    def plan(self, net: Network, ctx: PlanContext) -> Plan:
        raise NotImplementedError

    @property
    def rules(self) -> ModeRules:
        """The mode's facts and define-time rules (:mod:`kvmnet.model.modes`)."""
        return MODES[self.mode.value]

    @property
    def owns_bridge(self) -> bool:
        """Whether kvmnet creates and owns this network's bridge."""
        return self.rules.owns_bridge

    def require_device(self, net: Network) -> None:
        """The rule define applies (``ModeRules.device_problem``), for a plan made without
        define: raises ValidationError when the network has nothing to attach to."""
        problem = self.rules.device_problem(net)
        if problem is not None:
            from kvmnet.errors import ValidationError

            raise ValidationError([problem])

    def plug_for(self, net: Network, vport: VirtualPort | None, mac_table: str | None) -> Plug:
        """How a guest port on ``net`` is plugged (see ``ModeRules.plug_for``)."""
        return self.rules.plug_for(net, vport, mac_table)

    def live(self, net: Network) -> Network:
        """``net`` with what the host says now, e.g. a ``<pf>``'s devices as its pool (what
        net-dumpxml shows comes from the mode's ``ModeRules.live_view`` hook, which adds the
        port counts).  Default: ``net`` itself."""
        return net

    def device_pool(self, net: Network) -> tuple[str, ...]:
        """The host devices a guest port of the active network may go on (the plugger
        picks one); () when its ports do not go on a pool's device."""
        return self.rules.device_pool(net)
