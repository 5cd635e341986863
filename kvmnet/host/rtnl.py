"""The hot path's rtnetlink socket: raw requests and replies, no pyroute2.

Why (bench/bench_netlink.py, "import" and "hot path" rows): ``kvmnet net-start`` and
``net-destroy`` are short-lived processes whose wall time is mostly Python start-up, while the
kernel work of a whole network start is a few milliseconds.  Importing pyroute2's public package
(``from pyroute2 import IPRoute``; ``pyroute2.iproute.linux`` runs the same package ``__init__``)
costs ~150-230 ms here, more than a whole cold ``net-start``.  So the handful of fixed-layout
messages of those two verbs (link lookup/create/up/delete, address add/delete and dump, route
add/delete and dump) are packed and read by :mod:`.rtpack` and sent on this socket; everything
else goes through pyroute2's public ``IPRoute`` (:mod:`.iproute`), which cold verbs import once.

The socket loop (:class:`Rtnl`):

- one ``AF_NETLINK``/``NETLINK_ROUTE`` raw socket, bound to a kernel-chosen port id, with no
  multicast groups, so it only ever receives replies to its own requests;
- ``NETLINK_EXT_ACK`` (the kernel's own error text, e.g. "mtu greater than device maximum") and
  ``NETLINK_CAP_ACK`` (errors do not echo our whole request back) when the kernel supports them;
- one request at a time: stamp its sequence number, send it, and read replies with that
  sequence number until the ack (``NLMSG_ERROR`` with errno 0), an error (``NLMSG_ERROR`` with
  -errno, raised as :class:`RtnlError`) or, for dumps, ``NLMSG_DONE``; a dump's multi-part
  replies span many ``recv`` calls.  A dump the kernel flags as interrupted
  (``NLM_F_DUMP_INTR``: the table changed meanwhile) is repeated.

Importing this module imports no pyroute2, and nothing here ever does.
"""
from __future__ import annotations

# _socket, not socket: the C module has everything used here, and socket.py's enum wrappers
# and selectors cost ~5 ms of every cold net-start/net-destroy.
import _socket as socket
import errno as errno_mod
import os
import struct

from kvmnet.errors import HostError

# Kernel ABI constants (linux/netlink.h, linux/rtnetlink.h): stable numbers.
NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11

NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP_INTR = 0x10
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
NLM_F_CAPPED = 0x100  # on NLMSG_ERROR: only the request's header is echoed
NLM_F_ACK_TLVS = 0x200  # on NLMSG_ERROR/NLMSG_DONE: extended-ack attributes follow

NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4
NLMSGERR_ATTR_MSG = 1

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26

# Message fields and flags (linux/if.h, if_addr.h, rtnetlink.h, if_link.h).
IFF_UP = 0x1
IFA_F_NODAD = 0x02
RT_TABLE_MAIN = 254
RTN_UNICAST = 1
RTPROT_STATIC = 4  # "added by the administrator", as ``ip route add`` marks routes
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RT_SCOPE_NOWHERE = 255  # in a delete request: match a route of any scope (as ip route del)
AF_BRIDGE = 7
NLA_F_NESTED = 1 << 15
RTEXT_FILTER_SKIP_STATS = 1 << 3  # link replies without the counters nobody here reads

_HEADER = struct.Struct("=IHHII")  # struct nlmsghdr: len, type, flags, seq, pid
_NLA = struct.Struct("=HH")  # struct nlattr: len, type
_DUMP_RETRIES = 5
_TIMEOUT_S = 60.0  # the kernel always answers; this only turns a hang into an error


class RtnlError(Exception):
    """The kernel refused a request: ``code`` is the errno, ``text`` its extended-ack message.

    ``local`` is True when the request never reached the kernel (a value that does not fit its
    attribute, e.g. a number too large for a u32).  Socket failures (including no answer within
    60 s) are raised as this class too, with the socket's errno."""

    def __init__(self, code: int, text: str | None = None, *, local: bool = False) -> None:
        super().__init__(code, text)
        self.code = code
        self.text = text
        self.local = local

    def diagnose(self, command: str, what: str) -> HostError:
        """The HostError for ``what`` (e.g. "creating bridge virbr0") failing: why, and the fix."""
        kernel = self.text or os.strerror(self.code)
        why = _DIAGNOSES.get(self.code)
        if self.local:
            why = f"{kernel}: check the values"
        elif why is None:
            why = f"the kernel refused ({kernel}): check the values"
        else:
            why = f"{why} (kernel: {kernel})"
        return HostError(f"{what} failed: {why}", command, self.code)


