"""macvtap ("direct") networks: bridge (a device pool and no bridge), private, vepa, passthrough.

Starting such a network creates nothing for its guests: each guest port is a macvtap on one
device of the network's pool, made when the port is plugged (:mod:`kvmnet.port.plugs.macvtap`).
The driver owns the pool and its allocation:

* :func:`pool_of`: the devices, from ``<interface dev=.../>`` children, ``<forward dev=.../>``,
  or a ``<pf dev=.../>``'s virtual functions' netdevs (read from sysfs: the start checks
  there are some, as libvirt's networkCreateInterfacePool; a plug picks among them; the live
  XML lists them as ``<interface>``);
* :func:`live_view`: the active network's live XML, the pool as :func:`pool_of` found it with
  each device's ``connections``;
* :func:`choose`: libvirt's allocation (networkAllocatePort): the least-used device for the
  shared modes, a device of its own for passthrough, a clear error when none is left; the
  use counts come from the network's live port records (:func:`kvmnet.port.plugs.macvtap.
  device_use`), so a crash never leaves them wrong.

Beyond libvirt, host access (bridge mode only): a macvtap guest cannot talk to the host
through the parent device (the kernel hands a macvtap's frames to the wire or to its sibling
macvtaps, never up the parent's own stack).  With ``<metadata><kvmnet:host-access
xmlns:kvmnet='https://kvmnet.org/xmlns/network/1.0' address='192.0.2.10/24'/></metadata>``
the start adds a macvlan in bridge mode on the pool's first device carrying that address:
a sibling of the guests' macvtaps, so host and guests reach each other through it (the
address's subnet route goes through the macvlan; the parent itself should carry no address
in that subnet).  The element lives in ``<metadata>`` so libvirt keeps it unchanged.
"""
from __future__ import annotations

import ipaddress

from kvmnet.errors import ConflictError, KvmnetError, ValidationError
from kvmnet.host.macvtap import pf_netdevs
from kvmnet.model.frozen import replace
from kvmnet.model.modes import MODES
from kvmnet.model.network import ForwardInterface, ForwardMode, Network
from kvmnet.network.drivers.base import AddressSpec, NetworkDriver, Plan, PlanContext

TYPE_CHECKING = False  # annotations only
if TYPE_CHECKING:
    from collections.abc import Mapping

    from kvmnet.api import Connection

#: kvmnet's own XML namespace for what libvirt has no element for
KVMNET_NS = "https://kvmnet.org/xmlns/network/1.0"
#: 802.1Qbg / 802.1Qbh: profiles an external switch applies (through lldpad or the NIC)
SWITCH_PROFILES = ("802.1Qbg", "802.1Qbh")


def configured_pool(net: Network) -> tuple[str, ...]:
    """The pool as written: ``<interface dev>`` children, else ``<forward dev>``."""
    fwd = net.forward
    if fwd is None:
        return ()
    return tuple(i.dev for i in fwd.interfaces) or ((fwd.dev,) if fwd.dev else ())


def pool_of(net: Network) -> tuple[str, ...]:
    """The network's devices: its ``<pf>``'s VF netdevs (sysfs), else the configured pool."""
    fwd = net.forward
    if fwd is not None and fwd.pf and not fwd.interfaces:
        return pf_netdevs(fwd.pf)
    return configured_pool(net)


def choose(network: str, mode: str, pool: tuple[str, ...], used: dict[str, int]) -> str:
    """The device a new port of ``network`` gets (libvirt's networkAllocatePort).

    Passthrough takes a device exclusively: the first unused one.  The shared modes take the
    least used (the first of those in pool order), as libvirt does."""
    if not pool:
        raise ValidationError([(f"network '{network}' has no devices in its pool; add "
                               "<interface dev=.../> children to its <forward>")])
    if mode == "passthrough":
        free = [d for d in pool if not used.get(d)]
        if not free:
            raise ConflictError(
                f"network '{network}' has no free device left: passthrough gives each guest a "
                f"device of its own, and all {len(pool)} ({', '.join(pool)}) are in use; stop "
                "a guest or add <interface dev=.../> devices to the network")
        return free[0]
    return min(pool, key=lambda d: used.get(d, 0))


def with_pf_pool(net: Network) -> Network:
    """As libvirt shows an active network: a ``<pf>``'s VF netdevs (sysfs) as the
    ``<interface>`` pool."""
    fwd = net.forward
    if fwd is None or not fwd.pf or fwd.interfaces:
        return net
    return replace(net, forward=replace(fwd, interfaces=tuple(
        ForwardInterface(dev=d) for d in pf_netdevs(fwd.pf))))


def live_view(conn: Connection, net: Network, used: Mapping[str, int]) -> Network:
    """``net`` (active) as its live XML shows it (the mode's ``ModeRules.live_view``): the pool
    with a ``<pf>``'s devices, each device's ``connections`` from ``used``, derived from the
    port records on every call like the network's own."""
    fwd = net.forward
    if fwd is None or not (fwd.interfaces or fwd.pf):
        return net
    try:
        net = with_pf_pool(net)
    except KvmnetError:
        pass  # the host no longer shows the pool's VFs: show the definition as it is
    return with_counts(net, used)


