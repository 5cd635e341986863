"""Linux bridge state and settings: what ``brctl`` reads and writes in sysfs, over rtnetlink.

brctl reads ``/sys/class/net/BR/bridge/*``, ``/sys/class/net/PORT/brport/*`` and the binary
``/sys/class/net/BR/brforward``, and writes single values there.  kvmnet gets the same kernel
values over rtnetlink instead, because sysfs shows the network namespace of whoever *mounted*
/sys, not of the process reading it: a process that joined a namespace without remounting
/sys (``nsenter --net``, a library's ``setns``) would read -- and change -- the bridges of
another namespace under the same name.  Netlink always answers for the caller's namespace, as
kvmnet's design requires.  The values are the same kernel fields either way:

- one ``RTM_GETLINK`` dump carries every bridge's ``IFLA_BR_*`` (ids, STP state, timers) in
  ``IFLA_INFO_DATA`` and every port's ``IFLA_BRPORT_*`` in ``IFLA_INFO_SLAVE_DATA``; timers
  and times are clock_t (centiseconds at USER_HZ=100), exactly what the sysfs files show;
- the MAC table is an ``RTM_GETNEIGH`` dump of family ``AF_BRIDGE``: the entries whose
  ``NDA_MASTER`` is the bridge are those of ``brforward`` (entries on the bridge device itself
  are the ones brforward leaves out; expired ones show as ``NUD_STALE`` and are skipped too);
- a bridge setting is an ``RTM_NEWLINK`` on the existing bridge with one ``IFLA_BR_*``
  (``ip link set BR type bridge ageing_time N``), a port setting an ``AF_BRIDGE``
  ``RTM_SETLINK`` with a nested ``IFLA_PROTINFO`` (``bridge link set dev P cost N``); the
  kernel runs the same checks as for a sysfs write (``ERANGE`` for a hello time of 0 s...).

This is a cold path (``kvmnet bridge``, brctl's verbs), so it speaks pyroute2's public API
(:mod:`.iproute`): ``get_links``, ``fdb('dump')``, ``link('set', kind='bridge', br_...)`` and
``brport('set', ...)``.

Everything crossing this module's boundary is a plain value (typed NamedTuples, the record
style of every host adapter); failures are :class:`HostError`
with the equivalent ``ip``/``bridge`` command and the errno (``exc.errno``), so that callers
can turn ``ERANGE`` into a message naming the allowed range.  Link creation, deletion and
enslaving stay with :class:`kvmnet.host.netlink.Netlink`.
"""
from __future__ import annotations

import errno as errno_mod
import struct
from typing import Any, NamedTuple, Self

from kvmnet.errors import HostError
from kvmnet.host import iproute
from kvmnet.log import get as get_logger

log = get_logger("kvmnet.host")

ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
IFF_UP = 0x1
IFF_LOOPBACK = 0x8
NTF_SELF = 0x02
NUD_STALE = 0x04
NUD_NOARP = 0x40
NUD_PERMANENT = 0x80

# Bridge settings: option -> (IFLA_BR_* attribute, the word ``ip link ... type bridge`` uses).
BRIDGE_OPTIONS: dict[str, tuple[str, str]] = {
    "ageing_time": ("IFLA_BR_AGEING_TIME", "ageing_time"),
    "forward_delay": ("IFLA_BR_FORWARD_DELAY", "forward_delay"),
    "hello_time": ("IFLA_BR_HELLO_TIME", "hello_time"),
    "max_age": ("IFLA_BR_MAX_AGE", "max_age"),
    "priority": ("IFLA_BR_PRIORITY", "priority"),
    "stp_state": ("IFLA_BR_STP_STATE", "stp_state"),
}
# Port settings: option -> (IFLA_BRPORT_* attribute, the word ``bridge link set`` uses).
PORT_OPTIONS: dict[str, tuple[str, str]] = {
    "path_cost": ("IFLA_BRPORT_COST", "cost"),
    "priority": ("IFLA_BRPORT_PRIORITY", "priority"),
}


class Link(NamedTuple):
    """Any link of the namespace, with what deciding "can it be a bridge port?" needs."""

    name: str
    ifindex: int
    kind: str | None  # IFLA_INFO_KIND: "bridge", "veth", ... (None for lo, physical NICs)
    master: int | None  # ifindex of the master device (bridge, bond...), if enslaved
    up: bool  # IFF_UP: administratively up
    link_type: int  # ARPHRD_*: 1 Ethernet, 772 loopback...
    loopback: bool

    @property
    def is_bridge(self) -> bool:
        return self.kind == "bridge"


class PortInfo(NamedTuple):
    """One bridge port as ``/sys/class/net/PORT/brport/*`` shows it (timers in centiseconds)."""

    name: str
    ifindex: int
    port_no: int
    port_id: int
    state: int  # BR_STATE_*: 0 disabled, 1 listening, 2 learning, 3 forwarding, 4 blocking
    path_cost: int
    priority: int
    designated_root: str  # "8000.aabbccddeeff", as sysfs and brctl print bridge ids
    designated_bridge: str
    designated_port: int
    designated_cost: int
    message_age_timer: int
    forward_delay_timer: int
    hold_timer: int
    config_pending: bool
    topology_change_ack: bool
    hairpin: bool


