"""Links, addresses and routes over rtnetlink: the kernel-facing half of kvmnet's host adapter.

Everything that crosses this module's boundary is a plain value (str, int, dict, NamedTuple);
netlink messages and their errors stay inside.  One :class:`Netlink` holds one rtnetlink socket
for many calls; every change is logged on ``kvmnet.host`` at debug level as the equivalent
``ip``/``bridge`` command, and every failure is a :class:`HostError` naming that command, the
errno and the fix.

Design (one path per concern): kvmnet's ``net-start``/``net-destroy`` are cold processes, so
what they import matters more than the kernel work (a few ms, plus ~30 ms for a link delete),
and importing pyroute2's public package costs ~150-230 ms.  So this class -- the link, address
and route operations of those verbs, which port plugging shares (set master, up, down, MTU,
delete) -- packs its fixed-layout messages with :mod:`.rtpack` and sends them on :mod:`.rtnl`'s
socket, without pyroute2; bench/bench_netlink.py shows the two side by side.  Everything cold
(bridge-port flags here; VLANs, the FDB, tc, other link kinds, bridge options elsewhere) goes
through pyroute2's public ``IPRoute`` in :mod:`.iproute`.  This module builds each request as
``ip``/``bridge`` would (the logged command) and turns replies and errnos into plain values and
diagnosed :class:`HostError`.  Importing it imports no pyroute2.

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

import _socket as socket  # the C module: see rtnl.py
import errno as errno_mod
import struct

TYPE_CHECKING = False  # typing costs ~4.5 ms of a cold start: annotations only

from kvmnet.errors import HostError
from kvmnet.host import rtnl, rtpack

# the adapter's values and errors live in nltypes; importable from here, as before
from kvmnet.host.nltypes import IFNAMSIZ as IFNAMSIZ
from kvmnet.host.nltypes import Address as Address
from kvmnet.host.nltypes import Link as Link
from kvmnet.host.nltypes import LinkExistsError as LinkExistsError
from kvmnet.host.nltypes import LinkNotFoundError as LinkNotFoundError
from kvmnet.host.nltypes import Route as Route
from kvmnet.host.nltypes import _is_mac
from kvmnet.host.nltypes import check_ifname as check_ifname
from kvmnet.host.rtnl import Rtnl, RtnlError
from kvmnet.log import get as get_logger

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any, Self

log = get_logger("kvmnet.host")

def _family(address: str) -> int:
    import ipaddress  # only where needed: a cold net-destroy may never use it

    return ipaddress.ip_address(address).version


def _af(version: int) -> int:
    return socket.AF_INET if version == 4 else socket.AF_INET6


def _interface(address: str, prefixlen: int) -> tuple[int, str, str | None]:
    """``(IP version, address as the kernel prints it, IPv4 broadcast or None)`` of
    ``address/prefixlen``; ValueError when it is not one.  Integer arithmetic on the C
    socket module's conversions: ipaddress costs ~1.5 ms of a cold net-start (lab machine)."""
    version = 6 if ":" in address else 4
    bits = 32 if version == 4 else 128
    try:
        raw = socket.inet_pton(_af(version), address)
    except OSError:
        raise ValueError(f"{address!r} is not an IPv{version} address") from None
    if not 0 <= prefixlen <= bits:
        raise ValueError(f"prefix length {prefixlen} is out of range for IPv{version}")
    broadcast = None
    if version == 4 and prefixlen < 31:
        value = int.from_bytes(raw, "big") | ((1 << (bits - prefixlen)) - 1)
        broadcast = socket.inet_ntop(socket.AF_INET, value.to_bytes(4, "big"))
    text = socket.inet_ntop(_af(version), raw)
    if version == 6 and "." in text and not text.startswith("::ffff:"):
        import ipaddress  # C prints the deprecated IPv4-compatible ::a.b.c.d; Python does not

        text = str(ipaddress.IPv6Address(raw))
    return version, text, broadcast


