"""Who listens on which port, from ``/proc/net/{tcp,tcp6,udp,udp6}`` (pure parsers + one reader).

Used before starting a network to refuse early, with a clear message, when its DNS (53) or DHCP
(67) port is already taken; dnsmasq would otherwise die with "failed to create listening socket".

Format (``net/ipv4/tcp_ipv4.c``): each line after the header reads
``sl local_address rem_address st ...`` where an address is ``HEX:PORT``.  The IP is the raw
``__be32`` (IPv4) or four ``__be32`` words (IPv6) printed as host-order integers with ``%08X``,
so on a little-endian machine each 4-byte word appears byte-reversed.  The port is plain hex.

``/proc/net`` is per network namespace (of the reading process).

Port 67 caveat: every dnsmasq started with ``bind-interfaces``/``bind-dynamic`` binds DHCP on
``0.0.0.0:67`` (with SO_BINDTODEVICE and SO_REUSEADDR), so several such dnsmasq instances
coexist; a wildcard listener on 67 is only a real conflict when it is not such a dnsmasq.  Use
:func:`socket_owners` to find out who holds it.
"""
from __future__ import annotations

import os
import sys

# ipaddress is imported where it is used: net-start's checks (routes_within, can_bind) need
# it only when something overlaps, and it costs ~1.5 ms of start-up (lab machine)
TYPE_CHECKING = False  # typing costs ~4.5 ms of a cold start (kvmnet.tuples)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Literal, NamedTuple

    Proto = Literal["tcp", "udp"]
else:
    from kvmnet.tuples import NamedTuple

TCP_LISTEN = 0x0A
# An unconnected (bound) UDP socket shows TCP_CLOSE; a connect()ed one shows ESTABLISHED.
UDP_UNCONNECTED = 0x07

PROC_FILES: dict[str, tuple[Proto, int]] = {
    "tcp": ("tcp", 4),
    "tcp6": ("tcp", 6),
    "udp": ("udp", 4),
    "udp6": ("udp", 6),
}


class ListeningSocket(NamedTuple):
    address: str  # normalised text form: "0.0.0.0", "192.168.122.1", "::", "fe80::1"
    port: int
    proto: Proto
    family: int  # 4 or 6
    uid: int = -1  # owner as shown in the file (-1: unknown)
    inode: int = 0  # socket inode: find its process with :func:`socket_owners`


def decode_address(hex_ip: str, byteorder: Literal["little", "big"] = sys.byteorder) -> str:
    """Decode the IP part of ``/proc/net`` ``HEX:PORT`` (8 hex digits for IPv4, 32 for IPv6)."""
    import ipaddress

    if len(hex_ip) not in (8, 32):
        raise ValueError(f"unexpected address field {hex_ip!r}")
    raw = b"".join(
        int(hex_ip[i:i + 8], 16).to_bytes(4, byteorder) for i in range(0, len(hex_ip), 8)
    )
    return str(ipaddress.ip_address(raw))


def parse(
    text: str,
    proto: Proto,
    byteorder: Literal["little", "big"] = sys.byteorder,
) -> list[ListeningSocket]:
    """Listening sockets in the text of one ``/proc/net/{tcp,udp}[6]`` file.

    TCP: sockets in LISTEN.  UDP: bound, unconnected sockets (what a server such as dnsmasq
    holds).  Lines that do not parse (a header, a truncated read) are skipped.
    """
    wanted = TCP_LISTEN if proto == "tcp" else UDP_UNCONNECTED
    found: list[ListeningSocket] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or not fields[0].endswith(":") or ":" not in fields[1]:
            continue
        try:
            state = int(fields[3], 16)
            hex_ip, hex_port = fields[1].split(":")
            address = decode_address(hex_ip, byteorder)
            port = int(hex_port, 16)
        except ValueError:
            continue
        if state != wanted:
            continue
        family = 6 if len(hex_ip) == 32 else 4
        uid = inode = -1
        if len(fields) >= 10:
            try:
                uid, inode = int(fields[7]), int(fields[9])
            except ValueError:
                pass
        found.append(ListeningSocket(address, port, proto, family, uid, max(inode, 0)))
    return found


