"""macvtap links for guest NICs, their character devices, and macvlan links for host access.

A macvtap link (``ip link add link eth0 name macvtap0 type macvtap mode bridge``) is made with
pyroute2's public ``IPRoute`` (:mod:`.iproute`); the guest's frames then go through its
character device, which QEMU gets as an open file descriptor.

Why kvmnet makes its own device node instead of opening ``/dev/tapN``: the kernel names a
macvtap's node after the link's *ifindex*, which is per network namespace, while ``/dev`` is
shared by all of them.  Two namespaces' ``macvtap0`` can both have ifindex 5; udev (or
devtmpfs) then has one ``/dev/tap5`` for two devices, and opening it can attach the guest as
a second queue of *another namespace's* macvtap, silently.  The device number (major:minor)
is unique, though, and the namespace's own sysfs says which it is
(``/sys/class/net/macvtap0/macvtap/tap5/dev``; sysfs shows the links of the namespace it was
mounted in: ``ip netns exec`` mounts a fresh one).  So :func:`device_number` reads it there
(checking that this sysfs is the namespace's own: the link's ifindex in sysfs must be the
one netlink reported) and :func:`make_node` makes a private node with ``mknod`` under
kvmnet's run directory, named after the port, so that any number of guests starting at
once each open their own device.  That directory must be on a filesystem mounted without
``nodev`` (:func:`nodev_problem`), or opening the node fails with EACCES.

Every change is logged at debug level in shell form; failures are diagnosed HostErrors.
"""
from __future__ import annotations

import errno as errno_mod
import os
import stat

from kvmnet.errors import HostError
from kvmnet.log import get as get_logger

log = get_logger("kvmnet.host")

#: kernel macvlan/macvtap modes (``IFLA_MACVLAN_MODE``), by ``ip``'s names
MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8}
#: name templates for the links kvmnet makes (libvirt's names)
MACVTAP_PREFIX = "macvtap"
MACVLAN_PREFIX = "macvlan"


def sysfs_root() -> str:
    """The sysfs kvmnet reads: ``$KVMNET_SYSFS`` or ``/sys`` (:func:`kvmnet.host.sysfs.root`)."""
    from kvmnet.host import sysfs

    return str(sysfs.root())


def _names() -> set[str]:
    import socket

    return {name for _, name in socket.if_nameindex()}


def kernel_mode(mode: str) -> str:
    """``ip``'s mode name for libvirt's ``passthrough``, the others unchanged."""
    return "passthru" if mode == "passthrough" else mode


def create(parent: str, mode: str, mac: str, *, kind: str = "macvtap",
           prefix: str = MACVTAP_PREFIX, name: str | None = None) -> tuple[str, int]:
    """Create a macvtap (or macvlan: ``kind``) on ``parent`` in ``mode`` with ``mac``; returns
    its name and ifindex.  Without ``name``, the first free ``PREFIXN`` (libvirt's names):
    a name another process took meanwhile makes it try the next one."""
    from kvmnet.host import iproute

    kmode = kernel_mode(mode)
    if kmode not in MODES:
        raise HostError(f"unknown macvtap mode {mode!r}; use bridge, private, vepa or "
                        "passthrough", None, errno_mod.EINVAL)
    parent_command = f"ip link add link {parent} type {kind}"
    index = iproute.link_index(parent, parent_command)
    taken = _names()
    for n in range(65536) if name is None else (0,):
        candidate = name if name is not None else f"{prefix}{n}"
        if candidate in taken:
            continue
        command = (f"ip link add link {parent} name {candidate} address {mac} type {kind} "
                   f"mode {kmode}")
        try:
            iproute.call(command, f"creating {kind} {candidate} on {parent}", "link", "add",
                         ifname=candidate, kind=kind, link=index, address=mac,
                         **{f"{kind}_mode": kmode})
        except HostError as exc:
            if exc.errno == errno_mod.EEXIST and name is None:
                continue  # another process took the name first: the next one
            raise _diagnose(exc, kind, parent, kmode) from None
        made = iproute.link_index(candidate, command)
        return candidate, made
    raise HostError(f"no free {prefix}N name left on this host", None, errno_mod.ENFILE)


def _diagnose(exc: HostError, kind: str, parent: str, mode: str) -> HostError:
    if exc.errno == errno_mod.EOPNOTSUPP:
        return HostError(f"this kernel has no {kind} support: load the {kind} module "
                         f"(modprobe {kind})", exc.command, exc.errno)
    if exc.errno in (errno_mod.EBUSY, errno_mod.EINVAL) and mode == "passthru":
        return HostError(f"{parent} already carries another macvtap or macvlan: passthrough "
                         "mode needs a device of its own; remove the others or use another "
                         "device", exc.command, exc.errno)
    if exc.errno == errno_mod.EADDRINUSE:
        return HostError(f"another {kind} on {parent} already has this MAC address; give the "
                         "guest another MAC", exc.command, exc.errno)
    return exc


