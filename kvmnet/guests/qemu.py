"""How a guest definition becomes a QEMU command line, and which accelerator runs it.

:func:`build_argv` is a pure function of the live definition (taps and aliases filled in)
and the run-time paths, so tests can check the command line without running QEMU.
:func:`choose_accel` decides between KVM and TCG: KVM where it can run the guest, TCG (with a
one-line notice saying why) where ``/dev/kvm`` is missing, cannot create a VM, or belongs to
a nested PVM hypervisor (``/sys/module/kvm_pvm``), which cannot boot stock kernels.
"""
from __future__ import annotations

import errno
import fcntl
import os
import shutil
from collections.abc import Mapping, Sequence

from kvmnet.errors import HostError, UnsupportedError
from kvmnet.model.domain import NIC_MODELS, Disk, Domain
from kvmnet.model.frozen import frozen

QEMU = "qemu-system-x86_64"
#: QEMU gets a macvtap NIC's device open as descriptor FD_BASE + the NIC's index: high, clear
#: of the descriptors a process starts with and of the pipes subprocess makes
FD_BASE = 100
VHOST_NET = "/dev/vhost-net"
_KVM_CREATE_VM = 0xAE01  # _IO(KVMIO, 0x01)
_BOOT_LETTERS = {"hd": "c", "cdrom": "d", "network": "n", "fd": "a"}


@frozen
class Accel:
    name: str  # "kvm" | "tcg"
    notice: str | None = None  # why TCG, when KVM was asked for


def _tcg(why: str) -> Accel:
    return Accel("tcg", f"KVM cannot run this guest here ({why}): using TCG, expect it to be slow")