def read_listening(proc_net: str = "/proc/net") -> list[ListeningSocket]:
    """Every listening TCP socket and bound UDP socket in this network namespace."""
    found: list[ListeningSocket] = []
    for name, (proto, _family) in PROC_FILES.items():
        try:
            with open(f"{proc_net}/{name}", encoding="ascii", errors="replace") as f:
                text = f.read()
        except FileNotFoundError:  # tcp6/udp6 are absent when IPv6 is disabled
            continue
        found.extend(parse(text, proto))
    return found


def _unmapped(address: str) -> str:
    """``::ffff:a.b.c.d`` (an IPv6 socket bound to an IPv4-mapped address) as ``a.b.c.d``."""
    import ipaddress

    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return address


def conflicting_listeners(
    addresses: Iterable[str],
    port: int,
    proto: Proto,
    sockets: Iterable[ListeningSocket] | None = None,
) -> list[ListeningSocket]:
    """Listeners that would stop a server binding ``port`` on any of ``addresses``.

    A listener conflicts when it holds the same port and protocol either on one of the
    addresses or on a wildcard.  ``0.0.0.0`` covers IPv4 addresses; ``::`` covers IPv6 ones and,
    because Linux defaults to ``net.ipv6.bindv6only=0`` (a ``[::]`` socket also takes the IPv4
    port), IPv4 ones too.  That is conservative: a V6ONLY ``[::]`` listener is reported even
    though it would not clash with IPv4.  ``sockets`` defaults to this namespace's listeners.
    """
    import ipaddress

    wanted: set[str] = set()
    families: set[int] = set()
    for text in addresses:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
        wanted.add(str(ip))
        families.add(ip.version)
    if not wanted:
        return []
    pool = read_listening() if sockets is None else sockets
    hits: list[ListeningSocket] = []
    for s in pool:
        if s.port != port or s.proto != proto:
            continue
        address = _unmapped(s.address)
        if address in wanted or (address == "0.0.0.0" and 4 in families) or address == "::":
            hits.append(s)
    return hits


def socket_owners(inode: int, proc: str = "/proc") -> list[int]:
    """PIDs of the processes holding the socket with this inode (all of them only as root).

    Meant for error messages ("port 53 on 192.168.122.1 is held by PID 812 (named)").
    """
    target = f"socket:[{inode}]"
    pids: list[int] = []
    if inode <= 0:
        return pids
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir(f"{proc}/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{proc}/{pid}/fd/{fd}") == target:
                    pids.append(int(pid))
                    break
            except OSError:
                continue
    return pids


def port_in_use(
    addresses: Iterable[str],
    port: int,
    proto: Proto,
    sockets: Iterable[ListeningSocket] | None = None,
) -> bool:
    """Whether ``port``/``proto`` is taken on any of ``addresses`` or on a wildcard."""
    return bool(conflicting_listeners(addresses, port, proto, sockets))


# -- routes -----------------------------------------------------------------------------------
# libvirt checks a new network's subnet against /proc/net/route (networkCheckRouteCollision);
# so does kvmnet.  Reading these text tables costs ~1 ms for 1,000 routes, where a netlink
# dump decoded message by message in Python costs ~100 times more.

class KernelRoute(NamedTuple):
    dst: str  # network address
    prefixlen: int
    ifname: str
    gateway: str | None
    family: int  # 4 or 6


def parse_route(text: str) -> list[KernelRoute]:
    """IPv4 routes of the main table from /proc/net/route's text."""
    import socket
    import struct

    out = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 8:
            continue
        dst = socket.inet_ntoa(struct.pack("<I", int(f[1], 16)))
        gw_raw = int(f[2], 16)
        mask = int(f[7], 16)
        prefix = mask.bit_count()
        out.append(KernelRoute(dst, prefix, f[0],
                               socket.inet_ntoa(struct.pack("<I", gw_raw)) if gw_raw else None, 4))
    return out


