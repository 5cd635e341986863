"""What each forward mode is: the one table of per-mode facts and rules.

Every question of the form "does mode X ...?" is answered here and nowhere else: whether the
network creates and owns its bridge (define assigns a bridge name and MAC, the store's claim
index, the XML defaults), which firewall it gets, the define-time rules only that mode has
(``kvmnet.config.validate`` asks :func:`mode_of` instead of comparing modes) and how a guest's
port is plugged into it (:meth:`ModeRules.plug_for`, libvirt's networkAllocatePort branch).

This module imports nothing from kvmnet at import time: the cold paths of define and of the
store (which avoid the model, lxml and the renderers) read it too.  The planning half of a
driver (bridges, addresses, nft documents, dnsmasq files) is in :mod:`.virtual` and
:mod:`.passive`, imported only when a network is planned (:func:`kvmnet.network.drivers.driver_for`).

Open vSwitch is not a forward mode: it is the switch of a bridge-mode network
(``<forward mode='bridge'/>`` + ``<virtualport type='openvswitch'/>``), see
:meth:`HostBridgeRules.switch` and the plug it hands out.
"""
from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~4.5 ms of a cold start: annotations only
if TYPE_CHECKING:
    from typing import Any

    from kvmnet.model.network import ForwardInterface, Network, PciAddress, PortGroup, VirtualPort
    from kvmnet.model.port import Plug


class ModeRules:
    """The facts and rules of one forward mode; one instance per mode in :data:`MODES`."""

    #: ``<forward mode=...>`` ("none": no ``<forward>``, an isolated network)
    name = ""
    #: human name for messages: "NAT network", "bridge network"...
    label = "network"
    #: kvmnet creates this network's bridge and owns it (assigns its name and MAC)
    owns_bridge = False
    #: the mode of its kvmnet firewall (kvmnet.network.firewall.nftables), None: no firewall
    firewall: str | None = None
    #: "module:Class" of the planning driver, imported lazily
    driver = ""
    #: a <bridge> element may name a bridge or set macTableManager in this mode
    bridge_allowed = True
    #: "module:function(conn, net, used) -> net", beside the driver: what the live XML of the
    #: active network adds from live state (a pool), ``used`` its plugged ports per pool device
    #: (:func:`kvmnet.network.drivers.live_view`); "": the definition as it is
    live_view = ""
    #: "module:function(net)": what define checks on the host itself (libvirt's
    #: networkValidate reads sysfs for hostdev pools); raises ValidationError
    define_check = ""

    # -- define-time rules (kvmnet.config.validate calls these in document order) ------------
    def forward_problems(self, net: Network, pool: list[ForwardInterface],
                         addresses: list[PciAddress]) -> list[str]:
        """The mode's rules on ``<forward>`` and on what a network without a bridge of its
        own may not have."""
        out: list[str] = []
        m = self.name
        out += self._forwarding_problems(net, pool)
        out += self._pool_problems(pool, addresses)
        if not self.owns_bridge:
            if net.mac is not None:
                out.append(f"<mac> is not supported with forward mode='{m}' (kvmnet does not "
                           "own the bridge); remove it")
            if net.ips:
                out.append(f"<ip> is not supported with forward mode='{m}'; addresses belong "
                           "on the host's own interfaces")
            if net.dns is not None and (net.dns.txts or net.dns.hosts or net.dns.srvs):
                out.append(f"<dns> records are not supported with forward mode='{m}'")
            if net.domain is not None:
                out.append(f"<domain> is not supported with forward mode='{m}'")
            if net.mtu:
                out.append(f"<mtu> is only allowed in open, route, nat and isolated mode, not "
                           f"in {m}")
        if net.bandwidth is not None and not self.bandwidth_ok(net):
            out.append(f"network-wide <bandwidth> is not supported with forward mode='{m}'")
        return out

    def _forwarding_problems(self, net: Network, pool: list[ForwardInterface]) -> list[str]:
        return []

    def _pool_problems(self, pool: list[ForwardInterface],
                       addresses: list[PciAddress]) -> list[str]:
        if addresses:
            return [(f"forward mode '{self.name}' lists devices by PCI address; that is only "
                     "supported with forward mode='hostdev'")]
        return []

    def device_problem(self, net: Network) -> str | None:
        """Why the network has nothing to attach to, or None (the drivers plan from the same
        answer, so define refuses what start cannot run)."""
        return None

    def bridge_problems(self, net: Network) -> list[str]:
        out: list[str] = []
        br = net.bridge
        if br is None:
            return out
        m = self.name
        if not self.bridge_allowed:
            if br.name:
                out.append(f"bridge name not allowed in {m} mode; remove <bridge name=...>")
            if br.mac_table_manager:
                out.append(f"bridge macTableManager not allowed in {m} mode")
        if not self.owns_bridge:
            if br.delay or br.stp is not None or br.zone:
                out.append(f"bridge delay/stp/zone options are only allowed in route, nat, open "
                           f"and isolated mode, not in {m}")
            fwd = net.forward
            if br.name and fwd is not None and (fwd.interfaces or fwd.pf or fwd.dev):
                out.append(f"a network with forward mode='{m}' can name a bridge or a forward "
                           "dev, but not both")
        return out

    def bandwidth_ok(self, net: Network) -> bool:
        """Whether network-wide and portgroup ``<bandwidth>`` may be set."""
        return self.owns_bridge

    def portgroup_bandwidth_ok(self, net: Network) -> bool:
        return self.bandwidth_ok(net)

    def vlan_ok(self, net: Network) -> bool:
        """Whether the network (or a portgroup without ``<virtualport>``) may carry VLANs."""
        return False

    def portgroup_vlan_ok(self, net: Network, pg: PortGroup) -> bool:
        """Whether portgroup ``pg``, which has a ``<virtualport>``, may carry VLANs."""
        return False

    # -- the running network ----------------------------------------------------------------------
    def variant(self, net: Network) -> ModeRules:
        """The rules whose :attr:`driver` and :attr:`live_view` serve ``net``: the mode's own,
        but where one mode is two kinds of network (:meth:`HostBridgeRules.variant`).  Only the
        driver registry asks (:func:`kvmnet.network.drivers.driver_for`); define's rules are the
        mode's."""
        return self

    def live(self, net: Network) -> Network:
        """``net`` as it runs: what starting it adds to the definition (libvirt's live XML)."""
        return net

    # -- guest ports ---------------------------------------------------------------------------
    def device_pool(self, net: Network) -> tuple[str, ...]:
        """The host devices a guest port of the live network ``net`` may be put on (the
        plugger picks one: :func:`kvmnet.network.drivers.direct.choose`); () when the port
        does not go on a device of a pool."""
        return ()

    def plug_for(self, net: Network, vport: VirtualPort | None, mac_table: str | None) -> Plug:
        """How a guest port on ``net`` is plugged (libvirt's networkAllocatePort per mode);
        raises ValidationError for a ``<virtualport>`` the mode cannot take."""
        raise NotImplementedError


