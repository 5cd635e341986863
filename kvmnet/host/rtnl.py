"""rtnetlink transport for :mod:`kvmnet.host.netlink`: pyroute2's message classes, our socket.

Why: ``kvmnet net-start`` and ``net-destroy`` are short-lived processes whose wall time is
mostly Python start-up, while the kernel work of a whole network start is a few milliseconds
(plus ~30 ms for a link delete, which no client avoids).  pyroute2's ``IPRoute`` client is built
on asyncio: importing it cost 65-90 ms here on top of the rest.  So kvmnet keeps pyroute2 for
what it is good at -- its message classes (``ifinfmsg``, ``ifaddrmsg``, ``rtmsg``, ``nlmsgerr``)
encode and decode every rtnetlink message and its nested attributes (``IFLA_LINKINFO``/
``IFLA_INFO_DATA``, ``IFLA_PROTINFO``/``IFLA_BRPORT_*``, ``IFA_*``, ``RTA_*``, the errno of
``NLMSG_ERROR``) -- and does the socket I/O itself.  Measured with ``bench/bench_netlink.py``
(fresh interpreters, byte-code compiled; this machine's timings vary up to 2x with its load):
importing :mod:`kvmnet.host.netlink` and opening the socket takes ~27-35 ms (median ~32 ms),
about 15 ms of it typing/logging/socket, which every kvmnet host command loads anyway; the
asyncio client would add ~70-90 ms.

The socket loop (:class:`Rtnl`):

- one ``AF_NETLINK``/``NETLINK_ROUTE`` raw socket, bound to a kernel-chosen port id, with no
  multicast groups, so it only ever receives replies to its own requests;
- ``NETLINK_EXT_ACK`` (the kernel's own error text, e.g. "mtu greater than device maximum") and
  ``NETLINK_CAP_ACK`` (errors do not echo our whole request back) when the kernel supports them;
- one request at a time: encode it, stamp its sequence number, send it, and read replies with
  that sequence number until the ack (``NLMSG_ERROR`` with errno 0), an error (``NLMSG_ERROR``
  with -errno, raised as :class:`RtnlError`) or, for dumps, ``NLMSG_DONE``; a dump's multi-part
  replies span many ``recv`` calls and are decoded one message at a time with pyroute2's classes
  (``cls(data, offset=o).decode()``, as pyroute2's own marshal does).  A dump the kernel flags
  as interrupted (``NLM_F_DUMP_INTR``: the table changed meanwhile) is repeated.

Loading pyroute2 cheaply: ``import pyroute2.<anything>`` first runs ``pyroute2/__init__.py``,
which eagerly imports every pyroute2 feature (NDB, IPDB, conntrack, nftables, ethtool, wireguard,
plan9...): about 190 ms.  Python only needs a package module in ``sys.modules`` with a
``__path__`` to import its submodules, so we register a stand-in module for the package (built
from the package's own import spec) and import the message modules through it.  The same is
done for ``pyroute2.config``, whose ``__init__`` imports multiprocessing and platform (~7 ms)
although the message classes read only three of its values while they are imported; the
stand-in carries those three (:func:`_config_presets`, checked against the real ones by a test).
The stand-ins stay correct for any later user: a submodule attribute is imported on demand (what
``from pyroute2 import config`` needs), and reading any other attribute (``pyroute2.IPRoute``,
``pyroute2.config.kernel``...) or setting one runs the real ``__init__`` in the same module
object, after which it *is* the ordinary module.  If pyroute2 is already imported, it is used as
it is.  Only documented import machinery is used (ModuleSpec, module ``__path__``,
``loader.exec_module``).  ``ifaddrmsg`` and ``rtmsg`` load on first use.

Nothing outside :mod:`kvmnet.host` imports this module, and importing it does not import
pyroute2: that happens on the first :class:`Rtnl`.
"""
from __future__ import annotations

# _socket, not socket: the C module has everything used here, and socket.py's enum wrappers
# and selectors cost ~5 ms of every cold net-start/net-destroy.
import _socket as socket
import errno as errno_mod
import functools
import importlib
import os
import struct
import sys
import types

