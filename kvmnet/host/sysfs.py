"""PCI and network devices in sysfs: discovery (SR-IOV PF/VF relations) and driver binding.

Every sysfs path kvmnet reads or writes starts at :func:`root`: ``$KVMNET_SYSFS`` if set, else
``/sys`` (DESIGN.md: tests run the same code on fake trees laid out as the kernel lays them,
see ``tests/fake_sysfs.py``).  The variable is read at each call, so a test can switch trees
without reloading anything.

What is read, and where the kernel keeps it (Documentation/ABI/testing/sysfs-bus-pci,
sysfs-class-net):

- ``bus/pci/devices/ADDR`` is a relative symlink to the device's directory under
  ``devices/pci0000:00/...``; its parent directory is the bridge or root port it sits behind;
- ``class``, ``vendor``, ``device`` ... are hex words (``0x020000``), ``numa_node`` a signed
  number (``-1``: none);
- SR-IOV: a PF has ``sriov_totalvfs``, ``sriov_numvfs`` and one ``virtfnN`` symlink per VF
  (``virtfn0 -> ../0000:03:10.1``); a VF has ``physfn -> ../0000:03:00.1``;
- ``driver`` links to ``bus/pci/drivers/NAME``; ``iommu_group`` to ``kernel/iommu_groups/N``;
- a NIC's interfaces are the entries of its ``net/`` directory, and ``class/net/IF/device``
  links back to the PCI device.

``class/net`` shows the interfaces of the network namespace that *mounted* this sysfs (``ip netns
exec`` mounts a fresh one), which is the namespace kvmnet acts on when it runs as DESIGN.md says.

The writes are the ones libvirt's managed detach and reattach make (virPCIDeviceBindToStub and
virPCIDeviceUnbindFromStub): ``driver_override``, ``driver/unbind``, ``drivers_probe`` and
``drivers/NAME/bind``.  Each is logged at debug level in the shell form (``echo ADDR >
/sys/...``) and fails as :class:`HostError` with that command and the errno.  Callers that
change the host wrap them in engine steps; this module only reads and writes files.
"""
from __future__ import annotations

import errno as errno_mod
import os
import re
from pathlib import Path

from kvmnet.errors import HostError
from kvmnet.log import get as get_logger

log = get_logger("kvmnet.host")

DEFAULT_ROOT = "/sys"
# DDDD:BB:DD.F, as in /sys/bus/pci/devices (lower-case hex, as the kernel writes it)
PCI_ADDRESS = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")


class VirtualFunction:
    """One VF of an SR-IOV PF: its ``virtfnN`` index, PCI address, interface and driver.

    Immutable, compared by value.  (A NamedTuple's ``index`` field would hide tuple.index, and
    this layer may not use kvmnet.model's ``@frozen``.)
    """

    __slots__ = ("address", "driver", "index", "netdev")
    index: int
    address: str
    netdev: str | None  # None while the VF has no net driver (bound to vfio-pci, or none)
    driver: str | None

    def __init__(self, index: int, address: str, netdev: str | None,
                 driver: str | None) -> None:
        for name, value in (("index", index), ("address", address), ("netdev", netdev),
                            ("driver", driver)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"VirtualFunction is immutable (cannot set {name})")

    def _key(self) -> tuple[int, str, str | None, str | None]:
        return (self.index, self.address, self.netdev, self.driver)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VirtualFunction) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"VirtualFunction(index={self.index}, address={self.address!r}, "
                f"netdev={self.netdev!r}, driver={self.driver!r})")


def root() -> Path:
    """The sysfs mount kvmnet works on: ``$KVMNET_SYSFS`` or ``/sys``."""
    return Path(os.environ.get("KVMNET_SYSFS") or DEFAULT_ROOT)


def is_pci_address(text: str) -> bool:
    return bool(PCI_ADDRESS.match(text))


def _check_address(addr: str) -> str:
    if not is_pci_address(addr):
        raise ValueError(f"not a PCI address (DDDD:BB:DD.F): {addr!r}")
    return addr


def pci_device_dir(addr: str) -> Path:
    """``bus/pci/devices/ADDR`` (a symlink into ``devices/``; it may not exist)."""
    return root() / "bus" / "pci" / "devices" / _check_address(addr)


def pci_device_path(addr: str) -> Path | None:
    """The device's real directory under ``devices/`` (symlinks resolved), None if absent."""
    link = pci_device_dir(addr)
    if not link.exists():
        return None
    return Path(os.path.realpath(link))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except OSError:  # some attributes refuse reads (EIO, EINVAL on absent hardware features)
        return None


