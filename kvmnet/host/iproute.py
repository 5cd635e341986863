"""pyroute2's public ``IPRoute`` for every cold change to the host's links: one client per process.

kvmnet has two paths to rtnetlink, one per concern.  The hot path of ``net-start`` and
``net-destroy`` (and the link operations of the same shape that port plugging shares) is hand
packed (:mod:`.rtpack` on :mod:`.rtnl`), because importing pyroute2 costs ~150-230 ms, more than
those verbs take (bench/bench_netlink.py prints both).  Everything else -- bridge-port flags,
bridge options, VLAN filtering, the FDB, other link kinds (vlan, bond), the detailed link dump
``brctl show`` reads -- uses pyroute2's public API here, so there is no hand-written encoding to
maintain for those; a cold verb pays the import once per process (:func:`client`).

Each helper logs the change at debug level in the form a person would type (``bridge link set
dev vnet0 isolated on``) and turns pyroute2's ``NetlinkError`` into a diagnosed
:class:`~kvmnet.errors.HostError` (:meth:`.rtnl.RtnlError.diagnose`: what, why, the fix).
Callers pass plain values and get plain values or pyroute2's messages (read with ``.get``).
"""
from __future__ import annotations

import errno as errno_mod
import threading
from collections.abc import Callable
from typing import Any

from kvmnet.errors import HostError
from kvmnet.host.rtnl import RtnlError
from kvmnet.log import get as get_logger

log = get_logger("kvmnet.host")

# ndmsg flags and states (linux/neighbour.h), for ``bridge fdb add ... master temp``
NTF_MASTER = 0x04
NUD_REACHABLE = 0x02

_lock = threading.Lock()
_client: Any = None
_owner: tuple[int, int] = (0, 0)  # (pid, network namespace inode) the client was opened in


def _where() -> tuple[int, int]:
    import os

    try:
        netns = os.stat("/proc/self/ns/net").st_ino
    except OSError:
        netns = 0
    return os.getpid(), netns


def client() -> Any:
    """The process's ``pyroute2.IPRoute``, opened on first use in the caller's namespace.

    A client inherited through fork, or opened before the process moved to another network
    namespace, is not reused: its socket would change the other namespace (the tests fork into
    theirs), so a new one is opened where the caller is now."""
    global _client, _owner
    with _lock:
        here = _where()
        if _client is not None and _owner != here:
            _client = None  # not closed: its socket and event loop belong to the other owner
        if _client is None:
            try:
                from pyroute2 import IPRoute
            except ImportError as exc:
                raise HostError("pyroute2 is not installed: install kvmnet's dependencies "
                                "(pip install -e .)", None, errno_mod.ENOENT) from exc
            try:
                _client = IPRoute()
                if _owner == (0, 0):  # the first client of this process: close at exit
                    import atexit

                    atexit.register(close)
                _owner = here
            except OSError as exc:
                raise HostError(f"cannot open an rtnetlink socket: {exc.strerror}",
                                "ip link show", exc.errno) from exc
        return _client


def close() -> None:
    """Close the process's client (a later call opens a new one)."""
    global _client
    with _lock:
        if _client is not None and _owner == _where():
            _client, old = None, _client
            old.close()
        _client = None  # another process's or namespace's: not ours to close


