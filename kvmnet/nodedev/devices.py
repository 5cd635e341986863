"""The host's node devices, read from sysfs as libvirt's udev backend describes them.

- ``computer``: the machine (``system`` capability) from the DMI table; the root of the tree.
- ``pci_DDDD_BB_SS_F`` for each PCI function: class, IDs and names (pci.ids, where installed),
  SR-IOV (``phys_function``; ``virt_functions`` with ``maxCount`` = ``sriov_totalvfs``), the
  header type of bridges, IOMMU group, NUMA node, PCIe link (``cap`` = max, ``sta`` =
  current), the bound driver; its parent is the bridge or root port above it, else
  ``computer``.
- ``net_IF_MAC`` for each interface in ``class/net``: name, MAC, link speed and state, 802.3
  or 802.11; its parent is the nearest PCI function above it (the NIC, or the PCI device of a
  virtio NIC's ``virtioN``), else ``computer`` (virtual devices).

Not read (libvirt gets them elsewhere): a net device's offload ``<feature>`` list (ethtool
ioctls), a PCIe link's ``port`` (config space), VPD and mdev types.  Every read goes through
:mod:`kvmnet.host.sysfs`, so ``$KVMNET_SYSFS`` points the whole tree at a fake one.
"""
from __future__ import annotations

import re

from kvmnet.errors import NotFoundError, quote
from kvmnet.host import pciids, sysfs
from kvmnet.model.nodedev import (
    LINK_STATES,
    NetCap,
    NodeDevice,
    PciAddress,
    PciCap,
    PciLink,
    SystemCap,
    net_name,
    pci_name,
)

COMPUTER = "computer"
#: libvirt's virErrorNumber for an unknown node device.
VIR_ERR_NO_NODE_DEVICE = 42
NO_UUID = "00000000-0000-0000-0000-000000000000"
_GTS = re.compile(r"^([0-9]+(?:\.[0-9]+)?) GT/s")
_PCI_NAME = re.compile(r"^pci_([0-9a-f]{4})_([0-9a-f]{2})_([0-9a-f]{2})_([0-7])$")


def computer() -> NodeDevice:
    d = sysfs.dmi_attr
    return NodeDevice(name=COMPUTER, caps=(SystemCap(
        hardware_uuid=d("product_uuid") or NO_UUID, product=d("product_name"),
        hardware_vendor=d("sys_vendor"), hardware_version=d("product_version"),
        hardware_serial=d("product_serial"), firmware_vendor=d("bios_vendor"),
        firmware_version=d("bios_version"), firmware_release_date=d("bios_date")),))


def _speed(text: str | None) -> str | None:
    """``5.0 GT/s PCIe`` -> ``5``, ``2.5 GT/s`` -> ``2.5`` (libvirt's speed words)."""
    m = _GTS.match(text or "")
    return f"{float(m.group(1)):g}" if m else None


def _width(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _pcie(addr: str) -> tuple[PciLink, ...] | None:
    attr = sysfs.pci_attr
    max_width = _width(attr(addr, "max_link_width"))
    if max_width is None:
        return None  # conventional PCI (or a kernel without the link attributes)
    links = [PciLink("cap", max_width, speed=_speed(attr(addr, "max_link_speed")))]
    cur_width = _width(attr(addr, "current_link_width"))
    if cur_width is not None:
        links.append(PciLink("sta", cur_width, speed=_speed(attr(addr, "current_link_speed"))))
    return tuple(links)


def _header_type(addr: str, pci_class: int | None) -> str | None:
    header = sysfs.pci_config_header(addr, 16)
    kind = header[14] & 0x7F if header is not None and len(header) >= 15 else None
    if kind is None and pci_class is not None:  # no config space: the class says it
        kind = {0x0604: 1, 0x0607: 2}.get(pci_class >> 8, 0)
    return {1: "pci-bridge", 2: "cardbus-bridge"}.get(kind or 0)


def _hex(text: str | None) -> int | None:
    try:
        return int(text, 16) if text else None
    except ValueError:
        return None


def pci_device(addr: str) -> NodeDevice:
    attr = sysfs.pci_attr
    pci_class = _hex(attr(addr, "class"))
    vendor_id, product_id = _hex(attr(addr, "vendor")) or 0, _hex(attr(addr, "device")) or 0
    vendor, product = pciids.names(vendor_id, product_id)
    pf = sysfs.physical_function(addr)
    total = sysfs.sriov_totalvfs(addr)
    group = sysfs.iommu_group(addr)
    numa = attr(addr, "numa_node")
    parent = sysfs.pci_parent(addr)
    path = sysfs.pci_device_path(addr)
    cap = PciCap(
        address=PciAddress.from_text(addr), product_id=product_id, vendor_id=vendor_id,
        product=product, vendor=vendor, pci_class=pci_class,
        phys_function=PciAddress.from_text(pf) if pf else None, is_vf=pf is not None,
        virt_functions=tuple(PciAddress.from_text(vf.address)
                             for vf in sysfs.virtual_functions(addr)),
        has_vfs=total is not None, vf_max_count=total,
        header_type=_header_type(addr, pci_class), iommu_group=group,
        iommu_devices=tuple(PciAddress.from_text(a) for a in sysfs.iommu_group_devices(group))
        if group is not None else (),
        numa_node=int(numa) if numa and numa.lstrip("-").isdigit() else None,
        pci_express=_pcie(addr))
    return NodeDevice(name=pci_name(cap.address), caps=(cap,),
                      parent=pci_name(PciAddress.from_text(parent)) if parent else COMPUTER,
                      path=sysfs.sysfs_path(path) if path else None,
                      driver=sysfs.pci_driver(addr))


def net_device(ifname: str) -> NodeDevice:
    attr = sysfs.netdev_attr
    mac = attr(ifname, "address")
    speed = attr(ifname, "speed")
    state = attr(ifname, "operstate")
    path = sysfs.netdev_path(ifname)
    wireless = path is not None and ((path / "wireless").exists() or (path / "phy80211").exists())
    addr = sysfs.netdev_parent_pci(ifname)
    cap = NetCap(interface=ifname, address=mac,
                 link_speed=int(speed) if speed and speed.isdigit() else 0,
                 link_state=state if state in LINK_STATES else None,
                 subtype="80211" if wireless else "80203")
    return NodeDevice(name=net_name(ifname, mac), caps=(cap,),
                      parent=pci_name(PciAddress.from_text(addr)) if addr else COMPUTER,
                      path=sysfs.sysfs_path(path) if path else None)


def all_devices() -> list[NodeDevice]:
    """Every node device, sorted by name (virsh's nodedev-list order)."""
    devices = [computer()]
    devices += [pci_device(a) for a in sysfs.pci_devices()]
    devices += [net_device(n) for n in sysfs.net_devices()]
    return sorted(devices, key=lambda d: d.name)


def lookup(name: str) -> NodeDevice:
    """One device by its libvirt name, read without walking the whole tree."""
    if name == COMPUTER:
        return computer()
    m = _PCI_NAME.match(name)
    if m is not None:
        addr = f"{m.group(1)}:{m.group(2)}:{m.group(3)}.{m.group(4)}"
        if sysfs.pci_device_dir(addr).exists():
            return pci_device(addr)
    elif name.startswith("net_"):
        for ifname in sysfs.net_devices():
            if net_name(ifname, sysfs.netdev_attr(ifname, "address")) == name:
                return net_device(ifname)
    raise NotFoundError(f"no node device named {quote(name)} on this host (see `kvmnet "
                        "nodedev-list`)", code=VIR_ERR_NO_NODE_DEVICE)