def _link_name(path: Path) -> str | None:
    """The last component of a symlink's target (``driver -> .../drivers/ixgbe`` -> ixgbe)."""
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


def pci_attr(addr: str, name: str) -> str | None:
    """One attribute file of a PCI device, stripped; None if the device or file is absent."""
    return _read(pci_device_dir(addr) / name)


def netdev_attr(ifname: str, name: str) -> str | None:
    """One attribute of ``class/net/IF`` (``address``, ``operstate``, ``speed``...), stripped."""
    return _read(root() / "class" / "net" / ifname / name)


def pci_devices() -> list[str]:
    """Every PCI device address, sorted."""
    try:
        names = os.listdir(root() / "bus" / "pci" / "devices")
    except FileNotFoundError:
        return []
    return sorted(n for n in names if is_pci_address(n))


def net_devices() -> list[str]:
    """The interfaces in ``class/net`` (those of the namespace that mounted this sysfs)."""
    try:
        return sorted(os.listdir(root() / "class" / "net"))
    except FileNotFoundError:
        return []


def netdev_path(ifname: str) -> Path | None:
    """The interface's real directory (``devices/.../net/IF`` or ``devices/virtual/net/IF``)."""
    link = root() / "class" / "net" / ifname
    if not link.exists():
        return None
    return Path(os.path.realpath(link))


def netdev_pci_address(ifname: str) -> str | None:
    """The PCI address of the device behind an interface, None for virtual ones (veth, lo)."""
    name = _link_name(root() / "class" / "net" / ifname / "device")
    return name if name and is_pci_address(name) else None


def pci_netdevs(addr: str) -> list[str]:
    """The interfaces a PCI device carries (``ADDR/net/*``), sorted; [] without a net driver."""
    try:
        return sorted(os.listdir(pci_device_dir(addr) / "net"))
    except (FileNotFoundError, NotADirectoryError):
        return []


def pci_parent(addr: str) -> str | None:
    """The PCI bridge or root port a device sits behind; None under a host bridge
    (``devices/pci0000:00``)."""
    path = pci_device_path(addr)
    if path is None:
        return None
    parent = path.parent.name
    return parent if is_pci_address(parent) else None


def pci_driver(addr: str) -> str | None:
    """The bound driver's name (``ixgbe``, ``vfio-pci``), None when unbound."""
    return _link_name(pci_device_dir(addr) / "driver")


def iommu_group(addr: str) -> int | None:
    name = _link_name(pci_device_dir(addr) / "iommu_group")
    return int(name) if name and name.isdigit() else None


def iommu_group_devices(group: int) -> list[str]:
    """The PCI addresses in an IOMMU group (``kernel/iommu_groups/N/devices``), sorted."""
    try:
        names = os.listdir(root() / "kernel" / "iommu_groups" / str(group) / "devices")
    except FileNotFoundError:
        return []
    return sorted(n for n in names if is_pci_address(n))


def _int_attr(addr: str, name: str) -> int | None:
    text = pci_attr(addr, name)
    try:
        return int(text, 0) if text is not None else None
    except ValueError:
        return None


def sriov_totalvfs(addr: str) -> int | None:
    """How many VFs the PF can have; None for a device without SR-IOV."""
    return _int_attr(addr, "sriov_totalvfs")


def sriov_numvfs(addr: str) -> int | None:
    """How many VFs the PF has now; None for a device without SR-IOV."""
    return _int_attr(addr, "sriov_numvfs")


def physical_function(addr: str) -> str | None:
    """The PF of a VF (``physfn``), None for a device that is not a VF."""
    name = _link_name(pci_device_dir(addr) / "physfn")
    return name if name and is_pci_address(name) else None


def resolve_pci(pf_ifname_or_addr: str) -> str | None:
    """A PCI address as it is, or the PCI address behind an interface name; None if neither."""
    if is_pci_address(pf_ifname_or_addr):
        return pf_ifname_or_addr if pci_device_dir(pf_ifname_or_addr).exists() else None
    if "/" in pf_ifname_or_addr or pf_ifname_or_addr in ("", ".", ".."):
        return None
    return netdev_pci_address(pf_ifname_or_addr)


def virtual_functions(pf_ifname_or_addr: str) -> list[VirtualFunction]:
    """The VFs of a PF (an interface name or a PCI address), in ``virtfnN`` order.

    [] for a device without VFs, or a name that is neither a PCI device nor a PCI NIC.
    """
    addr = resolve_pci(pf_ifname_or_addr)
    if addr is None:
        return []
    base = pci_device_dir(addr)
    try:
        entries = os.listdir(base)
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for entry in entries:
        if not entry.startswith("virtfn") or not entry[6:].isdigit():
            continue
        vf = _link_name(base / entry)
        if vf is None or not is_pci_address(vf):
            continue
        netdevs = pci_netdevs(vf)
        out.append(VirtualFunction(int(entry[6:]), vf, netdevs[0] if netdevs else None,
                                   pci_driver(vf)))
    return sorted(out, key=lambda vf: vf.index)


