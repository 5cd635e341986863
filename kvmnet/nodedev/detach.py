"""``nodedev-detach`` and ``nodedev-reattach``: a PCI device to vfio-pci and back.

As libvirt's managed mode: ``driver_override`` names the stub, the device leaves its driver,
``drivers_probe`` binds the stub; reattach clears the override and lets the kernel probe the
device's own driver.  Each is an engine step (:mod:`kvmnet.engine.steps.pci`) run by the one
executor; the detach's undo record (the driver the device had) is journalled first under
``run/kvmnet/nodedev/NAME.json`` and stays there while the device is detached, so that the
reattach -- or the undo of a detach that failed half-way -- gives it back to that driver.

A device the host is using is refused, as the host would lose it: a network interface of the
device that is up, or that carries an IP address.  (libvirt detaches it anyway, and the host's
connection through it drops.)
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from kvmnet.paths import Paths

from kvmnet.errors import InvalidArgError, OperationInvalidError, UnsupportedError, quote
from kvmnet.host import sysfs
from kvmnet.nodedev.devices import lookup

IFF_UP = 0x1
#: ``--driver`` words: libvirt's ``vfio`` means vfio-pci (the only stub of a KVM host).
STUBS = {"vfio": "vfio-pci", "vfio-pci": "vfio-pci"}


def _journal_path(paths: Paths, name: str) -> str:
    return str(paths.run / "nodedev" / f"{name}.json")


def pci_address_of(name: str) -> str:
    """The PCI address of a node device, refusing one that is not a PCI function."""
    dev = lookup(name)
    pci = dev.pci()
    if pci is None:
        hint = f"; detach its PCI device {quote(dev.parent)}" if dev.parent and \
            dev.parent.startswith("pci_") else ""
        raise InvalidArgError(f"node device {quote(name)} is not a PCI device, and only PCI "
                              f"devices can be detached{hint}")
    return pci.address.text()


def in_use(address: str, addresses_of: Callable[[str, str | None], list[str]]) -> list[str]:
    """Why the host is using the device: its interfaces that are up or carry addresses, or a
    network controller on its driver whose interfaces this namespace cannot see (sysfs shows
    a device's ``net/`` entries of the mounting namespace only: they are in another one, which
    may be using them)."""
    why = []
    netdevs = sysfs.pci_netdevs(address)
    pci_class = sysfs.pci_attr(address, "class") or ""
    driver = sysfs.pci_driver(address)
    if not netdevs and pci_class.startswith("0x02") and driver not in (None, *STUBS.values()):
        why.append(f"its driver {driver} holds it, and its network interfaces are in another "
                   "network namespace")
    for ifname in netdevs:
        flags = sysfs.netdev_attr(ifname, "flags")
        up = flags is not None and bool(int(flags, 16) & IFF_UP)
        addrs = addresses_of(ifname, sysfs.netdev_attr(ifname, "address"))
        if addrs:
            why.append(f"interface {ifname} carries {', '.join(addrs)}")
        elif up:
            why.append(f"interface {ifname} is up")
    return why


def detach(paths: Paths, name: str, driver: str | None,
           addresses_of: Callable[[str, str | None], list[str]]) -> None:
    from kvmnet.engine.executor import Context, run
    from kvmnet.engine.host import Host
    from kvmnet.engine.journal import ACTIVE, Journal
    from kvmnet.engine.steps.pci import DetachPci

    stub = STUBS.get(driver or "vfio")
    if stub is None:
        raise InvalidArgError(f"unknown detach driver {quote(driver)}; use vfio (vfio-pci, the "
                              "stub driver of KVM device assignment)")
    address = pci_address_of(name)
    if sysfs.pci_driver(address) == stub:
        return  # already detached: nothing to do, as libvirt
    busy = in_use(address, addresses_of)
    if busy:
        ifaces = [b.split()[1] for b in busy if b.startswith("interface ")]
        fix = (f"take it out of use first (ip addr flush dev {ifaces[0]}; ip link set "
               f"{ifaces[0]} down)" if ifaces else
               "run nodedev-detach inside the namespace that holds its interfaces, once they "
               "are out of use")
        raise OperationInvalidError(
            f"refusing to detach {name}: the host is using it ({'; '.join(busy)}), and would "
            f"lose it; {fix}")
    if not sysfs.driver_loaded(stub):
        raise UnsupportedError(f"cannot detach {name}: the {stub} driver is not loaded; run "
                               f"'modprobe {stub}' (device assignment also needs the IOMMU on: "
                               "intel_iommu=on or amd_iommu=on on the kernel command line)")
    from pathlib import Path

    journal = Journal.load(Path(_journal_path(paths, name))) or \
        Journal(Path(_journal_path(paths, name)), name)
    with Context(Host()) as ctx:
        run([DetachPci(address=address, stub=stub)], journal, ctx)
    if journal.steps:
        journal.state = ACTIVE
        journal.save(durable=False)


def reattach(paths: Paths, name: str) -> None:
    from pathlib import Path

    from kvmnet.engine.executor import Context, run, undo_and_forget
    from kvmnet.engine.host import Host
    from kvmnet.engine.journal import Journal
    from kvmnet.engine.steps.pci import ReattachPci
    from kvmnet.errors import HostError, problems_line

    address = pci_address_of(name)
    path = Path(_journal_path(paths, name))
    journal = Journal.load(path)
    with Context(Host()) as ctx:
        if journal is not None and journal.steps:
            failures = undo_and_forget(journal, ctx)
            if failures:
                raise HostError(f"cannot reattach {name}: {problems_line(failures)}")
            return
        # not detached by kvmnet: give it back to the driver that matches its IDs
        run([ReattachPci(address=address)], Journal(path, name), ctx)