def with_counts(net: Network, used: Mapping[str, int]) -> Network:
    """``net`` with libvirt's live ``connections`` on each pool device (none: left out)."""
    fwd = net.forward
    if fwd is None or not fwd.interfaces:
        return net
    ifaces = tuple(replace(i, connections=used.get(i.dev) or None) for i in fwd.interfaces)
    return replace(net, forward=replace(fwd, interfaces=ifaces))


def host_access(net: Network) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface | None:
    """The host address asked for with ``<kvmnet:host-access address='A/P'/>``, or None."""
    if not net.metadata or KVMNET_NS not in net.metadata:
        return None
    from lxml import etree

    root = etree.fromstring(net.metadata.encode())
    el = root.find(f"{{{KVMNET_NS}}}host-access")
    if el is None:
        return None
    text = el.get("address") or ""
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        raise ValidationError([(f"<kvmnet:host-access address='{text}'> of network '{net.name}' "
                               "is not an address with a prefix; write e.g. "
                               "address='192.0.2.10/24'")]) from None
    if iface.network.prefixlen == iface.max_prefixlen:
        raise ValidationError([(f"<kvmnet:host-access address='{text}'> needs the LAN's prefix "
                               "(e.g. /24): the host reaches the guests through its subnet")])
    return iface


def host_access_name(net: Network) -> str:
    """The host-access macvlan's name: fixed per network (its UUID), at most 15 characters."""
    return f"kvmnet-{(net.uuid or net.name).replace('-', '')[:8]}"


def host_access_mac(net: Network) -> str:
    """A locally administered MAC fixed per network (from its UUID)."""
    raw = (net.uuid or "").replace("-", "") or net.name.encode().hex()
    raw = (raw + "0" * 12)[:10]
    return "02:" + ":".join(raw[i:i + 2] for i in range(0, 10, 2))


class DirectDriver(NetworkDriver):
    """macvtap modes: nothing is made at start but what host access asks for; the pool's
    devices must exist."""

    label = MODES["vepa"].label

    def plan(self, net: Network, ctx: PlanContext) -> Plan:
        self.require_device(net)
        fwd = net.forward
        pf = fwd.pf if fwd is not None and not fwd.interfaces else None
        # a <pf>'s VFs are read from sysfs when the start runs (the plan stays pure and
        # cacheable): a step checks there are some, ports pick among them when plugged
        pool = (pf,) if pf else configured_pool(net)
        notes: list[str] = []
        vport = net.virtualport
        if vport is not None and vport.type in SWITCH_PROFILES:
            notes.append(
                f"network '{net.name}': <virtualport type='{vport.type}'> is kept, but kvmnet "
                f"does not negotiate {vport.type} profiles (that needs "
                f"{'lldpad and a VDP-capable switch' if vport.type == '802.1Qbg' else 'a NIC with 802.1Qbh support (enic)'}); "
                "guests are plugged without it")
        access = host_access(net)
        addresses: tuple[AddressSpec, ...] = ()
        links: tuple[tuple[str, str, str], ...] = ()
        if access is not None:
            if net.forward_mode != ForwardMode.BRIDGE:
                raise ValidationError([
                    (f"<kvmnet:host-access> of network '{net.name}' needs forward "
                    f"mode='bridge': in {net.forward_mode.value} mode macvtaps do not talk to "
                    "their siblings, so a host macvlan could not reach the guests either")])
            name = host_access_name(net)
            links = ((pool[0], name, host_access_mac(net)),)
            addresses = (AddressSpec(name, str(access.ip), access.network.prefixlen),)
        else:
            notes.append(f"network '{net.name}': the host cannot reach its macvtap guests "
                         "through the parent device (a macvtap limit); see <kvmnet:host-access> "
                         "in the README to give the host a way in")
        return Plan(network=net.name, mode=net.forward_mode, requires_links=pool,
                    addresses=addresses, notes=tuple(notes), host_links=links,
                    requires_vfs=(pf,) if pf else ())

    def live(self, net: Network) -> Network:
        return with_pf_pool(net)  # the first half of live_view, the mode's live XML

    def device_pool(self, net: Network) -> tuple[str, ...]:
        return pool_of(net)


class MacvtapBridgeDriver(DirectDriver):
    """Bridge mode with devices and no ``<bridge>`` (the registry's pick:
    ``HostBridgeRules.variant``)."""

    mode = ForwardMode.BRIDGE


class PrivateDriver(DirectDriver):
    mode = ForwardMode.PRIVATE


class VepaDriver(DirectDriver):
    mode = ForwardMode.VEPA


class PassthroughDriver(DirectDriver):
    mode = ForwardMode.PASSTHROUGH