TYPE_CHECKING = False  # typing costs ~4.5 ms of a cold start: annotations only
if TYPE_CHECKING:
    from typing import Any

from kvmnet.errors import HostError

# Kernel ABI constants (linux/netlink.h, linux/rtnetlink.h): stable numbers, spelled out here so
# that nothing but the message classes has to come from pyroute2.
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
RTPROT_STATIC = 4  # "added by the administrator", as pyroute2-era kvmnet routes were
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

    ``local`` is True when the request never reached the kernel (a value pyroute2 cannot encode,
    e.g. a number too large for its attribute).  Socket failures (including no answer within
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


# -- loading pyroute2's message classes ------------------------------------------------------


class _DeferredPackage(types.ModuleType):
    """A package module (``pyroute2``, ``pyroute2.config``) before its ``__init__`` has run.

    Reading an attribute that is neither set yet nor a submodule runs the real ``__init__`` in
    this very module object, and so does setting one (a setting made now must not be
    overwritten by an ``__init__`` run later); attaching a submodule, which the import system
    does, is not a setting.
    """

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        import importlib.util

        fullname = f"{self.__name__}.{name}"
        if importlib.util.find_spec(fullname) is not None:
            return importlib.import_module(fullname)
        if self._kvmnet_init():
            return getattr(self, name)
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("__") and not isinstance(value, types.ModuleType):
            self._kvmnet_init()
        super().__setattr__(name, value)

    def _kvmnet_init(self) -> bool:
        """Run the real ``__init__`` unless done already; True if it ran now."""
        if self.__dict__.get("_kvmnet_init_done"):
            return False
        self.__dict__["_kvmnet_init_done"] = True
        spec = self.__spec__
        assert spec is not None and spec.loader is not None
        spec.loader.exec_module(self)
        return True


def _stand_in(name: str, presets: dict[str, Any]) -> _DeferredPackage:
    import importlib.util

    spec = importlib.util.find_spec(name)
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
    stub.__dict__.update(presets)  # not settings: no __init__ run
    sys.modules[spec.name] = stub
    return stub


def _config_presets() -> dict[str, Any]:
    """What the message classes read from ``pyroute2.config`` while they are imported (and only
    then), with the values its ``__init__`` gives them; a test compares the two."""
    return {
        "AF_BRIDGE": getattr(socket, "AF_BRIDGE", 7),
        "data_plugins_pkgs": [],
        "data_plugins_path": [],
    }


class _Pyroute2:
    """The parts of pyroute2 kvmnet uses: its message classes.

    ``ifinfmsg`` (every operation looks a link up) and ``nlmsgerr`` load with the socket; the
    address and route classes on first use, so a ``net-destroy`` that only deletes links never
    loads them."""

    def __init__(self) -> None:
        from pyroute2.netlink import nlmsgerr
        from pyroute2.netlink.exceptions import NetlinkDecodeError
        from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

        self.ifinfmsg: Any = ifinfmsg
        self.nlmsgerr: Any = nlmsgerr
        self.DecodeError: type[Exception] = NetlinkDecodeError

    @functools.cached_property
    def ifaddrmsg(self) -> Any:
        from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg

        return ifaddrmsg

    @functools.cached_property
    def rtmsg(self) -> Any:
        from pyroute2.netlink.rtnl.rtmsg import rtmsg

        return rtmsg

    @property
    def IPRoute(self) -> Any:
        """pyroute2's full (asyncio-based) client, loaded only if someone asks; kvmnet does not."""
        from pyroute2.iproute.linux import IPRoute

        return IPRoute


_loaded: _Pyroute2 | None = None


def _pyroute2() -> _Pyroute2:
    global _loaded
    if _loaded is None:
        if "pyroute2" not in sys.modules:
            package = _stand_in("pyroute2", {})
            if "pyroute2.config" not in sys.modules:
                package.config = _stand_in("pyroute2.config", _config_presets())
            # The real __init__ would attach a NullHandler to the "pyroute2" logger; keep that.
            importlib.import_module("pyroute2.config.log")
        _loaded = _Pyroute2()
    return _loaded


# -- the socket --------------------------------------------------------------------------------


def _ext_ack_text(data: bytes, offset: int, length: int, flags: int) -> str | None:
    """NLMSGERR_ATTR_MSG of the NLMSG_ERROR/NLMSG_DONE message at ``offset``, if any.

    pyroute2's ``nlmsgerr`` decodes the errno but reads its attributes right after it, where the
    kernel puts the echoed request instead, so the attributes are located here.
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
    """One rtnetlink socket: synchronous request/reply with pyroute2 message objects."""

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

    @property
    def api(self) -> _Pyroute2:
        """pyroute2's message classes, loaded on first use (see :meth:`request_raw`)."""
        return _pyroute2()

    def close(self) -> None:
        self._sock.close()

    def request_raw(self, msg_type: int, flags: int, payload: bytes) -> list[bytes]:
        """Send a request whose body is already packed; return the raw reply payloads.

        For the fixed-layout requests on the hot path (:mod:`.rtpack`; deleting a link by name
        is a 16-byte ifinfomsg and one attribute), where loading pyroute2's message classes
        (~30 ms per process) would cost more than the kernel's work.  A dump the kernel flags
        as interrupted is repeated, as in :meth:`request`.
        """
        dump = flags & NLM_F_DUMP == NLM_F_DUMP
        flags |= NLM_F_REQUEST | (0 if dump else NLM_F_ACK)
        try:
            for _ in range(_DUMP_RETRIES):
                self._seq += 1
                header = _HEADER.pack(_HEADER.size + len(payload), msg_type, flags, self._seq, 0)
                self._sock.send(header + payload)
                replies, interrupted = self._receive(None)
                if not interrupted:
                    break
        except TimeoutError as exc:
            raise RtnlError(errno_mod.ETIMEDOUT, "no answer from the kernel") from exc
        except OSError as exc:
            raise RtnlError(exc.errno or errno_mod.EIO, exc.strerror) from exc
        return replies

    def request(self, msg: Any, msg_type: int, flags: int = 0, *, raw: bool = False) -> list[Any]:
        """Send ``msg`` (a pyroute2 message with its fields and ``attrs`` set) and return the
        decoded replies (with ``raw``: each reply's bytes after the netlink header, undecoded --
        for large dumps where decoding every attribute in Python would cost O(N) milliseconds).  ``flags`` adds to NLM_F_REQUEST: NLM_F_DUMP for a dump (replies end
        with NLMSG_DONE), else NLM_F_ACK is added and replies end with the kernel's ack.
        Raises :class:`RtnlError` if the kernel refuses or the socket fails."""
        dump = flags & NLM_F_DUMP == NLM_F_DUMP
        flags |= NLM_F_REQUEST | (0 if dump else NLM_F_ACK)
        msg["header"] = {"type": msg_type, "flags": flags, "sequence_number": 0, "pid": 0}
        try:
            msg.encode()
        except (struct.error, ValueError, TypeError, OverflowError) as exc:
            raise RtnlError(errno_mod.EINVAL, f"a value does not fit its netlink attribute ({exc})",
                            local=True) from exc
        try:
            for _ in range(_DUMP_RETRIES):
                self._seq += 1
                struct.pack_into("=I", msg.data, 8, self._seq)
                self._sock.send(msg.data)
                replies, interrupted = self._receive(None if raw else type(msg))
                if not interrupted:
                    break
        except TimeoutError as exc:
            raise RtnlError(errno_mod.ETIMEDOUT, "no answer from the kernel") from exc
        except OSError as exc:
            raise RtnlError(exc.errno or errno_mod.EIO, exc.strerror) from exc
        return replies

    def _receive(self, cls: Any | None) -> tuple[list[Any], bool]:
        replies: list[Any] = []
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
                    if mtype != NLMSG_NOOP and cls is None:
                        replies.append(data[offset + _HEADER.size:offset + length])
                    elif mtype != NLMSG_NOOP and cls is not None:
                        reply = cls(data, offset=offset)
                        try:
                            reply.decode()
                        except self.api.DecodeError:
                            pass  # an attribute pyroute2 cannot read: keep the rest, as it does
                        replies.append(reply)
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