def call(command: str, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """``client().METHOD(*args, **kwargs)``, logged as ``command``; a refusal is a HostError.

    ``what`` names the change for the error ("setting bridge-port flags on vnet0")."""
    log.debug("%s", command)
    return _invoke(command, what, method, args, kwargs)


def query(command: str, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """As :func:`call` for a read, which is not logged."""
    return _invoke(command, what, method, args, kwargs)


def _invoke(command: str, what: str, method: str, args: tuple[Any, ...],
            kwargs: dict[str, Any]) -> Any:
    from pyroute2 import NetlinkError

    fn: Callable[..., Any] = getattr(client(), method)
    try:
        with _lock:  # one request at a time on the shared socket
            return fn(*args, **kwargs)
    except NetlinkError as exc:
        raise RtnlError(int(exc.code), _text(exc)).diagnose(command, what) from exc
    except (ValueError, TypeError, OverflowError) as exc:  # refused before the kernel
        raise RtnlError(errno_mod.EINVAL, str(exc), local=True).diagnose(command, what) from exc


def _text(exc: Exception) -> str | None:
    args = list(exc.args)
    text = args[1] if len(args) > 1 and isinstance(args[1], str) else None
    return text or None


def link_index(name: str, command: str) -> int:
    """The ifindex of ``name``; :class:`~kvmnet.host.nltypes.LinkNotFoundError` if absent."""
    from kvmnet.host.nltypes import LinkNotFoundError, check_ifname

    check_ifname(name, command)
    import _socket

    try:
        return int(_socket.if_nametoindex(name))
    except OSError:
        raise LinkNotFoundError(
            f"interface {name} does not exist in this network namespace: check the name "
            "(ip link show)", command, errno_mod.ENODEV) from None


# -- bridge ports ------------------------------------------------------------------------------

def brport_set(port: str, command: str, what: str, **flags: int) -> None:
    """Set ``IFLA_BRPORT_*`` flags of bridge port ``port`` (pyroute2's ``brport('set')``; the
    keywords are the attribute names without the prefix, in lower case: ``isolated``,
    ``mode`` (hairpin), ``learning``, ``unicast_flood``, ``cost``, ``priority``...)."""
    index = link_index(port, command)
    call(command, what, "brport", "set", index=index, **flags)


def bridge_set(bridge: str, command: str, what: str, **options: int) -> None:
    """Change bridge options (``ip link set dev BR type bridge ...``): keywords are pyroute2's
    ``br_*`` names (``br_stp_state``, ``br_forward_delay``, ``br_vlan_filtering``...)."""
    index = link_index(bridge, command)
    call(command, what, "link", "set", index=index, kind="bridge", **options)


def link_get(name: str, command: str) -> Any:
    """The decoded RTM_NEWLINK of ``name`` (every attribute, nested ones included)."""
    index = link_index(name, command)
    return query(command, f"looking up {name}", "link", "get", index=index)[0]


def link_dump(command: str = "ip -d link show") -> list[Any]:
    """Every link, fully decoded (``IFLA_INFO_DATA``, ``IFLA_INFO_SLAVE_DATA``...)."""
    return list(query(command, "listing links", "get_links"))


def fdb_dump(command: str) -> list[Any]:
    """Every AF_BRIDGE neighbour entry (the bridges' forwarding databases)."""
    return list(query(command, "reading the MAC tables", "fdb", "dump"))


def vlan_add(port: str, vid: int, *, pvid: bool, untagged: bool, command: str) -> None:
    flags = [f for f, on in (("pvid", pvid), ("untagged", untagged)) if on]
    call(command, f"adding VLAN {vid} to {port}", "vlan_filter", "add",
         index=link_index(port, command), vlan_info={"vid": vid, "flags": flags})


def vlan_del(port: str, vid: int, *, command: str) -> None:
    call(command, f"removing VLAN {vid} from {port}", "vlan_filter", "del",
         index=link_index(port, command), vlan_info={"vid": vid})


def fdb_add_temp(port: str, mac: str, *, command: str) -> None:
    """``bridge fdb add MAC dev PORT master temp``: a bridge entry that is not static."""
    call(command, f"adding {mac} to the MAC table of {port}", "fdb", "add",
         ifindex=link_index(port, command), lladdr=mac, flags=NTF_MASTER, state=NUD_REACHABLE)


def link_add(command: str, what: str, **spec: Any) -> None:
    """Create a link of any kind pyroute2 knows (``ifname=``, ``kind=``, its options)."""
    call(command, what, "link", "add", **spec)


# -- link kinds beyond the bridge (kvmnet iface) -----------------------------------------------

_BOND_MODES = {"balance-rr": 0, "active-backup": 1, "balance-xor": 2, "broadcast": 3,
               "802.3ad": 4, "balance-tlb": 5, "balance-alb": 6}
_ARP_VALIDATE = {"none": 0, "active": 1, "backup": 2, "all": 3, "filter": 4,
                 "filter_active": 5, "filter_backup": 6}


def add_link_kind(command: str, what: str, missing: str | None, **spec: Any) -> None:
    """Create a link with pyroute2's ``link('add', ...)``; ``missing``: the message of the
    :class:`~kvmnet.errors.UnsupportedError` raised when the kernel lacks the kind
    (EOPNOTSUPP, what ``ip`` prints as "Unknown device type")."""
    from kvmnet.errors import UnsupportedError

    try:
        call(command, what, "link", "add", **spec)
    except HostError as exc:
        if missing is not None and exc.errno == errno_mod.EOPNOTSUPP:
            raise UnsupportedError(missing) from None
        raise


def create_vlan(name: str, device: str, tag: int, missing: str | None = None) -> None:
    """``ip link add link DEVICE name NAME type vlan id TAG``."""
    command = f"ip link add link {device} name {name} type vlan id {tag}"
    add_link_kind(command, f"creating VLAN {name}", missing, ifname=name, kind="vlan",
                  link=link_index(device, command), vlan_id=tag)


def create_bond(name: str, mode: str | None, miimon: tuple[int, int, int, str | None] | None,
                arpmon: tuple[int, str, str | None] | None, missing: str | None = None) -> None:
    """``ip link add NAME type bond [mode M] [miimon F downdelay D updelay U [use_carrier C]]
    [arp_interval I arp_ip_target T [arp_validate V]]`` (libvirt's bond options)."""
    words = ["ip", "link", "add", "name", name, "type", "bond"]
    spec: dict[str, Any] = {"ifname": name, "kind": "bond"}
    if mode:
        words += ["mode", mode]
        spec["bond_mode"] = _BOND_MODES[mode] if mode in _BOND_MODES else int(mode)
    if miimon is not None:
        freq, down, up, carrier = miimon
        words += ["miimon", str(freq), "downdelay", str(down), "updelay", str(up)]
        spec.update(bond_miimon=freq, bond_downdelay=down, bond_updelay=up)
        if carrier:
            words += ["use_carrier", "0" if carrier == "ioctl" else "1"]
            spec["bond_use_carrier"] = 0 if carrier == "ioctl" else 1
    if arpmon is not None:
        interval, target, validate = arpmon
        words += ["arp_interval", str(interval), "arp_ip_target", target]
        spec.update(bond_arp_interval=interval, bond_arp_ip_target=[target])
        if validate:
            words += ["arp_validate", validate]
            spec["bond_arp_validate"] = _ARP_VALIDATE[validate]
    add_link_kind(" ".join(words), f"creating bond {name}", missing, **spec)


def set_bridge_stp(name: str, stp: bool, forward_delay_cs: int | None) -> None:
    """``ip link set dev NAME type bridge stp_state S [forward_delay F]`` (as given)."""
    command = f"ip link set dev {name} type bridge stp_state {1 if stp else 0}"
    options = {"br_stp_state": 1 if stp else 0}
    if forward_delay_cs is not None:
        command += f" forward_delay {forward_delay_cs}"
        options["br_forward_delay"] = forward_delay_cs
    bridge_set(name, command, f"setting STP on bridge {name}", **options)