def parse_ipv6_route(text: str) -> list[KernelRoute]:
    """IPv6 routes from /proc/net/ipv6_route's text (all tables; host and lo routes dropped)."""
    import ipaddress

    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 10:
            continue
        prefix = int(f[1], 16)
        ifname = f[9]
        if prefix == 128 or ifname == "lo":
            continue
        dst = str(ipaddress.IPv6Address(bytes.fromhex(f[0])))
        gw = str(ipaddress.IPv6Address(bytes.fromhex(f[4])))
        out.append(KernelRoute(dst, prefix, ifname, None if gw == "::" else gw, 6))
    return out


Span = tuple[int, int, int]  # (IP version, first address, last address) of a subnet, as integers


def span(version: int, address: int, prefixlen: int) -> Span:
    """The subnet of ``address``/``prefixlen`` (an integer address of IP ``version``)."""
    host = (1 << ((32 if version == 4 else 128) - prefixlen)) - 1
    first = address & ~host
    return version, first, first | host


def overlaps(spans: Iterable[Span], version: int, first: int, last: int) -> bool:
    """Whether the subnet ``first..last`` of IP ``version`` overlaps any of ``spans``."""
    return any(v == version and first <= hi and lo <= last for v, lo, hi in spans)


def routes_within(spans: Iterable[Span], proc_net: str = "/proc/net") -> list[KernelRoute]:
    """The routes (as :func:`read_routes`) whose destination overlaps one of ``spans``.

    Builds route objects only for the matches: with a thousand networks there are
    thousands of routes, and formatting each one cost ~10 ms of every ``net-start``.
    IPv4 lines are compared in the kernel's own (little-endian) hex order: two subnets
    overlap exactly when their addresses agree under the shorter of the two masks, and
    masking works byte by byte in any byte order.
    """
    v4 = []  # (address, mask) of our IPv4 spans, as little-endian integers
    v6 = []
    for version, first, last in spans:
        if version == 4:
            mask = ~(first ^ last) & 0xFFFFFFFF
            v4.append((int.from_bytes(first.to_bytes(4, "big"), "little"),
                       int.from_bytes(mask.to_bytes(4, "big"), "little")))
        else:
            v6.append((6, first, last))
    found: list[KernelRoute] = []
    if v4:
        keep = []
        # plain loops, no generators: this runs for each of a thousand routes
        for line in _read(f"{proc_net}/route").splitlines():
            w = line.split()
            if len(w) < 8 or w[0] == "Iface":
                continue
            dst, mask = int(w[1], 16), int(w[7], 16)
            for ours, our_mask in v4:
                if not (dst ^ ours) & mask & our_mask:
                    keep.append(line)
                    break
        if keep:  # parse_route skips a header line
            found += parse_route("Iface\n" + "\n".join(keep))
    if v6:
        keep = [line for line in _read(f"{proc_net}/ipv6_route").splitlines()
                if len(w := line.split()) >= 10
                and overlaps(v6, *span(6, int(w[0], 16), int(w[1], 16)))]
        if keep:
            found += parse_ipv6_route("\n".join(keep))
    return found


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except FileNotFoundError:  # ipv6_route is absent when IPv6 is disabled
        return ""


def read_routes(proc_net: str = "/proc/net") -> list[KernelRoute]:
    """This network namespace's IPv4 and IPv6 routes, from /proc (per-namespace files)."""
    return (parse_route(_read(f"{proc_net}/route"))
            + parse_ipv6_route(_read(f"{proc_net}/ipv6_route")))


# -- can a port be bound? -------------------------------------------------------------------
IP_FREEBIND = 15
IPV6_FREEBIND = 78


def can_bind(address: str, port: int, proto: Proto) -> bool:
    """Whether a server could bind ``address:port`` now, even before the address exists.

    Binds a throw-away socket with IP_FREEBIND (and without SO_REUSEADDR, so a wildcard or
    exact holder refuses it), then closes it.  One system call instead of reading every
    socket of the namespace from /proc/net (thousands of lines with a thousand networks).
    """
    import _socket as socket  # the C module: socket.py costs ~5 ms of a cold net-start
    import errno

    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(family, kind)
    try:
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
        else:
            s.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
        try:
            s.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    finally:
        s.close()
    return True
