"""The rtnetlink messages of ``net-start``/``net-destroy``, packed and read by hand.

Why (the one hand-packed path to the kernel): bench/bench_netlink.py measured a cold process
doing net-start's and net-destroy's kernel work at 47.5 ms hand-packed against 166.6 ms with
pyroute2's public ``IPRoute`` (medians of 20: the import is 128 ms, the calls themselves are
within 1 ms of each other), i.e. ~119 ms saved per start/destroy pair, far above the 5 ms a
micro-optimisation must save to stay.  The messages those verbs send are fixed-layout and
few: look a link up, create a bridge, set a link's flags/MTU/master, delete a link, add or delete an
address, add or delete a route, and dump addresses and routes for the conflict check.  This
module packs exactly those, in ``(field dict, [(NLA name, value)])`` form, and reads
RTM_NEWLINK and RTM_NEWROUTE replies into plain dicts keyed as the kernel names things
(``index``, ``flags``, ``IFLA_IFNAME``, ``IFLA_LINKINFO`` -> ``IFLA_INFO_KIND``, ``RTA_DST``...).
Anything else is not packed here (:func:`encode` returns None): it belongs to the cold verbs,
which use pyroute2's public API (:mod:`.iproute`).  The tests pack every supported request both
here and with pyroute2 and compare the bytes, and read real replies both ways.

Numbers are the kernel's ABI (linux/if_link.h, if_addr.h, rtnetlink.h): stable forever.
"""
from __future__ import annotations

import _socket as socket  # the C module: socket.py costs ~5 ms of start-up
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_NLA = struct.Struct("=HH")
NLA_F_NESTED = 1 << 15
_HEADERS = {
    "ifinfmsg": (struct.Struct("=BxHiII"), ("family", "ifi_type", "index", "flags", "change")),
    "ifaddrmsg": (struct.Struct("=BBBBI"), ("family", "prefixlen", "flags", "scope", "index")),
    "rtmsg": (struct.Struct("=BBBBBBBBI"), ("family", "dst_len", "src_len", "tos", "table",
                                            "proto", "scope", "type", "flags")),
}

# name -> (type number, value kind); kinds: u8, u32, str (NUL-terminated), mac, ip, nest
_IFLA: dict[str, tuple[int, str]] = {
    "IFLA_ADDRESS": (1, "mac"), "IFLA_IFNAME": (3, "str"), "IFLA_MTU": (4, "u32"),
    "IFLA_MASTER": (10, "u32"), "IFLA_OPERSTATE": (16, "u8"), "IFLA_LINKINFO": (18, "nest"),
    "IFLA_EXT_MASK": (29, "u32"),
}
_LINKINFO: dict[str, tuple[int, str]] = {"IFLA_INFO_KIND": (1, "str"), "IFLA_INFO_DATA": (2, "nest")}
_BRIDGE_DATA: dict[str, tuple[int, str]] = {"IFLA_BR_FORWARD_DELAY": (1, "u32"),
                                            "IFLA_BR_STP_STATE": (5, "u32")}
_IFA: dict[str, tuple[int, str]] = {"IFA_ADDRESS": (1, "ip"), "IFA_LOCAL": (2, "ip"),
                                    "IFA_BROADCAST": (4, "ip")}
_RTA: dict[str, tuple[int, str]] = {"RTA_DST": (1, "ip"), "RTA_OIF": (4, "u32"),
                                    "RTA_GATEWAY": (5, "ip"), "RTA_PRIORITY": (6, "u32"),
                                    "RTA_TABLE": (15, "u32")}
_TABLES = {"ifinfmsg": _IFLA, "ifaddrmsg": _IFA, "rtmsg": _RTA}
# what a nest holds, by the nest's name
_NESTS = {"IFLA_LINKINFO": _LINKINFO, "IFLA_INFO_DATA": _BRIDGE_DATA}
# IF_OPER_* (RFC 2863 operstates), as pyroute2 names them
_OPERSTATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")


class Unsupported(Exception):
    """The request uses an attribute or value form this module does not pack."""


def _value(kind: str, value: Any, table_name: str) -> bytes:
    if kind == "u8":
        return struct.pack("=B", value)
    if kind == "u32":
        return struct.pack("=I", value)
    if kind == "str":
        return str(value).encode() + b"\0"
    if kind == "mac":
        raw = bytes.fromhex(str(value).replace(":", ""))
        if len(raw) != 6:
            raise ValueError(f"{value!r} is not a MAC address")
        return raw
    if kind == "ip":
        text = str(value)
        return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)
    if kind == "nest" and isinstance(value, dict) and set(value) == {"attrs"}:
        return _attrs(value["attrs"], _NESTS[table_name])
    raise Unsupported(table_name)