# -- writes: what a managed detach/reattach writes ---------------------------------------------

def _write(path: Path, text: str) -> None:
    shown = text if text else ""
    command = f"echo {shown} > {path}" if shown else f"echo > {path}"
    log.debug("%s", command)
    try:
        # never O_CREAT: sysfs has no files to create, and a missing one is a missing device
        # or driver (on a fake tree too); one write(), as the kernel takes one store per write
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, (text + "\n").encode())
        finally:
            os.close(fd)
    except FileNotFoundError as exc:
        raise HostError(f"{path} does not exist: the device or driver is gone (is the driver "
                        "module loaded? modprobe it)", command, exc.errno) from exc
    except PermissionError as exc:
        raise HostError(f"cannot write {path}: permission denied; run kvmnet as root",
                        command, exc.errno) from exc
    except OSError as exc:
        why = {
            errno_mod.ENODEV: "the driver does not take this device",
            errno_mod.EBUSY: "the device is busy",
            errno_mod.EINVAL: "the kernel refused the value",
        }.get(exc.errno or 0, exc.strerror or "write failed")
        raise HostError(f"cannot write {path}: {why}", command, exc.errno) from exc


def set_driver_override(addr: str, driver: str | None) -> None:
    """Make only ``driver`` probe the device (``driver_override``); None clears it."""
    if driver is not None and ("/" in driver or not driver.strip()):
        raise ValueError(f"not a driver name: {driver!r}")
    _write(pci_device_dir(addr) / "driver_override", driver or "")


def unbind(addr: str) -> None:
    """Release the device from its driver (``driver/unbind``); nothing to do when unbound."""
    if pci_driver(addr) is None:
        return
    _write(pci_device_dir(addr) / "driver" / "unbind", addr)


def bind(addr: str, driver: str) -> None:
    """Bind the device to ``driver`` (``bus/pci/drivers/DRIVER/bind``)."""
    if "/" in driver or not driver.strip():
        raise ValueError(f"not a driver name: {driver!r}")
    _write(root() / "bus" / "pci" / "drivers" / driver / "bind", _check_address(addr))


def drivers_probe(addr: str) -> None:
    """Ask the kernel to find a driver for the device (``bus/pci/drivers_probe``): the one in
    ``driver_override`` if set, else the one matching its IDs."""
    _write(root() / "bus" / "pci" / "drivers_probe", _check_address(addr))


def driver_loaded(driver: str) -> bool:
    """Whether ``bus/pci/drivers/DRIVER`` exists (the module is loaded or built in)."""
    return "/" not in driver and (root() / "bus" / "pci" / "drivers" / driver).is_dir()


# -- more reads (added after the first adapter commit; names above stay stable) ---------------

def dmi_attr(name: str) -> str | None:
    """The firmware's DMI table entry ``class/dmi/id/NAME`` (``sys_vendor``, ``product_uuid``,
    ``bios_version``...), None where the machine has no DMI (some VMs, ARM boards)."""
    if "/" in name:
        raise ValueError(f"not a DMI attribute: {name!r}")
    return _read(root() / "class" / "dmi" / "id" / name) or None


def pci_config_header(addr: str, size: int = 64) -> bytes | None:
    """The first ``size`` bytes of the device's config space (``config``), None if absent."""
    try:
        with open(pci_device_dir(addr) / "config", "rb") as f:
            return f.read(size)
    except OSError:
        return None


def sysfs_path(path: Path) -> str:
    """A real path inside :func:`root` written as under ``/sys`` (what libvirt shows as a node
    device's ``<path>``), so output reads the same on a fake tree."""
    try:
        return "/sys/" + str(path.relative_to(Path(os.path.realpath(root()))))
    except ValueError:
        return str(path)


def netdev_parent_pci(ifname: str) -> str | None:
    """The nearest PCI function above an interface in the device tree: the NIC itself, or the
    PCI device of a bus between them (``virtio0`` of a virtio-net NIC); None for virtual ones.
    (:func:`netdev_pci_address` answers only when the interface's device *is* a PCI function.)"""
    path = netdev_path(ifname)
    if path is None:
        return None
    return next((p for p in reversed(path.parts[:-2]) if is_pci_address(p)), None)