class BridgeInfo(NamedTuple):
    """One bridge as ``/sys/class/net/BR/bridge/*`` shows it; ports sorted by name as brctl
    lists ``brif/`` (byte order).  Times and timers are in centiseconds."""

    name: str
    ifindex: int
    up: bool
    bridge_id: str
    designated_root: str
    root_port: int
    root_path_cost: int
    stp_state: int  # 0 off, 1 kernel STP, 2 user-space STP
    priority: int
    max_age: int
    hello_time: int
    forward_delay: int
    ageing_time: int
    hello_timer: int
    tcn_timer: int
    topology_change_timer: int
    gc_timer: int
    topology_change: bool
    topology_change_detected: bool
    ports: tuple[PortInfo, ...] = ()


class FdbEntry(NamedTuple):
    """One MAC table entry as ``brforward`` holds it (``ageing_timer`` in centiseconds)."""

    port_no: int
    port: str
    mac: str
    is_local: bool
    ageing_timer: int
    vlan: int | None = None


class Snapshot(NamedTuple):
    """Every link of the namespace and every bridge with its ports, from one dump."""

    links: dict[str, Link]
    bridges: dict[str, BridgeInfo]

    def name_of(self, ifindex: int | None) -> str | None:
        if ifindex is None:
            return None
        for link in self.links.values():
            if link.ifindex == ifindex:
                return link.name
        return None


def name_key(name: str) -> bytes:
    """Sort key of interface names in brctl's order (scandir with alphasort in the C locale)."""
    return name.encode("utf-8", "surrogateescape")


def _bridge_id(value: Any) -> str:
    """``IFLA_BR_BRIDGE_ID`` & co. as sysfs prints them: ``8000.aabbccddeeff``.

    The kernel's struct holds the priority as two bytes in network order; pyroute2 reads them
    as a native u16, so they are packed back the same way to recover the bytes.
    """
    if not value:
        return "0000.000000000000"
    prio = struct.pack("=H", int(value.get("prio") or 0))
    addr = str(value.get("addr") or "00:00:00:00:00:00").replace(":", "").lower()
    return f"{prio[0]:02x}{prio[1]:02x}.{addr}"


def _int(data: Any, key: str) -> int:
    value = data.get(key) if data is not None else None
    return int(value) if value is not None else 0


def _port(msg: Any, data: Any) -> PortInfo:
    return PortInfo(
        name=str(msg.get("IFLA_IFNAME")),
        ifindex=int(msg["index"]),
        port_no=_int(data, "IFLA_BRPORT_NO"),
        port_id=_int(data, "IFLA_BRPORT_ID"),
        state=_int(data, "IFLA_BRPORT_STATE"),
        path_cost=_int(data, "IFLA_BRPORT_COST"),
        priority=_int(data, "IFLA_BRPORT_PRIORITY"),
        designated_root=_bridge_id(data.get("IFLA_BRPORT_ROOT_ID")),
        designated_bridge=_bridge_id(data.get("IFLA_BRPORT_BRIDGE_ID")),
        designated_port=_int(data, "IFLA_BRPORT_DESIGNATED_PORT"),
        designated_cost=_int(data, "IFLA_BRPORT_DESIGNATED_COST"),
        message_age_timer=_int(data, "IFLA_BRPORT_MESSAGE_AGE_TIMER"),
        forward_delay_timer=_int(data, "IFLA_BRPORT_FORWARD_DELAY_TIMER"),
        hold_timer=_int(data, "IFLA_BRPORT_HOLD_TIMER"),
        config_pending=bool(_int(data, "IFLA_BRPORT_CONFIG_PENDING")),
        topology_change_ack=bool(_int(data, "IFLA_BRPORT_TOPOLOGY_CHANGE_ACK")),
        hairpin=bool(_int(data, "IFLA_BRPORT_MODE")),
    )


def _bridge(msg: Any, data: Any, ports: list[PortInfo]) -> BridgeInfo:
    return BridgeInfo(
        name=str(msg.get("IFLA_IFNAME")),
        ifindex=int(msg["index"]),
        up=bool(int(msg.get("flags") or 0) & IFF_UP),
        bridge_id=_bridge_id(data.get("IFLA_BR_BRIDGE_ID")),
        designated_root=_bridge_id(data.get("IFLA_BR_ROOT_ID")),
        root_port=_int(data, "IFLA_BR_ROOT_PORT"),
        root_path_cost=_int(data, "IFLA_BR_ROOT_PATH_COST"),
        stp_state=_int(data, "IFLA_BR_STP_STATE"),
        priority=_int(data, "IFLA_BR_PRIORITY"),
        max_age=_int(data, "IFLA_BR_MAX_AGE"),
        hello_time=_int(data, "IFLA_BR_HELLO_TIME"),
        forward_delay=_int(data, "IFLA_BR_FORWARD_DELAY"),
        ageing_time=_int(data, "IFLA_BR_AGEING_TIME"),
        hello_timer=_int(data, "IFLA_BR_HELLO_TIMER"),
        tcn_timer=_int(data, "IFLA_BR_TCN_TIMER"),
        topology_change_timer=_int(data, "IFLA_BR_TOPOLOGY_CHANGE_TIMER"),
        gc_timer=_int(data, "IFLA_BR_GC_TIMER"),
        topology_change=bool(_int(data, "IFLA_BR_TOPOLOGY_CHANGE")),
        topology_change_detected=bool(_int(data, "IFLA_BR_TOPOLOGY_CHANGE_DETECTED")),
        ports=tuple(sorted(ports, key=lambda p: name_key(p.name))),
    )