def choose_accel(domain_type: str, *, sysfs: str = "/sys", dev: str = "/dev/kvm") -> Accel:
    """KVM for ``<domain type='kvm'>`` where KVM can run it, else TCG with a notice.

    ``KVMNET_ACCEL=tcg`` (or ``kvm``) overrides the probe, for hosts where the probe is wrong.
    """
    if domain_type == "qemu":
        return Accel("tcg")
    forced = os.environ.get("KVMNET_ACCEL", "").strip().lower()
    if forced in ("tcg", "kvm"):
        return Accel(forced)
    if os.path.exists(os.path.join(sysfs, "module", "kvm_pvm")):
        return _tcg("PVM")
    try:
        fd = os.open(dev, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return _tcg(f"no {dev}")
    except OSError as exc:
        return _tcg(f"cannot open {dev}: {exc.strerror}")
    try:
        vm = fcntl.ioctl(fd, _KVM_CREATE_VM, 0)
    except OSError as exc:
        return _tcg(f"KVM_CREATE_VM failed: {errno.errorcode.get(exc.errno or 0, exc.strerror)}")
    finally:
        os.close(fd)
    os.close(vm)
    return Accel("kvm")


def qemu_binary(dom: Domain) -> str:
    """The emulator: ``<emulator>`` when given, else qemu-system-x86_64 from PATH."""
    if dom.emulator:
        if not os.access(dom.emulator, os.X_OK):
            raise HostError(f"emulator {dom.emulator} of guest '{dom.name}' is not an executable "
                            "file; fix <emulator> or remove it to use qemu-system-x86_64")
        return dom.emulator
    found = shutil.which(QEMU) or next(
        (p for p in (f"/usr/bin/{QEMU}", f"/usr/local/bin/{QEMU}") if os.access(p, os.X_OK)),
        None)
    if found is None:
        raise HostError(f"{QEMU} is not installed; install the qemu-system-x86 package")
    return found


def opt(value: str) -> str:
    """A value inside a QEMU option list: commas are doubled."""
    return value.replace(",", ",,")


@frozen
class SerialPlan:
    port: int
    alias: str
    socket: str
    log: str
    append: bool


def build_argv(dom: Domain, *, binary: str, accel: Accel, qmp: str, pidfile: str,
               serials: Sequence[SerialPlan], fds: Mapping[str, int] | None = None,
               vhost: bool | None = None) -> list[str]:
    """The QEMU command line of a live definition (interfaces carry their tap and alias).

    ``fds``: alias -> the descriptor number of a macvtap NIC's device, which QEMU gets open
    (``-netdev tap,fd=N``); ``vhost``: use vhost-net for those (default: where
    ``/dev/vhost-net`` exists; QEMU aborts on ``vhost=on`` without it)."""
    if vhost is None:
        vhost = os.path.exists(VHOST_NET)
    assert dom.uuid is not None
    machine = dom.os.machine or "pc"
    argv = [binary, "-name", f"guest={opt(dom.name)},debug-threads=on", "-uuid", dom.uuid,
            "-machine", f"{opt(machine)},accel={accel.name}"]
    if accel.name == "kvm":
        argv += ["-cpu", "host"]
    mib = -(-dom.memory_kib // 1024)  # QEMU wants whole MiB on x86 (libvirt aligns too)
    argv += ["-m", str(mib)]
    argv += ["-smp", f"{dom.vcpu_current},maxcpus={dom.vcpus}" if dom.vcpu_current
             else str(dom.vcpus)]
    argv += ["-nodefaults", "-no-user-config", "-nographic", "-daemonize", "-pidfile", pidfile,
             "-qmp", f"unix:{opt(qmp)},server=on,wait=off", "-msg", "timestamp=on"]
    if dom.on_reboot == "destroy":
        argv.append("-no-reboot")
    if dom.os.kernel:
        argv += ["-kernel", dom.os.kernel]
        if dom.os.initrd:
            argv += ["-initrd", dom.os.initrd]
        if dom.os.cmdline:
            argv += ["-append", dom.os.cmdline]
    if dom.os.boot:
        argv += ["-boot", "order=" + "".join(_BOOT_LETTERS[b] for b in dom.os.boot)]
    argv += _disk_args(dom, machine)
    for iface in dom.interfaces:
        if iface.pci_address:  # an SR-IOV VF: the device itself, its MAC set through the PF
            assert iface.alias, "VFs need their alias before build_argv"
            argv += ["-device", vfio_spec(iface.alias, iface.pci_address, iface.boot_order)]
            continue
        assert iface.alias and iface.target_dev, "interfaces need their tap before build_argv"
        fd = (fds or {}).get(iface.alias)
        argv += ["-netdev", netdev_spec(iface.alias, iface.target_dev) if fd is None
                 else fd_netdev_spec(iface.alias, fd, vhost)]
        argv += ["-device", nic_spec(iface.alias, iface.model, iface.mac or "", iface.mtu,
                                     iface.boot_order)]
    for h in dom.hostdevs:
        assert h.alias, "host devices need their alias before build_argv"
        argv += ["-device", vfio_spec(h.alias, h.address)]
    for s in serials:
        chardev = (f"socket,id=char{s.alias},path={opt(s.socket)},server=on,wait=off,"
                   f"logfile={opt(s.log)},logappend={'on' if s.append else 'off'}")
        argv += ["-chardev", chardev, "-device", f"isa-serial,chardev=char{s.alias},id={s.alias},index={s.port}"]
    return argv


def vfio_spec(alias: str, address: str, boot_order: int | None = None) -> str:
    """A host PCI device given through VFIO (libvirt's qemuBuildPCIHostdevDevProps)."""
    spec = f"vfio-pci,host={address},id={alias}"
    if boot_order is not None:
        spec += f",bootindex={boot_order}"
    return spec


def netdev_id(alias: str) -> str:
    return f"host{alias}"


def netdev_spec(alias: str, tap: str) -> str:
    return f"tap,id={netdev_id(alias)},ifname={opt(tap)},script=no,downscript=no"


def fd_netdev_spec(alias: str, fd: int, vhost: bool) -> str:
    """A macvtap NIC: its device is open as descriptor ``fd`` (libvirt's way: a macvtap has
    no tap name QEMU could open)."""
    return f"tap,id={netdev_id(alias)},fd={fd},vhost={'on' if vhost else 'off'}"


def nic_spec(alias: str, model: str | None, mac: str, mtu: int | None = None,
             boot_order: int | None = None) -> str:
    device = NIC_MODELS[model or "virtio"]
    spec = f"{device},netdev={netdev_id(alias)},id={alias},mac={mac}"
    if mtu is not None and device == "virtio-net-pci":
        spec += f",host_mtu={mtu}"
    if boot_order is not None:
        spec += f",bootindex={boot_order}"
    return spec


def netdev_qmp_args(alias: str, tap: str, by_fd: bool, vhost: bool | None = None
                    ) -> dict[str, object]:
    """netdev_add's arguments for a hot-plugged NIC's backend, as on the command line: a tap
    QEMU opens by name, or (``by_fd``) a macvtap whose descriptor it gets over the monitor
    (its ``fd`` is added then), with vhost-net where ``/dev/vhost-net`` exists."""
    if not by_fd:
        return {"type": "tap", "id": netdev_id(alias), "ifname": tap, "script": "no",
                "downscript": "no"}
    if vhost is None:
        vhost = os.path.exists(VHOST_NET)
    return {"type": "tap", "id": netdev_id(alias), "vhost": vhost}


def nic_qmp_args(alias: str, model: str | None, mac: str, mtu: int | None = None
                 ) -> dict[str, object]:
    """device_add's arguments for a hot-plugged NIC (the same device as on the command line)."""
    args: dict[str, object] = {"driver": NIC_MODELS[model or "virtio"], "netdev": netdev_id(alias),
                               "id": alias, "mac": mac}
    if mtu is not None and args["driver"] == "virtio-net-pci":
        args["host_mtu"] = mtu
    return args


def _disk_bus(d: Disk) -> str:
    if d.bus:
        return d.bus
    # libvirt's rule: hd* is IDE, vd* virtio, anything else (sd*) SCSI.
    return {"vd": "virtio", "hd": "ide"}.get(d.target_dev[:2], "scsi")


def _unit(dev: str) -> int:
    """hda -> 0, hdb -> 1, ..., sdaa -> 26 (libvirt's virDiskNameToIndex)."""
    letters = dev[2:]
    n = 0
    for ch in letters:
        if not "a" <= ch <= "z":
            raise UnsupportedError(f"disk target '{dev}' does not end in letters (hda, vdb ...)")
        n = n * 26 + (ord(ch) - ord("a") + 1)
    return n - 1


def _disk_args(dom: Domain, machine: str) -> list[str]:
    out: list[str] = []
    q35 = "q35" in machine
    have_ahci = q35  # q35's ICH9 has AHCI built in, as bus ide.N
    have_scsi = False
    for i, d in enumerate(dom.disks):
        bus = _disk_bus(d)
        alias = d.alias or f"disk{i}"
        drive = f"drive-{alias}"
        cdrom = d.device == "cdrom"
        spec = f"if=none,id={drive}"
        if d.source is not None:
            spec = f"file={opt(d.source)},format={d.driver_type or 'raw'}," + spec
        if d.readonly or cdrom:
            spec += ",readonly=on"
        if d.driver_cache:
            spec += f",cache={d.driver_cache}"
        if cdrom:
            spec += ",media=cdrom"
        out += ["-drive", spec]
        extra = ""
        if d.serial:
            extra += f",serial={opt(d.serial)}"
        if d.boot_order is not None:
            extra += f",bootindex={d.boot_order}"
        unit = _unit(d.target_dev)
        if bus == "virtio":
            if cdrom:
                raise UnsupportedError(f"cdrom {d.target_dev} cannot be on the virtio bus; use "
                                       "bus='ide' or 'sata'")
            dev = f"virtio-blk-pci,drive={drive},id={alias}"
        elif bus == "ide":
            if q35:
                raise UnsupportedError(f"machine '{machine}' has no IDE controller; put disk "
                                       f"{d.target_dev} on bus='sata'")
            if unit > 3:
                raise UnsupportedError(f"IDE has 4 units (hda-hdd); {d.target_dev} is beyond")
            dev = (f"{'ide-cd' if cdrom else 'ide-hd'},bus=ide.{unit // 2},unit={unit % 2},"
                   f"drive={drive},id={alias}")
        elif bus == "sata":
            if not have_ahci:
                out += ["-device", "ahci,id=ahci0"]
                have_ahci = True
            if unit > 5:
                raise UnsupportedError(f"SATA has 6 ports (sda-sdf); {d.target_dev} is beyond")
            controller = "ide" if q35 else "ahci0"
            dev = (f"{'ide-cd' if cdrom else 'ide-hd'},bus={controller}.{unit},drive={drive},"
                   f"id={alias}")
        else:  # scsi
            if not have_scsi:
                out += ["-device", "virtio-scsi-pci,id=scsi0"]
                have_scsi = True
            dev = (f"{'scsi-cd' if cdrom else 'scsi-hd'},bus=scsi0.0,scsi-id={unit},"
                   f"drive={drive},id={alias}")
        out += ["-device", dev + extra]
    return out
