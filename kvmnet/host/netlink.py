"""Links, addresses and routes over rtnetlink: the only module that imports pyroute2.

Everything that crosses this module's boundary is a plain value (str, int, dict, NamedTuple);
pyroute2's messages and exceptions stay inside.  One :class:`Netlink` holds one rtnetlink socket
for many calls; every change is logged on ``kvmnet.host`` at debug level as the equivalent
``ip``/``bridge`` command, and every failure is a :class:`HostError` naming that command, the
errno and the fix.

Kernel calls here are synchronous: the kernel acknowledges RTM_NEWLINK/RTM_DELLINK only after
the change is complete (a deleted link's name is free again once ``delete_link`` returns), so
callers need no "wait until gone" loops.

Units: libvirt's ``<bridge delay='N'/>`` is in seconds; the kernel's bridge ``forward_delay``
(``IFLA_BR_FORWARD_DELAY``, as in ``ip link ... forward_delay``) is in centiseconds (clock_t at
USER_HZ=100), so callers pass ``delay * 100`` (libvirt does the same).  When STP is on, the kernel
clamps the forward delay into 2..30 s as STP starts, so ``stp=True, forward_delay_cs=0`` yields
200 (2 s) in ``ip -d link show``; with STP off the value is kept as given.
"""
from __future__ import annotations

import errno as errno_mod
import importlib
import importlib.util
import ipaddress
import logging
import socket
import sys
import types
from typing import Any, NamedTuple, Self

from kvmnet.errors import HostError

log = logging.getLogger("kvmnet.host")

IFNAMSIZ = 16  # including the terminating NUL: names have at most 15 characters
IFF_UP = 0x1
IFA_F_NODAD = 0x02
RT_TABLE_MAIN = 254
RTN_UNICAST = 1


class LinkExistsError(HostError):
    """A link with the requested name exists already; ``kind`` says what it is."""

    def __init__(
        self,
        message: str,
        command: str | None = None,
        errno: int | None = errno_mod.EEXIST,
        *,
        ifname: str = "",
        kind: str | None = None,
        ifindex: int | None = None,
    ) -> None:
        super().__init__(message, command, errno)
        self.ifname = ifname
        self.kind = kind
        self.ifindex = ifindex


class LinkNotFoundError(HostError):
    """The named link does not exist in this network namespace."""


class Address(NamedTuple):
    ifname: str
    address: str
    prefixlen: int
    family: int  # 4 or 6


class Route(NamedTuple):
    dst: str  # network address; "0.0.0.0" / "::" for a default route
    prefixlen: int
    gateway: str | None
    ifname: str | None
    metric: int | None
    family: int  # 4 or 6


# --------------------------------------------------------------------------------------------
# Loading pyroute2 cheaply
#
# ``import pyroute2.iproute.linux`` first runs ``pyroute2/__init__.py``, which eagerly imports
# every pyroute2 feature (NDB, IPDB, conntrack, nftables, ethtool, wireguard, plan9...): about
# 190 ms here, of which kvmnet needs only the rtnetlink part (IPRoute, ~130 ms, most of it
# asyncio which pyroute2 0.9 is built on).  Python only needs a package module in sys.modules
# with a ``__path__`` to import its submodules, so we register a stand-in module for the package
# (built from the package's own import spec) and import ``pyroute2.iproute.linux`` through it.
# The stand-in stays correct for any later user: a submodule attribute is imported on demand
# (what ``from pyroute2 import config`` needs), and the first access to any other attribute
# (``pyroute2.IPRoute``, ``pyroute2.NDB`` ...) runs the real ``__init__`` in the same module
# object, after which it *is* the ordinary package.  If pyroute2 is already imported, it is used
# as it is.  Only documented import machinery is used (ModuleSpec, module ``__path__``,
# ``loader.exec_module``); it relies on nothing pyroute2-specific beyond its public module paths.
# --------------------------------------------------------------------------------------------


