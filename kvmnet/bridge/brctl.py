"""Linux bridges the way ``brctl`` (bridge-utils 1.7) manages them, without bridge-utils.

:class:`Bridges` does what each brctl command does -- add/delete bridges and ports, STP on/off
and its timers, ageing, priorities, path costs, hairpin -- through netlink
(:mod:`kvmnet.host.netlink` for links, :mod:`kvmnet.host.bridgefs` for bridge settings and
state); :mod:`kvmnet.bridge.format` reads brctl's values and lays out its output.

Every check is done before the first change, so a refused command changes nothing.  Where
brctl lets a mistake through, kvmnet refuses it with the reason and the fix:

- names longer than 15 bytes (brctl truncates them silently and acts on the shorter name);
- ``hairpin``, ``setpathcost``, ``setportprio`` naming a port of *another* bridge (brctl
  changes that port anyway);
- values brctl's ``sscanf`` half-reads (``5x``, ``1.5`` as a priority, ``inf`` seconds) or
  wraps (a bridge priority of 65536 becomes 0);
- enslaving a device that is in another bridge (netlink would silently move it).

Units: brctl takes and shows seconds with two decimals; the kernel keeps centiseconds
(clock_t at USER_HZ=100).  Seconds are converted exactly in decimal and cut to whole
centiseconds, as brctl does (``0.3`` is 30, ``1.239`` is 123); the kernel then stores them in
jiffies, so on a kernel with HZ=250 some values read back one centisecond lower (1.23 s reads
1.22) -- the same for brctl and kvmnet.  Integers are read as C's ``%i`` reads them, as brctl
does: ``0x10`` is 16 and ``010`` is 8.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Self

from kvmnet.bridge.format import U32_MAX, format_seconds, sort_macs
from kvmnet.errors import (
    VIR_ERR_NO_INTERFACE,
    ConflictError,
    HostError,
    InvalidArgError,
    KvmnetError,
    NotFoundError,
    OperationInvalidError,
)
from kvmnet.host.bridgefs import (
    ARPHRD_ETHER,
    BridgeFS,
    BridgeInfo,
    FdbEntry,
    Link,
    PortInfo,
    Snapshot,
    name_key,
    range_error,
)

if TYPE_CHECKING:
    from kvmnet.host.netlink import Netlink

IFNAMSIZ = 16  # including the terminating NUL
DEFAULT_FORWARD_DELAY_CS = 1500  # the kernel's default for a new bridge (15 s), as brctl gets

# The kernel's limits (net/bridge/br_private.h, br_stp.c), quoted when it answers ERANGE.
TIME_LIMITS = {
    "forward_delay": "2 to 30 seconds while STP is on (any value while it is off)",
    "hello_time": "1 to 10 seconds",
    "max_age": "6 to 40 seconds",
}
TIME_LABELS = {
    "ageing_time": ("set ageing time failed", "ageing time"),
    "forward_delay": ("set forward delay failed", "forward delay"),
    "hello_time": ("set hello timer failed", "hello time"),
    "max_age": ("set max age failed", "max age"),
}

def check_name(name: str, role: str = "bridge") -> None:
    """Refuse what Linux refuses as an interface name (dev_valid_name), saying why."""
    if not name:
        raise InvalidArgError(f"the {role} name is empty: give a name")
    size = len(name.encode("utf-8", "surrogateescape"))
    if size >= IFNAMSIZ:
        raise InvalidArgError(
            f"{role} name '{name}' is too long ({size} bytes): Linux interface names have at "
            f"most {IFNAMSIZ - 1} bytes; choose a shorter name")
    if name in (".", "..") or any(c in name for c in "/:") or any(c.isspace() for c in name):
        raise InvalidArgError(
            f"{role} name '{name}' is not a valid interface name: Linux forbids '.', '..', "
            "'/', ':' and whitespace in names; choose another name")


# -- the commands ----------------------------------------------------------------------------


def _no_bridge(name: str) -> NotFoundError:
    return NotFoundError(f"bridge {name} does not exist: check the name (kvmnet bridge show "
                         "lists the bridges)", code=VIR_ERR_NO_INTERFACE)


def _no_interface(name: str) -> NotFoundError:
    return NotFoundError(f"interface {name} does not exist: check the name (ip link show "
                         "lists the interfaces)", code=VIR_ERR_NO_INTERFACE)


def _kind(link: Link) -> str:
    """What a device is, for "X is not a bridge (it is ...)"."""
    if link.loopback:
        return "it is the loopback device"
    return f"it is a {link.kind} device" if link.kind else "it is a device without a link kind, " \
        "such as a physical NIC"


class Bridges:
    """brctl's commands on the bridges of the current network namespace.

    >>> with Bridges() as br:                                  # doctest: +SKIP
    ...     br.add_bridge("br0"); br.add_port("br0", "eth1"); br.set_stp("br0", True)
    """

    def __init__(self) -> None:
        self._fs = BridgeFS()
        self._nl: Netlink | None = None

    def close(self) -> None:
        self._fs.close()
        if self._nl is not None:
            self._nl.close()
            self._nl = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _netlink(self) -> Netlink:
        if self._nl is None:
            from kvmnet.host.netlink import Netlink

            self._nl = Netlink()
        return self._nl

    # -- lookups -------------------------------------------------------------------------------

    def _bridge(self, snap: Snapshot, name: str) -> BridgeInfo:
        check_name(name, "bridge")
        link = snap.links.get(name)
        if link is None:
            raise _no_bridge(name)
        bridge = snap.bridges.get(name)
        if bridge is None:
            raise InvalidArgError(f"device {name} is not a bridge ({_kind(link)}): give a bridge "
                                  "name (kvmnet bridge show lists the bridges)")
        return bridge

    def _interface(self, snap: Snapshot, name: str) -> Link:
        check_name(name, "interface")
        link = snap.links.get(name)
        if link is None:
            raise _no_interface(name)
        return link

    def _port(self, snap: Snapshot, bridge_name: str, port_name: str) -> PortInfo:
        bridge = self._bridge(snap, bridge_name)
        link = self._interface(snap, port_name)
        for port in bridge.ports:
            if port.name == port_name:
                return port
        raise self._not_a_port(snap, bridge, link)

    @staticmethod
    def _not_a_port(snap: Snapshot, bridge: BridgeInfo, link: Link) -> KvmnetError:
        where = ""
        master = snap.name_of(link.master)
        if master is not None:
            where = f" (it is a port of {master})" if master in snap.bridges else \
                f" (it is enslaved to {master})"
        return InvalidArgError(f"device {link.name} is not a port of {bridge.name}{where}: "
                               f"'kvmnet bridge show {bridge.name}' lists its ports")

    # -- reading -------------------------------------------------------------------------------

    def show(self, names: Sequence[str] | None = None
             ) -> tuple[list[BridgeInfo], list[KvmnetError]]:
        """The bridges named (in that order, as brctl), or all sorted by name; with the
        problem of each name that is not a bridge."""
        snap = self._fs.snapshot()
        if not names:
            return sorted(snap.bridges.values(), key=lambda b: name_key(b.name)), []
        found: list[BridgeInfo] = []
        problems: list[KvmnetError] = []
        for name in names:
            try:
                found.append(self._bridge(snap, name))
            except KvmnetError as exc:
                problems.append(exc)
        return found, problems

    def stp_info(self, name: str) -> BridgeInfo:
        return self._bridge(self._fs.snapshot(), name)

    def macs(self, name: str) -> list[FdbEntry]:
        """The bridge's MAC table, sorted by MAC address as brctl shows it."""
        return sort_macs(self._fs.fdb(self._bridge(self._fs.snapshot(), name)))

    # -- bridges -------------------------------------------------------------------------------

    def add_bridge(self, name: str) -> None:
        """``brctl addbr``: a new bridge, down, STP off, the kernel's default timers."""
        from kvmnet.host.netlink import LinkExistsError

        check_name(name, "bridge")
        existing = self._fs.snapshot().links.get(name)
        if existing is not None:
            raise self._exists(name, existing.kind)
        try:
            self._netlink().create_bridge(name, stp=False, forward_delay_cs=DEFAULT_FORWARD_DELAY_CS,
                                          up=False)
        except LinkExistsError as exc:  # created by someone else meanwhile
            raise self._exists(name, exc.kind) from exc

    @staticmethod
    def _exists(name: str, kind: str | None) -> ConflictError:
        what = "it is a bridge already" if kind == "bridge" else \
            f"it is a {kind} device" if kind else "another device has that name"
        return ConflictError(f"device {name} already exists; can't create bridge with the same "
                             f"name ({what}): choose another name")

    def delete_bridge(self, name: str) -> None:
        """``brctl delbr``: only a bridge that is down, as the kernel's bridge ioctl insists."""
        check_name(name, "bridge")
        snap = self._fs.snapshot()
        link = snap.links.get(name)
        if link is None:
            raise NotFoundError(f"bridge {name} doesn't exist; can't delete it",
                                code=VIR_ERR_NO_INTERFACE)
        if not link.is_bridge:
            raise InvalidArgError(f"device {name} is not a bridge ({_kind(link)}); can't delete it "
                                  f"with delbr: delbr deletes bridges only")
        if link.up:
            raise OperationInvalidError(f"bridge {name} is still up; can't delete it: bring it "
                                        f"down first (ip link set {name} down)")
        if not self._netlink().delete_link(name):
            raise NotFoundError(f"bridge {name} doesn't exist; can't delete it",
                                code=VIR_ERR_NO_INTERFACE)

    # -- ports ---------------------------------------------------------------------------------

    def add_port(self, bridge_name: str, port_name: str) -> None:
        """``brctl addif``: enslave an Ethernet device that is in no bridge (or bond) yet."""
        snap = self._fs.snapshot()
        bridge = self._bridge(snap, bridge_name)
        link = self._interface(snap, port_name)
        if link.ifindex == bridge.ifindex:
            raise InvalidArgError(f"device {port_name} is the bridge itself; can't add a bridge "
                                  "device to a bridge device")
        if link.is_bridge:
            raise InvalidArgError(f"device {port_name} is a bridge device itself; can't add a "
                                  "bridge device to a bridge device")
        if link.loopback:
            raise InvalidArgError(f"can't add {port_name} to bridge {bridge_name}: {port_name} is "
                                  "the loopback device, which cannot be a bridge port")
        if link.link_type != ARPHRD_ETHER:
            raise InvalidArgError(
                f"can't add {port_name} to bridge {bridge_name}: {port_name} is not an Ethernet "
                f"device (link type {link.link_type}), and a bridge forwards Ethernet frames "
                "only: use a tap, veth or Ethernet device")
        if link.master == bridge.ifindex:
            raise ConflictError(f"device {port_name} is already a port of {bridge_name}")
        if link.master is not None:
            master = snap.name_of(link.master) or f"ifindex {link.master}"
            if master in snap.bridges:
                raise ConflictError(
                    f"device {port_name} is already a member of bridge {master}; can't add it to "
                    f"bridge {bridge_name}: remove it first (kvmnet bridge delif {master} "
                    f"{port_name})")
            raise ConflictError(f"device {port_name} is already enslaved to {master}; can't add "
                                f"it to bridge {bridge_name}: release it from {master} first")
        self._netlink().set_master(port_name, bridge_name)

    def delete_port(self, bridge_name: str, port_name: str) -> None:
        """``brctl delif``: release a port of this bridge (and of no other)."""
        snap = self._fs.snapshot()
        self._port(snap, bridge_name, port_name)
        self._netlink().set_master(port_name, None)

    def set_hairpin(self, bridge_name: str, port_name: str, on: bool) -> None:
        self._port(self._fs.snapshot(), bridge_name, port_name)
        self._netlink().bridge_port_set(port_name, hairpin=on)

    def set_path_cost(self, bridge_name: str, port_name: str, cost: int) -> None:
        self._set_port(bridge_name, port_name, "path_cost", cost,
                       ("set path cost failed", "path cost", "1 to 65535"))

    def set_port_priority(self, bridge_name: str, port_name: str, priority: int) -> None:
        self._set_port(bridge_name, port_name, "priority", priority,
                       ("set port priority failed", "port priority", "0 to 63"))

    def _set_port(self, bridge_name: str, port_name: str, option: str, value: int,
                  labels: tuple[str, str, str]) -> None:
        failed, what, limits = labels
        port = self._port(self._fs.snapshot(), bridge_name, port_name)
        # Outside the attribute's width the kernel never sees the value: refuse it the same way.
        width = U32_MAX if option == "path_cost" else 0xFFFF
        if not 0 <= value <= width:
            raise InvalidArgError(f"{failed}: {what} {value} is out of range: Linux accepts "
                                  f"{limits}")
        try:
            self._fs.set_port(port, option, value)
        except HostError as exc:
            if range_error(exc):
                raise InvalidArgError(f"{failed}: {what} {value} is out of range: Linux accepts "
                                      f"{limits}") from exc
            raise

    # -- bridge settings -----------------------------------------------------------------------

    def set_time(self, bridge_name: str, option: str, cs: int) -> None:
        """``setageing``, ``setfd``, ``sethello``, ``setmaxage``: ``option`` is ``ageing_time``,
        ``forward_delay``, ``hello_time`` or ``max_age``; ``cs`` in centiseconds."""
        failed, what = TIME_LABELS[option]
        bridge = self._bridge(self._fs.snapshot(), bridge_name)
        try:
            self._fs.set_bridge(bridge, option, cs)
        except HostError as exc:
            if range_error(exc) and option in TIME_LIMITS:
                raise InvalidArgError(
                    f"{failed}: {what} {format_seconds(cs).strip()} s is out of range for "
                    f"{bridge_name}: Linux accepts {TIME_LIMITS[option]}") from exc
            raise

    def set_priority(self, bridge_name: str, priority: int) -> None:
        """``setbridgeprio``: the bridge priority of its STP bridge id (0..65535)."""
        bridge = self._bridge(self._fs.snapshot(), bridge_name)
        if not 0 <= priority <= 0xFFFF:
            raise InvalidArgError(f"set bridge priority failed: priority {priority} is out of "
                                  "range: give 0 to 65535 (lower wins the root election; the "
                                  "default is 32768)")
        self._fs.set_bridge(bridge, "priority", priority)

    def set_stp(self, bridge_name: str, on: bool) -> None:
        bridge = self._bridge(self._fs.snapshot(), bridge_name)
        self._fs.set_bridge(bridge, "stp_state", 1 if on else 0)