_DIAGNOSES: dict[int, str] = {
    errno_mod.EPERM: "permission denied: run kvmnet as root (it needs CAP_NET_ADMIN)",
    errno_mod.EACCES: "permission denied: run kvmnet as root (it needs CAP_NET_ADMIN)",
    errno_mod.EOPNOTSUPP: "the kernel does not support this: load the module (e.g. modprobe bridge)",
    errno_mod.EBUSY: "the device is busy: detach it from whatever uses it and retry",
    errno_mod.ENETUNREACH: "the gateway is not reachable through any address on this host: "
    "add an address in the gateway's subnet first",
    errno_mod.ENOBUFS: "the kernel ran out of buffer space: retry",
    errno_mod.ETIMEDOUT: "the kernel did not answer: check the system's load and retry",
}


# -- the socket --------------------------------------------------------------------------------


def _ext_ack_text(data: bytes, offset: int, length: int, flags: int) -> str | None:
    """NLMSGERR_ATTR_MSG of the NLMSG_ERROR/NLMSG_DONE message at ``offset``, if any.

    The attributes follow the echoed request (only its header with NETLINK_CAP_ACK).
    """
    if not flags & NLM_F_ACK_TLVS:
        return None
    end = offset + length
    pos = offset + _HEADER.size
    (mtype,) = struct.unpack_from("=H", data, offset + 4)
    if mtype == NLMSG_ERROR:
        pos += 4  # the errno
        echoed = _HEADER.size if flags & NLM_F_CAPPED else struct.unpack_from("=I", data, pos)[0]
        pos += (echoed + 3) & ~3
    else:
        pos += 4  # NLMSG_DONE: the dump's errno
    while pos + _NLA.size <= end:
        nla_len, nla_type = _NLA.unpack_from(data, pos)
        if nla_len < _NLA.size:
            break
        if nla_type & 0x3FFF == NLMSGERR_ATTR_MSG:
            text = bytes(data[pos + _NLA.size:pos + nla_len]).split(b"\0", 1)[0]
            return text.decode(errors="replace") or None
        pos += (nla_len + 3) & ~3
    return None


class Rtnl:
    """One rtnetlink socket: synchronous request/reply of packed message bodies."""

    def __init__(self) -> None:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        try:
            sock.bind((0, 0))  # port id chosen by the kernel; no multicast groups
            for opt in (NETLINK_EXT_ACK, NETLINK_CAP_ACK):
                try:
                    sock.setsockopt(SOL_NETLINK, opt, 1)
                except OSError:
                    pass  # an old kernel: errors come without the kernel's text
            sock.settimeout(_TIMEOUT_S)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._seq = 0
        self._buf = bytearray(1 << 16)

    def close(self) -> None:
        self._sock.close()

    def request_raw(self, msg_type: int, flags: int, payload: bytes) -> list[bytes]:
        """Send a request whose body is already packed; return the raw reply payloads.

        ``flags`` adds to NLM_F_REQUEST: NLM_F_DUMP for a dump (replies end with NLMSG_DONE),
        else NLM_F_ACK is added and replies end with the kernel's ack.  A dump the kernel flags
        as interrupted is repeated.  Raises :class:`RtnlError` if the kernel refuses or the
        socket fails.
        """
        dump = flags & NLM_F_DUMP == NLM_F_DUMP
        flags |= NLM_F_REQUEST | (0 if dump else NLM_F_ACK)
        try:
            for _ in range(_DUMP_RETRIES):
                self._seq += 1
                header = _HEADER.pack(_HEADER.size + len(payload), msg_type, flags, self._seq, 0)
                self._sock.send(header + payload)
                replies, interrupted = self._receive()
                if not interrupted:
                    break
        except TimeoutError as exc:
            raise RtnlError(errno_mod.ETIMEDOUT, "no answer from the kernel") from exc
        except OSError as exc:
            raise RtnlError(exc.errno or errno_mod.EIO, exc.strerror) from exc
        return replies

    def _receive(self) -> tuple[list[bytes], bool]:
        replies: list[bytes] = []
        interrupted = False
        while True:
            size = self._recv()
            data = bytes(memoryview(self._buf)[:size])
            offset = 0
            while offset + _HEADER.size <= size:
                length, mtype, mflags, seq, _pid = _HEADER.unpack_from(data, offset)
                if length < _HEADER.size or offset + length > size:
                    raise RtnlError(errno_mod.EBADMSG, "malformed netlink reply")
                if seq == self._seq:
                    interrupted = interrupted or bool(mflags & NLM_F_DUMP_INTR)
                    if mtype in (NLMSG_ERROR, NLMSG_DONE):
                        if mtype == NLMSG_ERROR:  # nlmsgerr: a negative errno first
                            code = -struct.unpack_from("=i", data, offset + _HEADER.size)[0]
                        else:  # a dump's end carries the dump's result
                            code = -struct.unpack_from("=i", data, offset + _HEADER.size)[0] \
                                if length >= _HEADER.size + 4 else 0
                        if code:
                            raise RtnlError(code, _ext_ack_text(data, offset, length, mflags))
                        return replies, interrupted
                    if mtype == NLMSG_OVERRUN:
                        raise RtnlError(errno_mod.ENOBUFS, "netlink overrun")
                    if mtype != NLMSG_NOOP:
                        replies.append(data[offset + _HEADER.size:offset + length])
                offset += (length + 3) & ~3

    def _recv(self) -> int:
        # Peek first so a reply larger than the buffer grows it instead of being truncated.
        need = self._sock.recv_into(self._buf, 0, socket.MSG_PEEK | socket.MSG_TRUNC)
        if need > len(self._buf):
            self._buf = bytearray(need)
        return self._sock.recv_into(self._buf)