class _DeferredPackage(types.ModuleType):
    """The ``pyroute2`` package module before its ``__init__`` has run."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        fullname = f"{self.__name__}.{name}"
        if importlib.util.find_spec(fullname) is not None:
            return importlib.import_module(fullname)
        if not self.__dict__.get("_kvmnet_init_done"):
            self.__dict__["_kvmnet_init_done"] = True
            spec = self.__spec__
            assert spec is not None and spec.loader is not None
            spec.loader.exec_module(self)
            return getattr(self, name)
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")


class _Pyroute2(NamedTuple):
    IPRoute: Any
    NetlinkError: type[Exception]


_loaded: _Pyroute2 | None = None


def _pyroute2() -> _Pyroute2:
    global _loaded
    if _loaded is None:
        if "pyroute2" not in sys.modules:
            spec = importlib.util.find_spec("pyroute2")
            if spec is None or spec.submodule_search_locations is None:
                raise HostError(
                    "pyroute2 is not installed: install kvmnet's dependencies (pip install -e .)",
                    None,
                    errno_mod.ENOENT,
                )
            stub = _DeferredPackage(spec.name)
            stub.__spec__ = spec
            stub.__path__ = list(spec.submodule_search_locations)
            stub.__file__ = spec.origin
            stub.__loader__ = spec.loader
            stub.__package__ = spec.name
            sys.modules[spec.name] = stub
            # The real __init__ would attach a NullHandler to the "pyroute2" logger; keep that.
            importlib.import_module("pyroute2.config.log")
        from pyroute2.iproute.linux import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        _loaded = _Pyroute2(IPRoute, NetlinkError)
    return _loaded


# --------------------------------------------------------------------------------------------


def check_ifname(name: str, command: str | None = None) -> None:
    """Raise HostError unless ``name`` is a valid Linux interface name (dev_valid_name())."""
    if not name or name in (".", ".."):
        why = "is empty" if not name else "is reserved"
        raise HostError(f"interface name {name!r} {why}: choose another name", command, errno_mod.EINVAL)
    if len(name.encode()) >= IFNAMSIZ:
        raise HostError(
            f"interface name {name!r} is too long ({len(name.encode())} bytes): Linux allows at most "
            f"{IFNAMSIZ - 1}; choose a shorter name",
            command,
            errno_mod.EINVAL,
        )
    if any(c in name for c in "/:") or any(c.isspace() for c in name):
        raise HostError(
            f"interface name {name!r} contains '/', ':' or whitespace, which Linux forbids: "
            "choose another name",
            command,
            errno_mod.EINVAL,
        )


def _family(address: str) -> int:
    return ipaddress.ip_address(address).version


def _af(version: int) -> int:
    return socket.AF_INET if version == 4 else socket.AF_INET6


_DIAGNOSES: dict[int, str] = {
    errno_mod.EPERM: "permission denied: run kvmnet as root (it needs CAP_NET_ADMIN)",
    errno_mod.EACCES: "permission denied: run kvmnet as root (it needs CAP_NET_ADMIN)",
    errno_mod.EOPNOTSUPP: "the kernel does not support this: load the module (e.g. modprobe bridge)",
    errno_mod.EBUSY: "the device is busy: detach it from whatever uses it and retry",
    errno_mod.ENETUNREACH: "the gateway is not reachable through any address on this host: "
    "add an address in the gateway's subnet first",
    errno_mod.ENOBUFS: "the kernel ran out of buffer space: retry",
}


class Netlink:
    """One rtnetlink socket, opened on first use; use as a context manager to close it.

    >>> with Netlink() as nl:                                   # doctest: +SKIP
    ...     idx = nl.create_bridge("virbr0", stp=True, forward_delay_cs=0)
    ...     nl.add_address("virbr0", "192.168.122.1", 24)
    """

    def __init__(self) -> None:
        self._ipr: Any = None
        self._nl_error: type[Exception] = Exception

    # -- socket --------------------------------------------------------------------------------

    def open(self) -> None:
        if self._ipr is not None:
            return
        api = _pyroute2()
        self._nl_error = api.NetlinkError
        try:
            # groups=0: no multicast subscriptions, so the socket only ever sees replies to our
            # own requests; ext_ack: the kernel's own error text (e.g. policy failures).
            self._ipr = api.IPRoute(groups=0, ext_ack=True)
        except OSError as exc:
            raise HostError(
                f"cannot open an rtnetlink socket: {exc.strerror}", "ip link show", exc.errno
            ) from exc

    def close(self) -> None:
        if self._ipr is not None:
            ipr, self._ipr = self._ipr, None
            ipr.close()

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sock(self) -> Any:
        if self._ipr is None:
            self.open()
        return self._ipr

    # -- errors --------------------------------------------------------------------------------

    def _code(self, exc: BaseException) -> int | None:
        if isinstance(exc, self._nl_error):
            return int(getattr(exc, "code", 0)) or None
        if isinstance(exc, OSError):
            return exc.errno
        return None

    def _error(self, exc: BaseException, command: str, what: str) -> HostError:
        code = self._code(exc)
        kernel = ""
        args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
        if len(args) > 1 and isinstance(args[1], str):
            kernel = args[1]
        elif isinstance(exc, OSError) and exc.strerror:
            kernel = exc.strerror
        why = _DIAGNOSES.get(code or 0)
        if why is None:
            why = f"the kernel refused ({kernel or 'unknown error'}): check the values"
        elif kernel:
            why = f"{why} (kernel: {kernel})"
        return HostError(f"{what} failed: {why}", command, code)

    def _call(self, command: str, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self._sock(), method)(*args, **kwargs)
        except (self._nl_error, OSError) as exc:
            raise self._error(exc, command, what) from exc

    # -- lookups -------------------------------------------------------------------------------

    def _get_link_msg(self, name: str, command: str | None = None) -> Any | None:
        command = command or f"ip link show {name}"
        check_ifname(name, command)
        try:
            msgs = self._sock().link("get", ifname=name)
        except self._nl_error as exc:
            if self._code(exc) == errno_mod.ENODEV:
                return None
            raise self._error(exc, command, f"looking up {name}") from exc
        return msgs[0] if msgs else None

    def _index(self, name: str, command: str) -> int:
        msg = self._get_link_msg(name, command)
        if msg is None:
            raise LinkNotFoundError(
                f"interface {name} does not exist in this network namespace: check the name "
                "(ip link show)",
                command,
                errno_mod.ENODEV,
            )
        return int(msg["index"])

    def _name_of(self, index: int) -> str | None:
        try:
            msgs = self._sock().link("get", index=index)
        except self._nl_error:
            return None
        return str(msgs[0].get("ifname")) if msgs else None

    @staticmethod
    def _link_dict(msg: Any, names: dict[int, str] | None = None) -> dict[str, Any]:
        flags = int(msg.get("flags") or 0)
        linkinfo = msg.get("IFLA_LINKINFO")
        kind = linkinfo.get("IFLA_INFO_KIND") if linkinfo is not None else None
        master = msg.get("IFLA_MASTER")
        info: dict[str, Any] = {
            "ifname": msg.get("IFLA_IFNAME"),
            "ifindex": int(msg["index"]),
            "kind": kind,
            "mac": msg.get("IFLA_ADDRESS"),
            "mtu": msg.get("IFLA_MTU"),
            "state": "up" if flags & IFF_UP else "down",
            "operstate": msg.get("IFLA_OPERSTATE"),
            "master_ifindex": int(master) if master else None,
            "master": None,
        }
        if master and names is not None:
            info["master"] = names.get(int(master))
        if kind == "bridge" and linkinfo is not None:
            data = linkinfo.get("IFLA_INFO_DATA")
            if data is not None:
                info["stp"] = bool(data.get("IFLA_BR_STP_STATE"))
                info["forward_delay_cs"] = data.get("IFLA_BR_FORWARD_DELAY")
        return info

    def _names(self) -> dict[int, str]:
        links = self._call("ip link show", "listing links", "get_links")
        return {int(m["index"]): str(m.get("IFLA_IFNAME")) for m in links}

    def link_exists(self, name: str) -> bool:
        return self._get_link_msg(name) is not None

    def link_info(self, name: str) -> dict[str, Any] | None:
        """``{ifname, ifindex, kind, mac, mtu, state ('up'/'down'), operstate, master,
        master_ifindex}`` (+ ``stp``, ``forward_delay_cs`` for bridges), or None if absent."""
        msg = self._get_link_msg(name)
        if msg is None:
            return None
        info = self._link_dict(msg)
        if info["master_ifindex"] is not None:
            info["master"] = self._name_of(info["master_ifindex"])
        return info

    def list_links(self) -> list[dict[str, Any]]:
        """Every link in this network namespace, as :meth:`link_info` dicts, by ifindex."""
        msgs = list(self._call("ip link show", "listing links", "get_links"))
        names = {int(m["index"]): str(m.get("IFLA_IFNAME")) for m in msgs}
        return sorted((self._link_dict(m, names) for m in msgs), key=lambda d: int(d["ifindex"]))

    # -- links ---------------------------------------------------------------------------------

    def create_bridge(
        self,
        name: str,
        *,
        stp: bool,
        forward_delay_cs: int,
        mtu: int | None = None,
        mac: str | None = None,
        up: bool = True,
    ) -> int:
        """Create a Linux bridge in one netlink request and return its ifindex.

        ``forward_delay_cs`` is in centiseconds (libvirt's ``delay`` seconds * 100).  Raises
        :class:`LinkExistsError` (with the existing link's ``kind`` and ``ifindex``) if the name
        is taken, so a caller can tell "our bridge is already there" from a clash.
        """
        words = ["ip", "link", "add", "name", name]
        if mac is not None:
            words += ["address", mac]
        if mtu is not None:
            words += ["mtu", str(mtu)]
        words += ["type", "bridge", "stp_state", "1" if stp else "0", "forward_delay", str(forward_delay_cs)]
        command = " ".join(words)
        check_ifname(name, command)
        if forward_delay_cs < 0:
            raise HostError(f"bridge forward delay {forward_delay_cs} is negative", command, errno_mod.EINVAL)
        spec: dict[str, Any] = {
            "ifname": name,
            "kind": "bridge",
            "br_stp_state": 1 if stp else 0,
            "br_forward_delay": forward_delay_cs,
        }
        if mac is not None:
            spec["address"] = mac
        if mtu is not None:
            spec["mtu"] = mtu
        if up:
            spec["state"] = "up"
        log.debug("%s", command)
        if up:
            log.debug("ip link set %s up", name)
        try:
            self._sock().link("add", **spec)
        except self._nl_error as exc:
            if self._code(exc) == errno_mod.EEXIST:
                existing = self.link_info(name)
                kind = existing["kind"] if existing else None
                what = f"a {kind} link" if kind else "a link"
                raise LinkExistsError(
                    f"cannot create bridge {name}: {what} with that name already exists; "
                    + ("delete it first or choose another bridge name" if kind != "bridge"
                       else "it is already there (stop whatever created it, or reuse it)"),
                    command,
                    errno_mod.EEXIST,
                    ifname=name,
                    kind=kind,
                    ifindex=existing["ifindex"] if existing else None,
                ) from exc
            raise self._error(exc, command, f"creating bridge {name}") from exc
        return self._index(name, command)

    def delete_link(self, name: str) -> bool:
        """Delete a link; False if it was already gone.  Returns once the kernel is done."""
        command = f"ip link del {name}"
        check_ifname(name, command)
        log.debug("%s", command)
        try:
            self._sock().link("del", ifname=name)
        except self._nl_error as exc:
            if self._code(exc) == errno_mod.ENODEV:
                return False
            raise self._error(exc, command, f"deleting {name}") from exc
        return True

    def _set(self, name: str, command: str, what: str, **fields: Any) -> None:
        check_ifname(name, command)
        index = self._index(name, command)
        log.debug("%s", command)
        self._call(command, what, "link", "set", index=index, **fields)

    def set_link_up(self, name: str) -> None:
        self._set(name, f"ip link set {name} up", f"bringing {name} up", state="up")

    def set_link_down(self, name: str) -> None:
        self._set(name, f"ip link set {name} down", f"bringing {name} down", state="down")

    def set_mtu(self, name: str, mtu: int) -> None:
        self._set(name, f"ip link set {name} mtu {mtu}", f"setting the MTU of {name} to {mtu}", mtu=mtu)

    def set_master(self, port: str, bridge: str | None) -> None:
        """Attach ``port`` to ``bridge`` (``None``: detach it from any master)."""
        if bridge is None:
            self._set(port, f"ip link set {port} nomaster", f"detaching {port}", master=0)
            return
        command = f"ip link set {port} master {bridge}"
        master = self._index(bridge, command)
        self._set(port, command, f"attaching {port} to {bridge}", master=master)

    def bridge_port_set(
        self, port: str, *, isolated: bool | None = None, hairpin: bool | None = None
    ) -> None:
        """Set bridge-port flags (``bridge link set dev PORT isolated on hairpin off``)."""
        fields: dict[str, int] = {}
        words = ["bridge", "link", "set", "dev", port]
        if isolated is not None:
            fields["isolated"] = int(isolated)
            words += ["isolated", "on" if isolated else "off"]
        if hairpin is not None:
            fields["mode"] = int(hairpin)  # IFLA_BRPORT_MODE: hairpin
            words += ["hairpin", "on" if hairpin else "off"]
        if not fields:
            return
        command = " ".join(words)
        check_ifname(port, command)
        index = self._index(port, command)
        log.debug("%s", command)
        self._call(command, f"setting bridge-port flags on {port}", "brport", "set", index=index, **fields)

    # -- addresses -----------------------------------------------------------------------------

    def add_address(self, ifname: str, address: str, prefixlen: int, *, nodad: bool = False) -> bool:
        """Add an IPv4/IPv6 address; False (not an error) if it is already there.

        IPv4 addresses get the subnet's broadcast address, as libvirt sets them.
        """
        ip = ipaddress.ip_interface(f"{address}/{prefixlen}")
        fields: dict[str, Any] = {"address": str(ip.ip), "prefixlen": prefixlen}
        words = ["ip", "addr", "add", f"{ip.ip}/{prefixlen}"]
        if ip.version == 4 and prefixlen < 31:
            fields["broadcast"] = str(ip.network.broadcast_address)
            words += ["brd", fields["broadcast"]]
        words += ["dev", ifname]
        if nodad:
            fields["flags"] = IFA_F_NODAD
            words.append("nodad")
        command = " ".join(words)
        index = self._index(ifname, command)
        log.debug("%s", command)
        try:
            self._sock().addr("add", index=index, **fields)
        except self._nl_error as exc:
            if self._code(exc) == errno_mod.EEXIST:
                return False
            raise self._error(exc, command, f"adding {ip} to {ifname}") from exc
        return True

    def delete_address(self, ifname: str, address: str, prefixlen: int) -> bool:
        """Remove an address; False if it (or the interface) was already gone."""
        ip = ipaddress.ip_interface(f"{address}/{prefixlen}")
        command = f"ip addr del {ip.ip}/{prefixlen} dev {ifname}"
        msg = self._get_link_msg(ifname, command)
        if msg is None:
            return False
        log.debug("%s", command)
        try:
            self._sock().addr("del", index=int(msg["index"]), address=str(ip.ip), prefixlen=prefixlen)
        except self._nl_error as exc:
            if self._code(exc) in (errno_mod.EADDRNOTAVAIL, errno_mod.ENOENT, errno_mod.ENODEV):
                return False
            raise self._error(exc, command, f"removing {ip} from {ifname}") from exc
        return True

    def list_addresses(self) -> list[Address]:
        """Every address in this network namespace."""
        names = self._names()
        out: list[Address] = []
        for m in self._call("ip addr show", "listing addresses", "get_addr"):
            addr = m.get("IFA_ADDRESS") or m.get("IFA_LOCAL")
            if m.get("IFA_LOCAL") and m.get("family") == socket.AF_INET:
                addr = m.get("IFA_LOCAL")  # on point-to-point links IFA_ADDRESS is the peer
            if not addr:
                continue
            version = 4 if m.get("family") == socket.AF_INET else 6
            ifname = names.get(int(m["index"]), str(m["index"]))
            out.append(Address(ifname, str(addr), int(m["prefixlen"]), version))
        return out

    # -- routes --------------------------------------------------------------------------------

    @staticmethod
    def _route_words(verb: str, dst: str, prefixlen: int, gateway: str | None,
                     metric: int | None, ifname: str | None) -> str:
        words = ["ip"] + (["-6"] if _family(dst) == 6 else []) + ["route", verb, f"{dst}/{prefixlen}"]
        if gateway:
            words += ["via", gateway]
        if ifname:
            words += ["dev", ifname]
        if metric is not None:
            words += ["metric", str(metric)]
        return " ".join(words)

    def _route_fields(self, dst: str, prefixlen: int, gateway: str | None,
                      metric: int | None, ifname: str | None, command: str) -> dict[str, Any]:
        net = ipaddress.ip_network(f"{dst}/{prefixlen}", strict=False)
        fields: dict[str, Any] = {
            "dst": str(net.network_address),
            "dst_len": prefixlen,
            "family": _af(net.version),
            "table": RT_TABLE_MAIN,
        }
        if gateway:
            if _family(gateway) != net.version:
                raise HostError(
                    f"gateway {gateway} is not of the same IP family as {net}: fix the route",
                    command,
                    errno_mod.EINVAL,
                )
            fields["gateway"] = gateway
        if metric is not None:
            fields["priority"] = metric
        if ifname:
            fields["oif"] = self._index(ifname, command)
        return fields

    def add_route(self, dst: str, prefixlen: int, gateway: str | None, *,
                  metric: int | None = None, ifname: str | None = None) -> bool:
        """Add a route to the main table; False (not an error) if the same route exists."""
        command = self._route_words("add", dst, prefixlen, gateway, metric, ifname)
        fields = self._route_fields(dst, prefixlen, gateway, metric, ifname, command)
        log.debug("%s", command)
        try:
            self._sock().route("add", **fields)
        except self._nl_error as exc:
            if self._code(exc) == errno_mod.EEXIST:
                return False
            raise self._error(exc, command, f"adding the route to {dst}/{prefixlen}") from exc
        return True

    def delete_route(self, dst: str, prefixlen: int, gateway: str | None, *,
                     metric: int | None = None, ifname: str | None = None) -> bool:
        """Delete a route from the main table; False if it was already gone."""
        command = self._route_words("del", dst, prefixlen, gateway, metric, ifname)
        try:
            fields = self._route_fields(dst, prefixlen, gateway, metric, ifname, command)
        except LinkNotFoundError:
            return False
        log.debug("%s", command)
        try:
            self._sock().route("del", **fields)
        except self._nl_error as exc:
            if self._code(exc) in (errno_mod.ESRCH, errno_mod.ENOENT):
                return False
            raise self._error(exc, command, f"deleting the route to {dst}/{prefixlen}") from exc
        return True

    def list_routes(self) -> list[Route]:
        """Unicast routes of the main table, IPv4 and IPv6."""
        names = self._names()
        out: list[Route] = []
        for m in self._call("ip route show", "listing routes", "get_routes", family=socket.AF_UNSPEC):
            table = m.get("RTA_TABLE") or m.get("table")
            if table != RT_TABLE_MAIN or m.get("type") != RTN_UNICAST:
                continue
            version = 4 if m.get("family") == socket.AF_INET else 6
            dst = m.get("RTA_DST") or ("0.0.0.0" if version == 4 else "::")
            oif = m.get("RTA_OIF")
            prio = m.get("RTA_PRIORITY")
            out.append(Route(
                dst=str(dst),
                prefixlen=int(m.get("dst_len") or 0),
                gateway=m.get("RTA_GATEWAY"),
                ifname=names.get(int(oif)) if oif else None,
                metric=int(prio) if prio is not None else None,
                family=version,
            ))
        return out
