"""A host device (libvirt's node-device XML): plain, frozen data with no I/O.

Mirrors libvirt's ``virNodeDeviceDef`` (src/conf/node_device_conf.h).  The capabilities that
networking needs -- the machine (``system``), PCI functions with their SR-IOV relations,
IOMMU group, NUMA node and PCIe link (``pci``), and network interfaces (``net``) -- are typed
records, because kvmnet builds them from sysfs and reads them (VF pools, ``nodedev-detach``).
The other capabilities libvirt knows (storage, SCSI, USB, DRM, mdev, s390 ccw/css/ap, vdpa) are
kept as :class:`OtherCap`: their elements in libvirt's order, checked against its per-type
element table by the parser (:mod:`kvmnet.xmlio.nodedev_parse`), so that any node-device
document reads and formats back as libvirt writes it.

Names follow libvirt's udev backend: ``computer``, ``pci_DDDD_BB_SS_F``, ``net_IF_MAC`` (the
MAC's colons as ``_``); :func:`pci_name` and :func:`net_name` make them.
"""
from __future__ import annotations

from kvmnet.model.frozen import frozen

#: ``<feature name=...>`` of a net capability, in libvirt's order (virNetDevFeature).
NET_FEATURES = ("rx", "tx", "sg", "tso", "gso", "gro", "lro", "rxvlan", "txvlan", "ntuple",
                "rxhash", "rdma", "txudptnl", "switchdev")
#: ``<link state=...>`` (virNetDevIfState), as /sys/class/net/IF/operstate spells them.
LINK_STATES = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")
#: PCI header types libvirt shows as a sub-capability (0, an endpoint, shows nothing).
HEADER_TYPES = ("pci-bridge", "cardbus-bridge")
#: ``virsh nodedev-list --cap`` words, in virsh's order.
CAP_TYPES = ("system", "pci", "usb_device", "usb", "net", "scsi_host", "scsi_target", "scsi",
             "storage", "fc_host", "vports", "scsi_generic", "drm", "mdev_types", "mdev",
             "ccw", "css", "vdpa", "ap_card", "ap_queue", "ap_matrix", "vpd", "ccwgroup")


@frozen
class PciAddress:
    domain: int
    bus: int
    slot: int
    function: int

    def text(self) -> str:
        """The kernel's form, ``0000:03:00.1``."""
        return f"{self.domain:04x}:{self.bus:02x}:{self.slot:02x}.{self.function:x}"

    @classmethod
    def from_text(cls, text: str) -> PciAddress:
        dom, bus, rest = text.split(":")
        slot, fn = rest.split(".")
        return cls(int(dom, 16), int(bus, 16), int(slot, 16), int(fn, 16))


@frozen
class PciLink:
    """``<link validity='cap|sta' port= speed= width=/>``: speed in GT/s as libvirt prints it."""

    validity: str
    width: int
    port: int | None = None
    speed: str | None = None


@frozen
class MdevType:
    id: str
    name: str | None
    device_api: str
    available: int


@frozen
class Element:
    """An element of a capability kept as libvirt lays it out (see :class:`OtherCap`)."""

    tag: str
    attrs: tuple[tuple[str, str], ...] = ()
    text: str | None = None
    children: tuple[Element, ...] = ()


@frozen
class SystemCap:
    hardware_uuid: str
    product: str | None = None
    hardware_vendor: str | None = None
    hardware_version: str | None = None
    hardware_serial: str | None = None
    firmware_vendor: str | None = None
    firmware_version: str | None = None
    firmware_release_date: str | None = None
    type: str = "system"


@frozen
class PciCap:
    address: PciAddress
    product_id: int
    vendor_id: int
    product: str | None = None  # names from pci.ids; None where the database is missing
    vendor: str | None = None
    pci_class: int | None = None  # 0xCCSSPP
    phys_function: PciAddress | None = None
    is_vf: bool = False  # has a phys_function capability (its address may be unknown)
    virt_functions: tuple[PciAddress, ...] = ()
    has_vfs: bool = False  # has a virt_functions capability (an SR-IOV PF, maybe 0 VFs)
    vf_max_count: int | None = None  # maxCount: sriov_totalvfs
    header_type: str | None = None  # pci-bridge, cardbus-bridge
    mdev_types: tuple[MdevType, ...] | None = None
    vpd: Element | None = None
    iommu_group: int | None = None
    iommu_devices: tuple[PciAddress, ...] = ()
    numa_node: int | None = None
    pci_express: tuple[PciLink, ...] | None = None  # None: not PCIe; (): <pci-express/>
    type: str = "pci"


@frozen
class NetCap:
    interface: str
    address: str | None = None
    link_speed: int = 0  # Mb/s, 0 unknown
    link_state: str | None = None
    features: tuple[str, ...] = ()  # in NET_FEATURES order
    subtype: str | None = None  # 80203 (Ethernet), 80211 (wireless)
    type: str = "net"


@frozen
class OtherCap:
    """A capability kvmnet does not act on: its child elements in libvirt's order."""

    type: str
    children: tuple[Element, ...] = ()


Capability = SystemCap | PciCap | NetCap | OtherCap


@frozen
class NodeDevice:
    name: str
    caps: tuple[Capability, ...]
    parent: str | None = None
    path: str | None = None  # the sysfs path (shown in active XML only)
    devnodes: tuple[tuple[str, str], ...] = ()  # (dev|link, /dev/...)
    driver: str | None = None  # the bound driver (from sysfs; never parsed)

    def cap(self, kind: str) -> Capability | None:
        return next((c for c in self.caps if c.type == kind), None)

    def pci(self) -> PciCap | None:
        c = self.cap("pci")
        return c if isinstance(c, PciCap) else None

    def net(self) -> NetCap | None:
        c = self.cap("net")
        return c if isinstance(c, NetCap) else None

    def cap_types(self) -> tuple[str, ...]:
        """The ``--cap`` words this device answers to: its capabilities and the ones nested
        in them, as virsh's nodedev-list --cap matches (a PF is also ``vpd``, ``mdev_types``...)."""
        out = [c.type for c in self.caps]
        for c in self.caps:
            if isinstance(c, PciCap):
                if c.mdev_types is not None:
                    out.append("mdev_types")
                if c.vpd is not None:
                    out.append("vpd")
            elif isinstance(c, OtherCap):
                out.extend(e.attrs[0][1] for e in c.children
                           if e.tag == "capability" and e.attrs and e.attrs[0][0] == "type")
        return tuple(dict.fromkeys(out))


def pci_name(addr: PciAddress) -> str:
    """``pci_0000_03_00_1``."""
    return f"pci_{addr.domain:04x}_{addr.bus:02x}_{addr.slot:02x}_{addr.function:x}"


def net_name(ifname: str, mac: str | None) -> str:
    """``net_eth1_90_e2_ba_4c_3e_a1`` (libvirt: the interface name and MAC, ``:`` as ``_``).

    Characters a device name may not hold (anything but letters, digits and ``_``) become
    ``_``, as libvirt's udev backend does for its names."""
    text = f"net_{ifname}_{mac or '00_00_00_00_00_00'}"
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in text)