def _attrs(attrs: list[Any], table: dict[str, tuple[int, str]]) -> bytes:
    out = bytearray()
    for item in attrs:
        if not isinstance(item, (tuple, list)) or len(item) != 2 or item[0] not in table:
            raise Unsupported(str(item[0] if isinstance(item, (tuple, list)) else item))
        name, value = item
        number, kind = table[name]
        body = _value(kind, value, name)
        out += _NLA.pack(_NLA.size + len(body), number) + body
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def encode(cls: str, fields: dict[str, Any], attrs: list[Any] | None) -> bytes | None:
    """The message body (after the netlink header) for ``cls`` with these header fields and
    attributes, or None when something in it is not supported here (use pyroute2).

    Raises :class:`struct.error`/ValueError/OSError for a value that does not fit, as
    pyroute2's ``encode()`` would."""
    if cls not in _HEADERS:
        return None
    header, names = _HEADERS[cls]
    if not set(fields) <= set(names):
        return None
    try:
        body = _attrs(attrs or [], _TABLES[cls])
    except Unsupported:
        return None
    return header.pack(*(int(fields.get(n, 0)) for n in names)) + body


def _walk(data: bytes, offset: int, end: int) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    while offset + _NLA.size <= end:
        length, number = _NLA.unpack_from(data, offset)
        if length < _NLA.size or offset + length > end:
            break
        found[number & 0x3FFF] = data[offset + _NLA.size:offset + length]
        offset += (length + 3) & ~3
    return found


def _u32(raw: bytes | None) -> int | None:
    return struct.unpack_from("=I", raw)[0] if raw is not None and len(raw) >= 4 else None


def _text(raw: bytes | None) -> str | None:
    return raw.split(b"\0", 1)[0].decode(errors="replace") if raw is not None else None


def decode_link(payload: bytes) -> dict[str, Any]:
    """One RTM_NEWLINK reply (after the netlink header) as a pyroute2-keyed dict.

    Only what kvmnet reads: index, flags, IFLA_IFNAME, IFLA_ADDRESS, IFLA_MTU,
    IFLA_OPERSTATE, IFLA_MASTER and IFLA_LINKINFO (kind; STP state and forward delay of
    a bridge)."""
    header, names = _HEADERS["ifinfmsg"]
    msg: dict[str, Any] = dict(zip(names, header.unpack_from(payload, 0)))
    top = _walk(payload, header.size, len(payload))
    mac = top.get(1)
    msg["IFLA_IFNAME"] = _text(top.get(3))
    msg["IFLA_ADDRESS"] = ":".join(f"{b:02x}" for b in mac) if mac else None
    msg["IFLA_MTU"] = _u32(top.get(4))
    msg["IFLA_MASTER"] = _u32(top.get(10))
    state = top.get(16)
    msg["IFLA_OPERSTATE"] = (_OPERSTATES[state[0]] if state[0] < len(_OPERSTATES)
                             else str(state[0])) if state else None
    if 18 in top:
        raw = top[18]
        nest = _walk(raw, 0, len(raw))
        info: dict[str, Any] = {"IFLA_INFO_KIND": _text(nest.get(1))}
        if info["IFLA_INFO_KIND"] == "bridge" and 2 in nest:
            data = _walk(nest[2], 0, len(nest[2]))
            info["IFLA_INFO_DATA"] = {"IFLA_BR_FORWARD_DELAY": _u32(data.get(1)),
                                      "IFLA_BR_STP_STATE": _u32(data.get(5))}
        msg["IFLA_LINKINFO"] = info
    else:
        msg["IFLA_LINKINFO"] = None
    return msg


def _ip(raw: bytes | None, family: int) -> str | None:
    if raw is None or family not in (socket.AF_INET, socket.AF_INET6):
        return None
    try:
        return socket.inet_ntop(family, raw)
    except ValueError:
        return None


def decode_route(payload: bytes) -> dict[str, Any]:
    """One RTM_NEWROUTE reply (after the netlink header) as a dict of its header fields and
    RTA_DST, RTA_GATEWAY, RTA_OIF, RTA_PRIORITY, RTA_TABLE (None when absent).

    ``ip route``'s dump on the start path (IPv6 router-advertisement check) reads only these; a
    route with other attributes (multipath, encapsulation...) is read the same, without them."""
    header, names = _HEADERS["rtmsg"]
    msg: dict[str, Any] = dict(zip(names, header.unpack_from(payload, 0)))
    top = _walk(payload, header.size, len(payload))
    family = msg["family"]
    msg["RTA_DST"] = _ip(top.get(1), family)
    msg["RTA_OIF"] = _u32(top.get(4))
    msg["RTA_GATEWAY"] = _ip(top.get(5), family)
    msg["RTA_PRIORITY"] = _u32(top.get(6))
    msg["RTA_TABLE"] = _u32(top.get(15))
    return msg