def device_number(name: str, ifindex: int) -> tuple[int, int]:
    """(major, minor) of macvtap ``name``'s character device, from this namespace's sysfs.

    Raises HostError when the sysfs in view belongs to another network namespace (its
    ``name`` is missing or has another ifindex), instead of guessing."""
    base = os.path.join(sysfs_root(), "class", "net", name)
    try:
        with open(os.path.join(base, "ifindex"), encoding="ascii") as fh:
            seen = int(fh.read().strip())
    except (OSError, ValueError):
        seen = None
    if seen != ifindex:
        raise HostError(
            f"the sysfs at {sysfs_root()} does not show this network namespace's {name} "
            f"(ifindex {ifindex}, sysfs shows {seen}): sysfs lists the links of the namespace "
            "it was mounted in; run kvmnet with 'ip netns exec NS', which mounts the "
            "namespace's own sysfs", f"cat {base}/macvtap/tap{ifindex}/dev", errno_mod.ENODEV)
    path = os.path.join(base, "macvtap", f"tap{ifindex}", "dev")
    try:
        with open(path, encoding="ascii") as fh:
            major, _, minor = fh.read().strip().partition(":")
        return int(major), int(minor)
    except (OSError, ValueError) as exc:
        raise HostError(f"cannot read the device number of {name} from {path}: {exc}; is it a "
                        "macvtap?", f"cat {path}", errno_mod.ENODEV) from exc


def pf_netdevs(pf: str) -> tuple[str, ...]:
    """The netdev names of ``pf``'s virtual functions, from sysfs; HostError when ``pf`` has
    none (a device without SR-IOV, or with its VFs not enabled)."""
    from kvmnet.host import sysfs

    if sysfs.resolve_pci(pf) is None:
        raise HostError(f"physical function {pf} is not a PCI network device in "
                        f"{sysfs.root()}: check the name in <pf dev=...> (kvmnet "
                        "nodedev-list --cap net)")
    vfs = sysfs.virtual_functions(pf)
    names = tuple(vf.netdev for vf in vfs if vf.netdev)
    if not names:
        raise HostError(
            f"physical function {pf} has no virtual functions with a network device (sysfs "
            f"{sysfs.root()}/class/net/{pf}/device/sriov_numvfs): enable them first (echo N > "
            "sriov_numvfs) or list the devices with <interface dev=.../>")
    return names


def nodev_problem(directory: str) -> str | None:
    """Why device nodes made in ``directory`` cannot be opened (its filesystem is mounted
    ``nodev``), or None."""
    try:
        flags = os.statvfs(directory).f_flag
    except OSError as exc:
        return f"cannot inspect {directory}: {exc.strerror}"
    if flags & os.ST_NODEV:
        return (f"{directory} is on a filesystem mounted 'nodev', where device nodes cannot be "
                "opened; set KVMNET_ROOT to a directory on a filesystem without nodev (the root "
                "filesystem usually is; /tmp and /run often are not), or remount it with 'dev'")
    return None


def make_node(path: str, major: int, minor: int) -> None:
    """``mknod -m 600 PATH c MAJOR MINOR``: a private node for a macvtap's device (a stale
    node of the same name, left by a crash, is replaced)."""
    log.debug("mknod -m 600 %s c %d %d", path, major, minor)
    problem = nodev_problem(os.path.dirname(path) or ".")
    if problem is not None:
        raise HostError(problem, f"mknod {path} c {major} {minor}", errno_mod.EACCES)
    remove_node(path, quiet=True)
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(major, minor))
    except OSError as exc:
        raise HostError(f"cannot make device node {path}: {exc.strerror}; kvmnet needs root "
                        "(CAP_MKNOD) for macvtap ports", f"mknod {path} c {major} {minor}",
                        exc.errno) from exc


def remove_node(path: str, quiet: bool = False) -> None:
    """Remove a node kvmnet made (only a character device: never another file)."""
    try:
        if not stat.S_ISCHR(os.lstat(path).st_mode):
            return
        if not quiet:
            log.debug("rm -f %s", path)
        os.unlink(path)
    except FileNotFoundError:
        pass


def open_node(path: str) -> int:
    """Open a macvtap node read-write (QEMU needs both: a read-only descriptor starts but
    carries nothing)."""
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        raise HostError(f"cannot open macvtap device {path}: {exc.strerror}",
                        f"exec 3<>{path}", exc.errno) from exc


def link_info(name: str) -> tuple[int, str | None, str | None] | None:
    """(ifindex, kind, MAC) of link ``name``, or None when there is none."""
    from kvmnet.host import iproute

    try:
        msgs = iproute.query(f"ip -d link show {name}", f"reading {name}", "link", "get",
                             ifname=name)
    except HostError:
        return None
    msg = msgs[0]
    info = msg.get("IFLA_LINKINFO")
    kind = info.get("IFLA_INFO_KIND") if info is not None else None
    return int(msg["index"]), kind, msg.get("IFLA_ADDRESS")


def uppers(parent: str) -> list[str]:
    """The macvtap and macvlan links on ``parent`` (their ``IFLA_LINK`` is its ifindex)."""
    from kvmnet.host import iproute

    index = iproute.link_index(parent, f"ip -d link show {parent}")
    found = []
    for msg in iproute.link_dump(f"ip -d link show | grep '@{parent}:'"):
        info = msg.get("IFLA_LINKINFO")
        kind = info.get("IFLA_INFO_KIND") if info is not None else None
        if kind in ("macvtap", "macvlan") and msg.get("IFLA_LINK") == index:
            found.append(str(msg.get("IFLA_IFNAME")))
    return sorted(found)


def refuse_uppers(parent: str) -> None:
    """HostError when ``parent`` already carries a macvtap or macvlan: a passthrough macvtap
    must be its only one (the kernel refuses it too, but only once the parent's settings were
    changed for it)."""
    taken = uppers(parent)
    if taken:
        raise HostError(f"{parent} already carries {', '.join(taken)}: passthrough mode needs a "
                        "device of its own; remove the others or use another device",
                        f"ip link add link {parent} type macvtap mode passthru", errno_mod.EBUSY)