class VirtualRules(ModeRules):
    """nat, route, open, isolated: a bridge kvmnet creates, with dnsmasq and (but open) a
    firewall."""

    owns_bridge = True
    driver = "kvmnet.network.drivers.virtual:VirtualBridgeDriver"
    #: the network needs an <ip> (it routes packets off its bridge)
    needs_ip = True

    def _forwarding_problems(self, net: Network, pool: list[ForwardInterface]) -> list[str]:
        out: list[str] = []
        if not self.needs_ip:
            return out
        m = self.name
        if not net.ips:
            out.append(f"{m} forwarding requested, but no IP address provided; add an <ip> "
                       "element")
        if self.name == "open" and pool:
            out.append("forward dev not allowed with forward mode='open': an open network "
                       "places no restriction on where traffic goes; remove dev/<interface>")
        elif len(pool) > 1:
            out.append(f"multiple forwarding interfaces specified for a {m} network; only one "
                       "is supported")
        return out

    def plug_for(self, net: Network, vport: VirtualPort | None, mac_table: str | None) -> Plug:
        from kvmnet.errors import ValidationError
        from kvmnet.model.port import Plug, PlugType

        if vport is not None:
            raise ValidationError([(f"<virtualport type='{vport.type}'> not supported for "
                                    f"network '{net.name}' which uses IP forwarding")])
        return Plug(type=PlugType.NETWORK, bridge=net.bridge_name, mac_table_manager=mac_table)


