"""A guest's host PCI devices: ``<interface type='hostdev'>`` (an SR-IOV VF with the guest's MAC
and VLAN) and ``<hostdev>`` (any PCI device), as steps of its start.

Both are VFIO devices: QEMU gets ``-device vfio-pci,host=DDDD:BB:SS.F,id=hostdevN``
(:func:`kvmnet.guests.qemu.vfio_spec`), which needs KVM (an IOMMU-backed device cannot be
given to a TCG guest) and the vfio-pci driver.  :func:`check` refuses a start that cannot
work before anything changes; :func:`steps` are the engine steps (:mod:`kvmnet.engine.steps.vf`)
journalled in the guest's journal: managed devices are bound to vfio-pci (and given back when
the guest stops), a VF gets the guest's MAC through its PF (its own settings restored after).
A type='network' NIC on a hostdev network gets its VF from the network's port instead
(:mod:`kvmnet.port.plugs.hostdev`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from kvmnet.errors import ConflictError, NotFoundError, OperationInvalidError, UnsupportedError

if TYPE_CHECKING:
    from pathlib import Path

    from kvmnet.engine.host import Host
    from kvmnet.engine.step import Step
    from kvmnet.guests.qemu import Accel
    from kvmnet.model.domain import Domain, Interface

VFIO = "vfio-pci"


def devices(dom: Domain) -> list[tuple[str, str]]:
    """(what, PCI address) of every host device the definition names, for messages."""
    out = [(f"interface {i.mac}", i.pci_address) for i in dom.interfaces
           if i.type == "hostdev" and i.pci_address is not None]
    out += [("hostdev", h.address) for h in dom.hostdevs]
    return out


def needs_kvm(dom: Domain, accel: Accel, what: str | None = None) -> None:
    """Refuse a guest with a VFIO device under TCG (``what``: the device, when only a plug
    found it out)."""
    found = [what] if what else [f"{w} ({a})" for w, a in devices(dom)]
    if found and accel.name != "kvm":
        why = accel.notice or ("its domain type is 'qemu' (TCG)" if dom.type == "qemu"
                               else "KVMNET_ACCEL=tcg asks for TCG")
        these = (f"{found[0]} is a host PCI device" if len(found) == 1 else
                 f"{', '.join(found[:-1])} and {found[-1]} are host PCI devices")
        raise UnsupportedError(
            f"guest '{dom.name}' cannot start: {these} given through VFIO, which needs KVM and "
            f"VFIO, and {why.split(': using TCG')[0]}; run it on a host with KVM and an IOMMU "
            "(intel_iommu=on or amd_iommu=on) as <domain type='kvm'>")


def check(dom: Domain, accel: Accel) -> None:
    """What must hold before a guest with host devices starts (nothing changed yet)."""
    from kvmnet.engine.steps.vf import vfio_problem
    from kvmnet.host import sysfs

    needs_kvm(dom, accel)
    for what, addr in devices(dom):
        if sysfs.pci_device_path(addr) is None:
            raise NotFoundError(f"guest '{dom.name}': {what} names PCI device {addr}, which "
                                "does not exist on this host; see kvmnet nodedev-list --cap pci")
        problem = vfio_problem(addr)
        if problem is not None:
            raise OperationInvalidError(f"guest '{dom.name}': {what}: {problem}")
    unmanaged = [(f"interface {i.mac}", i.pci_address) for i in dom.interfaces
                 if i.type == "hostdev" and i.pci_address and not i.managed]
    unmanaged += [("hostdev", h.address) for h in dom.hostdevs if not h.managed]
    for what, addr in unmanaged:
        if sysfs.pci_driver(addr) != VFIO:
            node = "pci_" + addr.replace(":", "_").replace(".", "_")
            raise OperationInvalidError(
                f"guest '{dom.name}': {what} ({addr}) is not managed and not bound to {VFIO}; "
                f"bind it first (kvmnet nodedev-detach {node}) or set managed='yes'")


def in_use_by_host(dom: Domain, what: str, addr: str, host: Host) -> None:
    """Refuse a device whose interface carries an IP address: the host is using it."""
    from kvmnet.host import sysfs

    for dev in sysfs.pci_netdevs(addr):
        ips = host.link_addresses(dev)
        if ips:
            raise ConflictError(f"guest '{dom.name}': {what} ({addr}) is in use by the host: its "
                                f"interface {dev} has address {ips[0]}; remove the address "
                                f"(ip addr flush dev {dev}) or give the guest another device")


def interface_steps(dom: Domain, iface: Interface, run: Path, host: Host) -> list[Step]:
    """An ``<interface type='hostdev'>``'s VF: to vfio-pci (managed), the guest's MAC."""
    from kvmnet.engine.steps.pci import DetachPci
    from kvmnet.engine.steps.vf import ConfigureVf
    from kvmnet.host import sysfs
    from kvmnet.port.plugs.hostdev import taken

    addr = iface.pci_address
    assert addr is not None and iface.mac is not None
    holder = taken(run).get(addr)
    if holder is not None:
        raise ConflictError(f"guest '{dom.name}': VF {addr} of interface {iface.mac} is used by "
                            f"{holder}; give the guest another VF")
    in_use_by_host(dom, f"interface {iface.mac}", addr, host)
    pf = sysfs.physical_function(addr)
    index = next((v.index for v in sysfs.virtual_functions(pf) if v.address == addr),
                 None) if pf else None
    pf_dev = sysfs.pci_netdevs(pf) if pf else []
    if index is None or not pf_dev:
        raise OperationInvalidError(
            f"guest '{dom.name}': interface {iface.mac} names {addr}, which is not an SR-IOV "
            "VF of a PF with an interface; use <hostdev> for other PCI devices")
    out: list[Step] = []
    if iface.managed:
        out.append(DetachPci(address=addr))
    out.append(ConfigureVf(pf=pf_dev[0], index=index, address=addr, mac=iface.mac, vlan=0))
    return out


def hostdev_steps(dom: Domain, run: Path, host: Host) -> list[Step]:
    """Every managed ``<hostdev>`` to vfio-pci (given back when the guest stops)."""
    from kvmnet.engine.steps.pci import DetachPci
    from kvmnet.port.plugs.hostdev import taken

    held = taken(run)
    out: list[Step] = []
    for h in dom.hostdevs:
        if h.address in held:
            raise ConflictError(f"guest '{dom.name}': hostdev {h.address} is used by "
                                f"{held[h.address]}")
        if h.managed:
            in_use_by_host(dom, "hostdev", h.address, host)
            out.append(DetachPci(address=h.address))
    return out
