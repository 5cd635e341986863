"""Networks on a bridge that kvmnet creates: nat, route, open and isolated.

The four modes share the bridge, its addresses and routes, dnsmasq and the
per-bridge IPv6 sysctls; they differ in forwarding and firewall.  Each mode is
its own small class so that the registry, not scattered ``if mode ==`` tests,
decides behaviour.
"""
from __future__ import annotations

from kvmnet.errors import InvalidArgError
from kvmnet.host import sysctl
from kvmnet.model.addr import ip_interface, route_prefix
from kvmnet.model.modes import MODES
from kvmnet.model.network import ForwardMode, Network
from kvmnet.network.dnsmasq_setup import setup_for
from kvmnet.network.drivers.base import (
    AddressSpec,
    BridgeSpec,
    NetworkDriver,
    Plan,
    PlanContext,
    RouteSpec,
    SysctlSpec,
)
from kvmnet.network.firewall.nftables import firewall_for, render_destroy, render_start

TYPE_CHECKING = False  # typing is ~10 ms of a cold net-define (its precompile plans here)
if TYPE_CHECKING:
    from typing import ClassVar


def _ipv6_key(ifname: str, leaf: str) -> str:
    return sysctl.iface_key(6, ifname, leaf)


class VirtualBridgeDriver(NetworkDriver):
    # Does the mode route packets off the bridge (needs kernel forwarding)?
    forwards: ClassVar[bool] = True
    # Does the mode get kvmnet firewall rules?
    firewalled: ClassVar[bool] = True

    def plan(self, net: Network, ctx: PlanContext) -> Plan:
        bridge = net.bridge_name
        if not bridge:
            raise InvalidArgError(
                f"network '{net.name}' has no bridge name: define it first (kvmnet assigns "
                "virbrN) or add <bridge name='...'/>")
        stp = True if net.bridge is None or net.bridge.stp is None else net.bridge.stp
        delay = 0 if net.bridge is None or net.bridge.delay is None else net.bridge.delay
        spec = BridgeSpec(name=bridge, stp=stp, delay=delay, mtu=net.mtu, mac=net.mac)

        addresses: list[AddressSpec] = []
        has_v4 = has_v6 = False
        for ip in net.ips:
            iface = ip_interface(ip)
            if iface is None:
                continue
            addresses.append(AddressSpec(bridge, str(iface.ip), iface.network.prefixlen))
            has_v4 = has_v4 or iface.version == 4
            has_v6 = has_v6 or iface.version == 6
        routes = tuple(self._routes(net))

        sysctls: list[SysctlSpec] = []
        if self.forwards and has_v4:
            sysctls.append(SysctlSpec("net.ipv4.ip_forward", "1",
                                      f"{self.label} forwards IPv4 off {bridge}", "shared"))
        if self.forwards and has_v6:
            sysctls.append(SysctlSpec("net.ipv6.conf.all.forwarding", "1",
                                      f"{self.label} forwards IPv6 off {bridge}", "shared"))
        if has_v6 or net.ipv6:
            # the bridge is a router for its guests: it must not autoconfigure from their RAs
            sysctls.append(SysctlSpec(_ipv6_key(bridge, "disable_ipv6"), "0", "IPv6 wanted", "link"))
            sysctls.append(SysctlSpec(_ipv6_key(bridge, "accept_ra"), "0",
                                      "the bridge routes for its guests; ignore their RAs", "link"))
            sysctls.append(SysctlSpec(_ipv6_key(bridge, "autoconf"), "0",
                                      "no SLAAC address on the bridge", "link"))
        else:
            sysctls.append(SysctlSpec(_ipv6_key(bridge, "disable_ipv6"), "1",
                                      "the network has no IPv6 address", "link"))

        nft_start = nft_fast = nft_destroy = None
        if self.firewalled:
            fw = firewall_for(net)
            if fw is not None:
                nft_start, nft_destroy = render_start(fw), render_destroy(fw)
                nft_fast = render_start(fw, base=False)
        nft_forwards = None
        if net.forwards and nft_start:
            from kvmnet.model.forward import subnets
            from kvmnet.network.firewall.forwards import documents

            nft_forwards = documents(bridge, [str(s) for s in subnets(net)], net.forwards)

        dnsmasq = setup_for(net, ctx, [a.address for a in addresses])
        return Plan(
            network=net.name, mode=net.forward_mode, bridge=spec, addresses=tuple(addresses),
            routes=routes, sysctls=tuple(sysctls), nft_start=nft_start, nft_start_fast=nft_fast,
            nft_destroy=nft_destroy, nft_forwards=nft_forwards, dnsmasq=dnsmasq,
        )

    @staticmethod
    def _routes(net: Network) -> list[RouteSpec]:
        out = []
        for r in net.routes:
            prefix = route_prefix(r)
            if prefix is None:  # the parser refuses such a route; say so if one gets here
                raise InvalidArgError(f"network '{net.name}': <route address='{r.address}'> has no "
                                      "valid prefix or netmask; fix the <route> element")
            out.append(RouteSpec(r.address, prefix, r.gateway, r.metric))
        return out


class NatDriver(VirtualBridgeDriver):
    mode = ForwardMode.NAT
    label = MODES["nat"].label


class RouteDriver(VirtualBridgeDriver):
    mode = ForwardMode.ROUTE
    label = MODES["route"].label


class OpenDriver(VirtualBridgeDriver):
    mode = ForwardMode.OPEN
    label = MODES["open"].label
    firewalled = False


class IsolatedDriver(VirtualBridgeDriver):
    mode = ForwardMode.NONE
    label = MODES["none"].label
    forwards = False