class NatRules(VirtualRules):
    name, label, firewall = "nat", "NAT network", "nat"
    driver = "kvmnet.network.drivers.virtual:NatDriver"

    #: the source ports masquerading uses when <nat> names none (libvirt's, shown live as
    #: <nat><port start='1024' end='65535'/></nat>)
    PORTS = (1024, 65535)

    def live(self, net: Network) -> Network:
        from kvmnet.model.frozen import replace
        from kvmnet.model.network import Nat

        fwd = net.forward
        if fwd is None or (fwd.nat is not None and (fwd.nat.port_start or fwd.nat.port_end)):
            return net
        nat = replace(fwd.nat or Nat(), port_start=self.PORTS[0], port_end=self.PORTS[1])
        return replace(net, forward=replace(fwd, nat=nat))


class RouteRules(VirtualRules):
    name, label, firewall = "route", "routed network", "route"
    driver = "kvmnet.network.drivers.virtual:RouteDriver"


class OpenRules(VirtualRules):
    name, label, firewall = "open", "open network", "open"
    driver = "kvmnet.network.drivers.virtual:OpenDriver"


class IsolatedRules(VirtualRules):
    name, label, firewall = "none", "isolated network", "isolated"
    driver = "kvmnet.network.drivers.virtual:IsolatedDriver"
    needs_ip = False


def _has_devices(net: Network) -> bool:
    fwd = net.forward
    return bool(fwd is not None and (fwd.interfaces or fwd.dev or fwd.pf))


def _pool_devs(net: Network) -> tuple[str, ...]:
    fwd = net.forward
    if fwd is None:
        return ()
    return tuple(i.dev for i in fwd.interfaces) or ((fwd.dev,) if fwd.dev else ())


class HostBridgeRules(ModeRules):
    """``<forward mode='bridge'>``: an existing host bridge (a Linux bridge, or an Open vSwitch
    bridge with ``<virtualport type='openvswitch'/>``), or macvtap in bridge mode over the
    forward devices when no bridge is named."""

    name, label = "bridge", "bridge network"
    driver = "kvmnet.network.drivers.passive:HostBridgeDriver"

    def variant(self, net: Network) -> ModeRules:
        # no bridge named: macvtap in bridge mode over the forward devices, a driver of its own
        return self if net.bridge_name else MACVTAP_BRIDGE

    @staticmethod
    def switch(net: Network, vport: VirtualPort | None = None) -> str:
        """The switch backend of the network's bridge: "openvswitch" or "linux"."""
        vport = vport or net.virtualport
        return "openvswitch" if vport is not None and vport.type == "openvswitch" else "linux"

    def device_pool(self, net: Network) -> tuple[str, ...]:
        return () if net.bridge_name else _pool_devs(net)

    def device_problem(self, net: Network) -> str | None:
        if not net.bridge_name and not _has_devices(net):
            return (f"network {net.name!r} has forward mode 'bridge' but names no bridge and no "
                    "forward device: add <bridge name='br0'/> or <forward dev='eth0'/>")
        return None

    def bandwidth_ok(self, net: Network) -> bool:
        return net.bridge_name is not None

    def vlan_ok(self, net: Network) -> bool:
        return self.switch(net) == "openvswitch"

    def portgroup_vlan_ok(self, net: Network, pg: PortGroup) -> bool:
        # A portgroup <virtualport> without type is merged with the network's own, so it
        # inherits the network's type.
        assert pg.virtualport is not None
        pg_type = pg.virtualport.type or (net.virtualport.type if net.virtualport else None)
        return pg_type == "openvswitch"

    def plug_for(self, net: Network, vport: VirtualPort | None, mac_table: str | None) -> Plug:
        from kvmnet.errors import ValidationError
        from kvmnet.model.port import Plug, PlugType

        if not net.bridge_name:  # macvtap in bridge mode; the plugger picks the device
            return Plug(type=PlugType.DIRECT, mode="bridge")
        if vport is not None and vport.type != "openvswitch":
            raise ValidationError([(f"<virtualport type='{vport.type}'> not supported for "
                                    f"network '{net.name}' which uses a bridge device")])
        # The switch (Linux or Open vSwitch: self.switch) picks the plugger, not the plug type.
        return Plug(type=PlugType.BRIDGE, bridge=net.bridge_name, mac_table_manager=mac_table)


