"""A host interface definition (libvirt's interface XML): plain, frozen data with no I/O.

Mirrors libvirt's ``virInterfaceDef`` (src/conf/interface_conf.h).  One class describes a
top-level interface and the interfaces nested inside a bridge or bond; nested ones carry no
start mode, MTU or addressing (libvirt neither reads nor writes those below the top level,
because subordinate interfaces inherit them from their master).

Values that libvirt keeps as the text it was given (addresses, the bridge delay, the ARP target)
are kept as text here too, so that formatting a parsed definition writes back exactly what was
read; the parser has already checked that the text means what the schema says.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: ``<interface type=...>`` values, in libvirt's enum order.
TYPES = ("ethernet", "bridge", "bond", "vlan")
#: ``<start mode=...>``.
START_MODES = ("none", "onboot", "hotplug")
#: ``<link state=...>`` (virNetDevIfState; libvirt writes nothing for the "unset" value).
LINK_STATES = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")
#: ``<bond mode=...>``.
BOND_MODES = ("balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad",
              "balance-tlb", "balance-alb")
MII_CARRIERS = ("ioctl", "netif")
ARP_VALIDATE = ("none", "active", "backup", "all")


@dataclass(frozen=True, slots=True)
class IPAddress:
    """``<ip address=... prefix=.../>``; ``prefix`` 0 means "not given" (libvirt's convention)."""

    address: str
    prefix: int = 0


@dataclass(frozen=True, slots=True)
class Protocol:
    """``<protocol family='ipv4|ipv6'>``: DHCP, SLAAC, static addresses and a gateway."""

    family: str
    autoconf: bool = False  # ipv6 only
    dhcp: bool = False
    peerdns: bool | None = None  # only meaningful with dhcp
    ips: tuple[IPAddress, ...] = ()
    gateway: str | None = None  # <route gateway=.../>: the default route


@dataclass(frozen=True, slots=True)
class Link:
    """``<link speed='Mb/s' state='...'/>``: reported link status (not configuration)."""

    speed: int = 0
    state: str | None = None


@dataclass(frozen=True, slots=True)
class MiiMon:
    freq: int
    downdelay: int = 0
    updelay: int = 0
    carrier: str | None = None


@dataclass(frozen=True, slots=True)
class ArpMon:
    interval: int
    target: str
    validate: str | None = None


@dataclass(frozen=True, slots=True)
class BridgeDef:
    """``<bridge stp=... delay=...>`` and its ports (ethernet, vlan or bond interfaces)."""

    stp: bool | None = None
    delay: str | None = None  # seconds, as written (a non-negative decimal)
    interfaces: tuple[InterfaceDef, ...] = ()

    @property
    def delay_seconds(self) -> float:
        return float(self.delay) if self.delay is not None else 0.0


@dataclass(frozen=True, slots=True)
class BondDef:
    """``<bond mode=...>`` with at most one link monitor and its (ethernet) slaves."""

    mode: str | None = None
    miimon: MiiMon | None = None
    arpmon: ArpMon | None = None
    interfaces: tuple[InterfaceDef, ...] = ()


@dataclass(frozen=True, slots=True)
class VlanDef:
    """``<vlan tag=N><interface name='DEV'/></vlan>``: 802.1Q tag on top of DEV."""

    tag: int
    device: str


@dataclass(frozen=True, slots=True)
class InterfaceDef:
    """One ``<interface>``; exactly the part for its ``type`` is set (bridge, bond or vlan)."""

    type: str
    name: str
    start_mode: str | None = None
    mtu: int = 0  # 0: not given
    protocols: tuple[Protocol, ...] = ()
    link: Link = field(default_factory=Link)
    mac: str | None = None  # ethernet only
    bridge: BridgeDef | None = None
    bond: BondDef | None = None
    vlan: VlanDef | None = None

    def protocol(self, family: str) -> Protocol | None:
        return next((p for p in self.protocols if p.family == family), None)

    @property
    def children(self) -> tuple[InterfaceDef, ...]:
        """The interfaces nested directly inside (bridge ports or bond slaves)."""
        if self.bridge is not None:
            return self.bridge.interfaces
        if self.bond is not None:
            return self.bond.interfaces
        return ()

    def walk(self) -> tuple[InterfaceDef, ...]:
        """This interface and every interface nested in it, depth first."""
        out: list[InterfaceDef] = [self]
        for child in self.children:
            out.extend(child.walk())
        return tuple(out)

    def macs(self) -> tuple[str, ...]:
        """Every MAC address the definition names (its own and nested ones), lower-cased."""
        return tuple(d.mac.lower() for d in self.walk() if d.mac)

    def lower_devices(self) -> tuple[str, ...]:
        """Names of host devices this definition takes over: nested interfaces and a VLAN's
        underlying device."""
        out = [d.name for d in self.walk()[1:]]
        out += [d.vlan.device for d in self.walk() if d.vlan is not None]
        return tuple(out)