class BridgeFS:
    """Bridge state and settings through the process's pyroute2 client; a context manager."""

    def open(self) -> None:
        iproute.client()

    def close(self) -> None:
        pass  # the client is the process's (kvmnet.host.iproute), shared with other adapters

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Every link, and every bridge with its ports, from one ``RTM_GETLINK`` dump."""
        msgs = iproute.link_dump("ip -d link show")
        links: dict[str, Link] = {}
        bridge_msgs: list[tuple[Any, Any]] = []
        ports: dict[int, list[PortInfo]] = {}
        for msg in msgs:
            name = str(msg.get("IFLA_IFNAME"))
            flags = int(msg.get("flags") or 0)
            info = msg.get("IFLA_LINKINFO")
            kind = info.get("IFLA_INFO_KIND") if info is not None else None
            master = msg.get("IFLA_MASTER")
            link_type = int(msg.get("ifi_type") or 0)
            links[name] = Link(name, int(msg["index"]), kind, int(master) if master else None,
                               bool(flags & IFF_UP), link_type,
                               bool(flags & IFF_LOOPBACK) or link_type == ARPHRD_LOOPBACK)
            if info is None:
                continue
            if kind == "bridge":
                bridge_msgs.append((msg, info.get("IFLA_INFO_DATA")))
            slave = info.get("IFLA_INFO_SLAVE_DATA")
            if master and info.get("IFLA_INFO_SLAVE_KIND") == "bridge" and slave is not None:
                ports.setdefault(int(master), []).append(_port(msg, slave))
        bridges: dict[str, BridgeInfo] = {}
        for msg, data in bridge_msgs:
            if data is None:  # a kernel that sends no bridge data: nothing to show
                continue
            bridge = _bridge(msg, data, ports.get(int(msg["index"]), []))
            bridges[bridge.name] = bridge
        return Snapshot(links, bridges)

    def fdb(self, bridge: BridgeInfo) -> list[FdbEntry]:
        """The bridge's MAC table as ``brforward`` has it, in kernel order."""
        replies = iproute.fdb_dump(f"bridge fdb show br {bridge.name}")
        ports = {p.ifindex: p for p in bridge.ports}
        out: list[FdbEntry] = []
        for entry in replies:
            if entry.get("NDA_MASTER") != bridge.ifindex or int(entry["flags"]) & NTF_SELF:
                continue
            port = ports.get(int(entry["ifindex"]))
            state = int(entry["state"])
            # Entries of the bridge device itself (no port) and expired ones are not in
            # brforward; static entries (local ones too) show an ageing timer of 0 there.
            if port is None or state & NUD_STALE:
                continue
            static = bool(state & (NUD_PERMANENT | NUD_NOARP))
            cache = entry.get("NDA_CACHEINFO")
            age = 0 if static or cache is None else int(cache.get("ndm_updated") or 0)
            vlan = entry.get("NDA_VLAN")
            out.append(FdbEntry(port.port_no, port.name, str(entry.get("NDA_LLADDR")).lower(),
                                bool(state & NUD_PERMANENT), age,
                                int(vlan) if vlan is not None else None))
        return out

    # -- writing -------------------------------------------------------------------------------

    def set_bridge(self, bridge: BridgeInfo, option: str, value: int) -> None:
        """Change one bridge setting (``BRIDGE_OPTIONS``); times in centiseconds."""
        attr, word = BRIDGE_OPTIONS[option]
        command = f"ip link set dev {bridge.name} type bridge {word} {value}"
        # RTM_NEWLINK without NLM_F_CREATE changes the existing link (rtnl_changelink).
        iproute.call(command, f"setting {word} of {bridge.name} to {value}", "link", "set",
                     index=bridge.ifindex, kind="bridge", **{attr[len("IFLA_"):].lower(): value})

    def set_port(self, port: PortInfo, option: str, value: int) -> None:
        """Change one port setting (``PORT_OPTIONS``) of a port that is in a bridge."""
        attr, word = PORT_OPTIONS[option]
        command = f"bridge link set dev {port.name} {word} {value}"
        # As bridge(8): the port's IFLA_BRPORT_* for its bridge (pyroute2's brport('set')).
        iproute.call(command, f"setting the {word} of port {port.name} to {value}", "brport",
                     "set", index=port.ifindex, **{attr[len("IFLA_BRPORT_"):].lower(): value})


def range_error(exc: HostError) -> bool:
    """True if the kernel refused a value as out of range (ERANGE)."""
    return exc.errno == errno_mod.ERANGE