IFA_ADDRESS = 1
IFA_LOCAL = 2
_IFADDRMSG = struct.Struct("=BBBBI")
_RTATTR = struct.Struct("=HH")
#: The attribute headers of the kernel's own IPv4 ifaddrmsg layout (IFA_ADDRESS at offset 8,
#: IFA_LOCAL at 16), which readers check in place before taking the fast path.
V4_ADDRESS = _RTATTR.pack(8, IFA_ADDRESS)
V4_LOCAL = _RTATTR.pack(8, IFA_LOCAL)


def parse_ifaddr(payload: bytes) -> tuple[int, int, int, bytes | None]:
    """(family, prefixlen, ifindex, address bytes) from one raw RTM_NEWADDR payload.

    Reads only the fixed header and the IFA_LOCAL/IFA_ADDRESS attributes (IFA_LOCAL wins
    for IPv4: on point-to-point links IFA_ADDRESS is the peer).
    """
    family, prefixlen, _flags, _scope, index = _IFADDRMSG.unpack_from(payload, 0)
    if family == socket.AF_INET and payload[8:12] == V4_ADDRESS and payload[16:20] == V4_LOCAL:
        # the kernel's own layout for IPv4 (IFA_ADDRESS, then IFA_LOCAL): a namespace with a
        # thousand networks has a thousand of these, read on every net-start's conflict check
        return family, prefixlen, index, payload[20:24]
    offset = (_IFADDRMSG.size + 3) & ~3
    found: dict[int, bytes] = {}
    while offset + _RTATTR.size <= len(payload):
        length, kind = _RTATTR.unpack_from(payload, offset)
        if length < _RTATTR.size:
            break
        if kind in (IFA_ADDRESS, IFA_LOCAL):
            found[kind] = payload[offset + _RTATTR.size:offset + length]
        offset += (length + 3) & ~3
    addr = found.get(IFA_LOCAL) if family == socket.AF_INET and IFA_LOCAL in found \
        else found.get(IFA_ADDRESS, found.get(IFA_LOCAL))
    return family, prefixlen, index, addr


IFLA_IFNAME = 3
_IFINFOMSG = struct.Struct("=BxHiII")


def pack_link_by_name(name: str) -> bytes:
    """An ifinfomsg (family unspecified, no index) naming the link by IFLA_IFNAME."""
    raw = name.encode() + b"\0"
    attr = _RTATTR.pack(_RTATTR.size + len(raw), IFLA_IFNAME) + raw
    attr += b"\0" * (-len(attr) % 4)
    return _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + attr