class DirectRules(ModeRules):
    """macvtap modes: a guest gets a macvtap on one of the forward devices."""

    label = "macvtap network"
    bridge_allowed = False
    live_view = "kvmnet.network.drivers.direct:live_view"

    def device_problem(self, net: Network) -> str | None:
        if not _has_devices(net):
            return (f"network {net.name!r} has forward mode '{self.name}' but no forward "
                    "device: add <forward dev='eth0'/> or <interface dev='...'/> children")
        return None

    def device_pool(self, net: Network) -> tuple[str, ...]:
        # the live definition lists a <pf>'s VF netdevs as <interface> children
        return _pool_devs(net)

    def plug_for(self, net: Network, vport: VirtualPort | None, mac_table: str | None) -> Plug:
        from kvmnet.model.port import Plug, PlugType

        # the device is the plugger's pick from device_pool, made from live use counts
        return Plug(type=PlugType.DIRECT, mode=self.name)


class MacvtapBridgeRules(DirectRules):
    """``<forward mode='bridge'>`` with devices and no ``<bridge>``: the driver and live view of
    :data:`MACVTAP_BRIDGE`, the variant of :class:`HostBridgeRules` (which has the mode's
    define-time rules, so this is not in :data:`MODES`)."""

    name = "bridge"
    driver = "kvmnet.network.drivers.direct:MacvtapBridgeDriver"


class PrivateRules(DirectRules):
    name = "private"
    driver = "kvmnet.network.drivers.direct:PrivateDriver"


class VepaRules(DirectRules):
    name = "vepa"
    driver = "kvmnet.network.drivers.direct:VepaDriver"


class PassthroughRules(DirectRules):
    name = "passthrough"
    driver = "kvmnet.network.drivers.direct:PassthroughDriver"

    def vlan_ok(self, net: Network) -> bool:
        return True


class HostdevRules(ModeRules):
    """SR-IOV VF pool: a guest gets a VF (a PCI device) of the pool."""

    name, label = "hostdev", "hostdev network"
    driver = "kvmnet.network.drivers.hostdev:HostdevDriver"
    live_view = "kvmnet.network.drivers.hostdev:live_view"
    define_check = "kvmnet.network.drivers.hostdev:define_check"
    bridge_allowed = False

    def _pool_problems(self, pool: list[ForwardInterface],
                       addresses: list[PciAddress]) -> list[str]:
        return [f"hostdev network lists {i.dev!r} by device name; hostdev networks need PCI "
                "<address> elements or a <pf>" for i in pool]

    def device_problem(self, net: Network) -> str | None:
        # libvirt defines a hostdev network without devices (its start then has an empty
        # pool); kvmnet's start refuses it (kvmnet.network.drivers.hostdev)
        return None

    def portgroup_bandwidth_ok(self, net: Network) -> bool:
        return False

    def vlan_ok(self, net: Network) -> bool:
        return True

    def plug_for(self, net: Network, vport: VirtualPort | None, mac_table: str | None) -> Plug:
        from kvmnet.model.port import Plug, PlugType

        # The VF is chosen when the port is plugged, from the live pool (kvmnet.port.plugs.
        # hostdev): the definition alone does not say which VFs are free.
        fwd = net.forward
        return Plug(type=PlugType.HOSTDEV_PCI, address=None,
                    managed=fwd.managed if fwd is not None else None,
                    driver=fwd.driver if fwd is not None else None)


#: bridge mode's macvtap variant (:meth:`HostBridgeRules.variant`)
MACVTAP_BRIDGE = MacvtapBridgeRules()

#: forward mode ("none": isolated) -> its rules; the one registry of modes
MODES: dict[str, ModeRules] = {
    r.name: r for r in (
        NatRules(), RouteRules(), OpenRules(), IsolatedRules(), HostBridgeRules(),
        PrivateRules(), VepaRules(), PassthroughRules(), HostdevRules(),
    )
}


def rules(mode: str) -> ModeRules:
    """The rules of forward mode ``mode`` (its XML value; "none" for no ``<forward>``)."""
    return MODES[mode]


def mode_of(net: Network) -> ModeRules:
    """The rules of ``net``'s forward mode."""
    return MODES[net.forward_mode.value]


def hook(spec: str) -> Any:
    """The function a ``"module:function"`` hook of :class:`ModeRules` names (imported now)."""
    import importlib

    module, _, func = spec.partition(":")
    return getattr(importlib.import_module(module), func)


def owns_bridge(mode: str) -> bool:
    """Whether kvmnet creates and owns the bridge of a network in forward mode ``mode``."""
    rule = MODES.get(mode)
    return rule is not None and rule.owns_bridge