class Netlink:
    """One rtnetlink socket, opened on first use; use as a context manager to close it.

    Requests on one socket are strictly one at a time: share a Netlink between threads only
    with a lock, or give each thread its own.

    >>> with Netlink() as nl:                                   # doctest: +SKIP
    ...     idx = nl.create_bridge("virbr0", stp=True, forward_delay_cs=0)
    ...     nl.add_address("virbr0", "192.168.122.1", 24)
    """

    def __init__(self) -> None:
        self._rtnl: Rtnl | None = None

    # -- socket --------------------------------------------------------------------------------

    def open(self) -> None:
        if self._rtnl is not None:
            return
        try:
            self._rtnl = Rtnl()
        except OSError as exc:
            raise HostError(
                f"cannot open an rtnetlink socket: {exc.strerror}", "ip link show", exc.errno
            ) from exc

    def close(self) -> None:
        if self._rtnl is not None:
            sock, self._rtnl = self._rtnl, None
            sock.close()

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, cls: str, msg_type: int, fields: dict[str, Any],
                 attrs: list[Any] | None = None, flags: int = 0, raw: bool = False) -> list[Any]:
        """One request: a message of class ``cls`` (ifinfmsg/ifaddrmsg/rtmsg) with these header
        fields and attributes, packed by :mod:`.rtpack`; returns the replies (a dump's
        messages): raw bytes with ``raw``, else decoded links or routes."""
        if self._rtnl is None:
            self.open()
        assert self._rtnl is not None
        try:
            body = rtpack.encode(cls, fields, attrs)
        except (struct.error, ValueError, TypeError, OverflowError, OSError) as exc:
            raise RtnlError(errno_mod.EINVAL, f"a value does not fit its netlink attribute "
                            f"({exc})", local=True) from exc
        if body is None:  # a programming error: only the hot path's messages belong here
            raise RtnlError(errno_mod.EINVAL, f"{cls} with {fields}, {attrs} is not a hot-path "
                            "message: use kvmnet.host.iproute", local=True)
        replies = self._rtnl.request_raw(msg_type, flags, body)
        if raw or not replies:
            return replies
        if cls == "ifinfmsg":
            return [rtpack.decode_link(r) for r in replies]
        if cls == "rtmsg":
            return [rtpack.decode_route(r) for r in replies]
        return replies

    def _call(self, command: str, what: str, cls: str, msg_type: int, fields: dict[str, Any],
              attrs: list[Any] | None = None, flags: int = 0) -> list[Any]:
        try:
            return self._request(cls, msg_type, fields, attrs, flags)
        except RtnlError as exc:
            raise exc.diagnose(command, what) from exc

    # -- lookups -------------------------------------------------------------------------------

    def _get_link(self, command: str, what: str, **key: Any) -> Any | None:
        """RTM_GETLINK by ``ifname=`` or ``index=``; None if there is no such link."""
        fields: dict[str, Any] = {"index": key.get("index", 0)}
        attrs: list[Any] = [("IFLA_EXT_MASK", rtnl.RTEXT_FILTER_SKIP_STATS)]
        if "ifname" in key:
            attrs.insert(0, ("IFLA_IFNAME", key["ifname"]))
        try:
            msgs = self._request("ifinfmsg", rtnl.RTM_GETLINK, fields, attrs)
        except RtnlError as exc:
            if exc.code == errno_mod.ENODEV:
                return None
            raise exc.diagnose(command, what) from exc
        return msgs[0] if msgs else None

    def _get_link_msg(self, name: str, command: str | None = None) -> Any | None:
        command = command or f"ip link show {name}"
        check_ifname(name, command)
        return self._get_link(command, f"looking up {name}", ifname=name)

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
            msg = self._get_link(f"ip link show index {index}", "looking up a link", index=index)
        except HostError:
            return None
        return str(msg.get("IFLA_IFNAME")) if msg is not None else None

    @staticmethod
    def _link(msg: Any, names: dict[int, str] | None = None) -> Link:
        flags = int(msg.get("flags") or 0)
        linkinfo = msg.get("IFLA_LINKINFO")
        kind = linkinfo.get("IFLA_INFO_KIND") if linkinfo is not None else None
        master = msg.get("IFLA_MASTER")
        data = linkinfo.get("IFLA_INFO_DATA") if kind == "bridge" and linkinfo else None
        return Link(
            ifname=str(msg.get("IFLA_IFNAME")),
            ifindex=int(msg["index"]),
            kind=kind,
            mac=msg.get("IFLA_ADDRESS"),
            mtu=msg.get("IFLA_MTU"),
            state="up" if flags & rtnl.IFF_UP else "down",
            operstate=msg.get("IFLA_OPERSTATE"),
            master=names.get(int(master)) if master and names is not None else None,
            master_ifindex=int(master) if master else None,
            stp=bool(data.get("IFLA_BR_STP_STATE")) if data is not None else None,
            forward_delay_cs=data.get("IFLA_BR_FORWARD_DELAY") if data is not None else None,
        )

    def _links(self) -> list[Any]:
        return self._call("ip link show", "listing links", "ifinfmsg", rtnl.RTM_GETLINK, {},
                          [("IFLA_EXT_MASK", rtnl.RTEXT_FILTER_SKIP_STATS)], rtnl.NLM_F_DUMP)

    def _names(self) -> dict[int, str]:
        return {int(m["index"]): str(m.get("IFLA_IFNAME")) for m in self._links()}

    def link_exists(self, name: str) -> bool:
        return self._get_link_msg(name) is not None

    def link_info(self, name: str) -> Link | None:
        """The link called ``name`` (its master named too), or None if there is none."""
        msg = self._get_link_msg(name)
        if msg is None:
            return None
        link = self._link(msg)
        if link.master_ifindex is not None:
            link = link._replace(master=self._name_of(link.master_ifindex))
        return link

    def list_links(self) -> list[Link]:
        """Every link in this network namespace, by ifindex."""
        msgs = self._links()
        names = {int(m["index"]): str(m.get("IFLA_IFNAME")) for m in msgs}
        return sorted((self._link(m, names) for m in msgs), key=lambda link: link.ifindex)

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
        attrs: list[Any] = [("IFLA_IFNAME", name)]
        if mac is not None:
            if not _is_mac(mac):
                raise HostError(f"MAC address {mac!r} is not of the form xx:xx:xx:xx:xx:xx: fix it",
                                command, errno_mod.EINVAL)
            attrs.append(("IFLA_ADDRESS", mac.lower()))
        if mtu is not None:
            attrs.append(("IFLA_MTU", mtu))
        attrs.append(("IFLA_LINKINFO", {"attrs": [
            ("IFLA_INFO_KIND", "bridge"),
            ("IFLA_INFO_DATA", {"attrs": [
                ("IFLA_BR_STP_STATE", 1 if stp else 0),
                ("IFLA_BR_FORWARD_DELAY", forward_delay_cs),
            ]}),
        ]}))
        # The new link comes up in the same request (ifi_flags/ifi_change), as ip link add ... up.
        fields = {"flags": rtnl.IFF_UP if up else 0, "change": rtnl.IFF_UP if up else 0}
        log.debug("%s", command)
        if up:
            log.debug("ip link set %s up", name)
        try:
            self._request("ifinfmsg", rtnl.RTM_NEWLINK, fields, attrs,
                          rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL)
        except RtnlError as exc:
            if exc.code == errno_mod.EEXIST:
                existing = self.link_info(name)
                kind = existing.kind if existing else None
                what = f"a {kind} link" if kind else "a link"
                raise LinkExistsError(
                    f"cannot create bridge {name}: {what} with that name already exists; "
                    + ("delete it first or choose another bridge name" if kind != "bridge"
                       else "it is already there (stop whatever created it, or reuse it)"),
                    command,
                    errno_mod.EEXIST,
                    ifname=name,
                    kind=kind,
                    ifindex=existing.ifindex if existing else None,
                ) from exc
            raise exc.diagnose(command, f"creating bridge {name}") from exc
        return self._index(name, command)

    def delete_link(self, name: str) -> bool:
        """Delete a link; False if it was already gone.  Returns once the kernel is done."""
        command = f"ip link del {name}"
        check_ifname(name, command)
        log.debug("%s", command)
        if self._rtnl is None:
            self.open()
        assert self._rtnl is not None
        try:
            # packed here, not with pyroute2's classes: net-destroy needs nothing else from
            # netlink, and loading them would cost more than the deletion
            self._rtnl.request_raw(rtnl.RTM_DELLINK, 0, rtnl.pack_link_by_name(name))
        except RtnlError as exc:
            if exc.code == errno_mod.ENODEV:
                return False
            raise exc.diagnose(command, f"deleting {name}") from exc
        return True

    def _set(self, name: str, command: str, what: str, fields: dict[str, Any],
             attrs: list[Any] | None = None) -> None:
        check_ifname(name, command)
        index = self._index(name, command)
        log.debug("%s", command)
        self._call(command, what, "ifinfmsg", rtnl.RTM_SETLINK, {"index": index, **fields}, attrs)

    def set_link(self, name: str, *, mac: str | None = None, mtu: int | None = None,
                 up: bool = False) -> None:
        """``ip link set NAME address MAC mtu MTU up`` as one request: the kernel applies
        them under one hold of its rtnl lock (three ioctls take it three times, and a busy
        ovs-vswitchd holds it often), the address and MTU before the link goes up."""
        attrs: list[Any] = []
        words = []
        if mac is not None:
            attrs.append(("IFLA_ADDRESS", mac))
            words.append(f"address {mac}")
        if mtu is not None:
            attrs.append(("IFLA_MTU", mtu))
            words.append(f"mtu {mtu}")
        fields = {"flags": rtnl.IFF_UP, "change": rtnl.IFF_UP} if up else {}
        if up:
            words.append("up")
        if not words:
            return
        self._set(name, f"ip link set {name} {' '.join(words)}", f"setting up {name}", fields,
                  attrs)

    def set_link_up(self, name: str) -> None:
        self._set(name, f"ip link set {name} up", f"bringing {name} up",
                  {"flags": rtnl.IFF_UP, "change": rtnl.IFF_UP})

    def set_link_down(self, name: str) -> None:
        self._set(name, f"ip link set {name} down", f"bringing {name} down",
                  {"flags": 0, "change": rtnl.IFF_UP})

    def set_mtu(self, name: str, mtu: int) -> None:
        self._set(name, f"ip link set {name} mtu {mtu}", f"setting the MTU of {name} to {mtu}", {},
                  [("IFLA_MTU", mtu)])

    def set_master(self, port: str, bridge: str | None) -> None:
        """Attach ``port`` to ``bridge`` (``None``: detach it from any master)."""
        if bridge is None:
            self._set(port, f"ip link set {port} nomaster", f"detaching {port}", {},
                      [("IFLA_MASTER", 0)])
            return
        command = f"ip link set {port} master {bridge}"
        master = self._index(bridge, command)
        self._set(port, command, f"attaching {port} to {bridge}", {}, [("IFLA_MASTER", master)])

    def bridge_port_set(
        self, port: str, *, isolated: bool | None = None, hairpin: bool | None = None
    ) -> None:
        """Set bridge-port flags (``bridge link set dev PORT isolated on hairpin off``)."""
        brport: dict[str, int] = {}
        words = ["bridge", "link", "set", "dev", port]
        if isolated is not None:
            brport["isolated"] = int(isolated)  # IFLA_BRPORT_ISOLATED
            words += ["isolated", "on" if isolated else "off"]
        if hairpin is not None:
            brport["mode"] = int(hairpin)  # IFLA_BRPORT_MODE: the hairpin flag
            words += ["hairpin", "on" if hairpin else "off"]
        if not brport:
            return
        command = " ".join(words)
        check_ifname(port, command)
        index = self._index(port, command)
        from kvmnet.host import iproute  # cold: pyroute2's public API (isolated ports only)

        try:
            iproute.brport_set(port, command, f"setting bridge-port flags on {port}", **brport)
        except HostError as exc:
            if exc.errno == errno_mod.EOPNOTSUPP and self._master_of(index) is None:
                raise HostError(
                    f"setting bridge-port flags on {port} failed: {port} is not attached to a "
                    f"bridge: attach it first (ip link set {port} master BRIDGE)",
                    command,
                    errno_mod.EOPNOTSUPP,
                ) from exc
            raise

    def _master_of(self, index: int) -> int | None:
        try:
            msg = self._get_link("", "", index=index)
        except HostError:
            return None
        master = msg.get("IFLA_MASTER") if msg is not None else None
        return int(master) if master else None

    # -- addresses -----------------------------------------------------------------------------

    @staticmethod
    def _addr_fields(version: int, prefixlen: int, index: int, flags: int = 0) -> dict[str, Any]:
        return {"family": _af(version), "prefixlen": prefixlen, "flags": flags,
                "scope": 0, "index": index}

    def add_address(self, ifname: str, address: str, prefixlen: int, *, nodad: bool = False) -> bool:
        """Add an IPv4/IPv6 address; False (not an error) if it is already there.

        IPv4 addresses get the subnet's broadcast address, as libvirt sets them.
        """
        version, ip, broadcast = _interface(address, prefixlen)
        # IFA_LOCAL is the address itself, IFA_ADDRESS the same for a non-point-to-point link.
        attrs: list[Any] = [("IFA_LOCAL", ip), ("IFA_ADDRESS", ip)]
        words = ["ip", "addr", "add", f"{ip}/{prefixlen}"]
        if broadcast is not None:
            attrs.append(("IFA_BROADCAST", broadcast))
            words += ["brd", broadcast]
        words += ["dev", ifname]
        if nodad:
            words.append("nodad")
        command = " ".join(words)
        index = self._index(ifname, command)
        log.debug("%s", command)
        try:
            self._request("ifaddrmsg", rtnl.RTM_NEWADDR,
                          self._addr_fields(version, prefixlen, index,
                                            rtnl.IFA_F_NODAD if nodad else 0),
                          attrs, rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL)
        except RtnlError as exc:
            if exc.code == errno_mod.EEXIST:
                return False
            raise exc.diagnose(command, f"adding {ip}/{prefixlen} to {ifname}") from exc
        return True

    def delete_address(self, ifname: str, address: str, prefixlen: int) -> bool:
        """Remove an address; False if it (or the interface) was already gone."""
        version, ip, _broadcast = _interface(address, prefixlen)
        command = f"ip addr del {ip}/{prefixlen} dev {ifname}"
        msg = self._get_link_msg(ifname, command)
        if msg is None:
            return False
        log.debug("%s", command)
        try:
            self._request("ifaddrmsg", rtnl.RTM_DELADDR,
                          self._addr_fields(version, prefixlen, int(msg["index"])),
                          [("IFA_LOCAL", ip), ("IFA_ADDRESS", ip)])
        except RtnlError as exc:
            if exc.code in (errno_mod.EADDRNOTAVAIL, errno_mod.ENOENT, errno_mod.ENODEV):
                return False
            raise exc.diagnose(command, f"removing {ip}/{prefixlen} from {ifname}") from exc
        return True

    def list_addresses(self) -> list[Address]:
        """Every address in this network namespace.

        The dump is read raw (header and address attributes only): with a thousand
        networks, decoding every attribute of every reply with pyroute2 took ~1 s.
        """
        return self._addresses(None)

    def addresses_within(self, spans: Iterable[tuple[int, int, int]]) -> list[Address]:
        """The addresses whose subnet overlaps one of ``spans`` (IP version, first, last).

        Compared as integers straight from the dump; interface names are looked up only
        for the matches (a thousand networks make a thousand addresses, and naming each
        cost ~10 ms of every ``net-start``'s conflict check).
        """
        from kvmnet.host.procnet import overlaps, span

        spans = list(spans)
        v4 = [(lo, hi) for version, lo, hi in spans if version == 4]
        hosts = [(1 << (32 - n)) - 1 for n in range(33)]  # host bits per prefix length
        fast, address, local = socket.AF_INET, rtnl.V4_ADDRESS, rtnl.V4_LOCAL
        candidates = []
        # plain loop over the raw messages: a thousand per start; the kernel's own IPv4
        # layout is checked in place, anything else goes to the full parse below
        for payload in self._address_dump():
            if payload[0] == fast and payload[8:12] == address and payload[16:20] == local \
                    and payload[1] <= 32:
                host = hosts[payload[1]]
                first = int.from_bytes(payload[20:24], "big") & ~host
                last = first | host
                for lo, hi in v4:
                    if first <= hi and lo <= last:
                        break
                else:
                    continue
            candidates.append(payload)

        def keep(version: int, raw: bytes, prefixlen: int) -> bool:
            return overlaps(spans, *span(version, int.from_bytes(raw, "big"), prefixlen))

        return self._addresses(keep, candidates)

    def _address_dump(self) -> list[bytes]:
        try:
            return self._request("ifaddrmsg", rtnl.RTM_GETADDR, {}, flags=rtnl.NLM_F_DUMP,
                                 raw=True)
        except RtnlError as exc:
            raise exc.diagnose("ip addr show", "listing addresses") from exc

    def _addresses(self, keep: Callable[[int, bytes, int], bool] | None,
                   payloads: list[bytes] | None = None) -> list[Address]:
        if payloads is None:
            payloads = self._address_dump()
        names: dict[int, str] = {}
        out: list[Address] = []
        for payload in payloads:
            family, prefixlen, index, raw_addr = rtnl.parse_ifaddr(payload)
            if raw_addr is None or family not in (socket.AF_INET, socket.AF_INET6):
                continue
            version = 4 if family == socket.AF_INET else 6
            if keep is not None and not keep(version, raw_addr, prefixlen):
                continue
            if index not in names:
                try:
                    names[index] = socket.if_indextoname(index)
                except OSError:
                    names[index] = str(index)
            out.append(Address(names[index], socket.inet_ntop(family, raw_addr), prefixlen,
                               version))
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

    def _route_request(self, add: bool, dst: str, prefixlen: int, gateway: str | None,
                       metric: int | None, ifname: str | None,
                       command: str) -> tuple[dict[str, Any], list[Any]]:
        """rtmsg fields and RTA_* attributes as ``ip route add/del`` would send them."""
        import ipaddress

        net = ipaddress.ip_network(f"{dst}/{prefixlen}", strict=False)
        if gateway and _family(gateway) != net.version:
            raise HostError(
                f"gateway {gateway} is not of the same IP family as {net}: fix the route",
                command,
                errno_mod.EINVAL,
            )
        fields: dict[str, Any] = {"family": _af(net.version), "dst_len": prefixlen,
                                  "table": rtnl.RT_TABLE_MAIN}
        if add:
            # A route without a gateway is on-link (scope link), as ip route add ... dev D makes it.
            fields.update(proto=rtnl.RTPROT_STATIC, type=rtnl.RTN_UNICAST,
                          scope=rtnl.RT_SCOPE_UNIVERSE if gateway or not ifname else rtnl.RT_SCOPE_LINK)
        else:
            fields["scope"] = rtnl.RT_SCOPE_NOWHERE  # any scope, protocol and type: as ip route del
        attrs: list[Any] = [("RTA_TABLE", rtnl.RT_TABLE_MAIN)]
        if prefixlen:
            attrs.append(("RTA_DST", str(net.network_address)))
        if gateway:
            attrs.append(("RTA_GATEWAY", gateway))
        if metric is not None:
            attrs.append(("RTA_PRIORITY", metric))
        if ifname:
            attrs.append(("RTA_OIF", self._index(ifname, command)))
        return fields, attrs

    def add_route(self, dst: str, prefixlen: int, gateway: str | None, *,
                  metric: int | None = None, ifname: str | None = None) -> bool:
        """Add a route to the main table; False (not an error) if the same route exists."""
        command = self._route_words("add", dst, prefixlen, gateway, metric, ifname)
        fields, attrs = self._route_request(True, dst, prefixlen, gateway, metric, ifname, command)
        log.debug("%s", command)
        try:
            self._request("rtmsg", rtnl.RTM_NEWROUTE, fields, attrs, rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL)
        except RtnlError as exc:
            if exc.code == errno_mod.EEXIST:
                return False
            raise exc.diagnose(command, f"adding the route to {dst}/{prefixlen}") from exc
        return True

    def delete_route(self, dst: str, prefixlen: int, gateway: str | None, *,
                     metric: int | None = None, ifname: str | None = None) -> bool:
        """Delete a route from the main table; False if it was already gone."""
        command = self._route_words("del", dst, prefixlen, gateway, metric, ifname)
        try:
            fields, attrs = self._route_request(False, dst, prefixlen, gateway, metric, ifname,
                                                command)
        except LinkNotFoundError:
            return False
        log.debug("%s", command)
        try:
            self._request("rtmsg", rtnl.RTM_DELROUTE, fields, attrs)
        except RtnlError as exc:
            if exc.code in (errno_mod.ESRCH, errno_mod.ENOENT):
                return False
            raise exc.diagnose(command, f"deleting the route to {dst}/{prefixlen}") from exc
        return True

    def list_routes(self) -> list[Route]:
        """Unicast routes of the main table, IPv4 and IPv6."""
        names = self._names()
        out: list[Route] = []
        for m in self._call("ip route show", "listing routes", "rtmsg", rtnl.RTM_GETROUTE,
                            {"family": socket.AF_UNSPEC}, flags=rtnl.NLM_F_DUMP):
            if m["family"] not in (socket.AF_INET, socket.AF_INET6):
                continue
            table = m.get("RTA_TABLE") or m.get("table")
            if table != rtnl.RT_TABLE_MAIN or m.get("type") != rtnl.RTN_UNICAST:
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
