"""kvmnet.host.rtpack packs the start path's rtnetlink messages byte for byte as pyroute2 does,
and reads link and route replies to the same values (no root needed: messages are only built
and read).  pyroute2's message classes are imported the ordinary way here."""
from __future__ import annotations

import struct
from typing import Any

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from kvmnet.host import rtnl, rtpack

CLASSES: dict[str, Any] = {"ifinfmsg": ifinfmsg, "ifaddrmsg": ifaddrmsg, "rtmsg": rtmsg}

BRIDGE_INFO = {"attrs": [("IFLA_INFO_KIND", "bridge"), ("IFLA_INFO_DATA", {"attrs": [
    ("IFLA_BR_STP_STATE", 1), ("IFLA_BR_FORWARD_DELAY", 200)]})]}

REQUESTS: list[tuple[str, dict[str, Any], list[Any]]] = [
    # ip link add name virbr0 address ... mtu 9000 type bridge stp_state 1 forward_delay 200
    ("ifinfmsg", {"flags": 0, "change": 0}, [
        ("IFLA_IFNAME", "virbr0"), ("IFLA_ADDRESS", "52:54:00:ab:cd:ef"), ("IFLA_MTU", 9000),
        ("IFLA_LINKINFO", BRIDGE_INFO)]),
    ("ifinfmsg", {"flags": rtnl.IFF_UP, "change": rtnl.IFF_UP}, [
        ("IFLA_IFNAME", "kvbr-a-much-lon"), ("IFLA_LINKINFO", BRIDGE_INFO)]),
    # ip link show NAME / index N
    ("ifinfmsg", {"index": 0}, [("IFLA_IFNAME", "eth0"), ("IFLA_EXT_MASK", 8)]),
    ("ifinfmsg", {"index": 7}, [("IFLA_EXT_MASK", 8)]),
    # ip link set ... up / mtu / master / nomaster
    ("ifinfmsg", {"index": 3, "flags": rtnl.IFF_UP, "change": rtnl.IFF_UP}, []),
    ("ifinfmsg", {"index": 3}, [("IFLA_MTU", 1400)]),
    ("ifinfmsg", {"index": 3}, [("IFLA_MASTER", 9)]),
    ("ifinfmsg", {"index": 3}, [("IFLA_MASTER", 0)]),
    # ip addr add 192.168.122.1/24 brd 192.168.122.255 dev virbr0; ip addr add 2001:db8::1/64 nodad
    ("ifaddrmsg", {"family": 2, "prefixlen": 24, "flags": 0, "scope": 0, "index": 5}, [
        ("IFA_LOCAL", "192.168.122.1"), ("IFA_ADDRESS", "192.168.122.1"),
        ("IFA_BROADCAST", "192.168.122.255")]),
    ("ifaddrmsg", {"family": 10, "prefixlen": 64, "flags": rtnl.IFA_F_NODAD, "scope": 0,
                   "index": 5}, [("IFA_LOCAL", "2001:db8::1"), ("IFA_ADDRESS", "2001:db8::1")]),
    # ip route add 10.1.0.0/16 via 192.168.122.2 metric 5; ip -6 route del ...; dev route
    ("rtmsg", {"family": 2, "dst_len": 16, "table": 254, "proto": 4, "type": 1, "scope": 0}, [
        ("RTA_TABLE", 254), ("RTA_DST", "10.1.0.0"), ("RTA_GATEWAY", "192.168.122.2"),
        ("RTA_PRIORITY", 5)]),
    ("rtmsg", {"family": 10, "dst_len": 48, "table": 254, "scope": 255}, [
        ("RTA_TABLE", 254), ("RTA_DST", "2001:db8:1::"), ("RTA_GATEWAY", "2001:db8::2")]),
    ("rtmsg", {"family": 2, "dst_len": 24, "table": 254, "proto": 4, "type": 1, "scope": 253}, [
        ("RTA_TABLE", 254), ("RTA_DST", "10.2.0.0"), ("RTA_OIF", 4)]),
    ("ifaddrmsg", {}, []),  # the address dump's request
]


def pyroute2_body(cls: str, fields: dict[str, Any], attrs: list[Any]) -> bytes:
    msg = CLASSES[cls]()
    for key, value in fields.items():
        msg[key] = value
    msg["attrs"] = attrs
    msg["header"] = {"type": 0, "flags": 0, "sequence_number": 0, "pid": 0}
    msg.encode()
    return bytes(msg.data[16:])


@pytest.mark.parametrize("cls,fields,attrs", REQUESTS,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(REQUESTS)])
def test_packs_exactly_what_pyroute2_packs(cls: str, fields: dict[str, Any],
                                           attrs: list[Any]) -> None:
    ours = rtpack.encode(cls, fields, attrs)
    assert ours is not None
    assert ours == pyroute2_body(cls, fields, attrs)


@pytest.mark.parametrize("cls,fields,attrs", [
    # bridge-port flags: a nested attribute with an explicit NLA_F_NESTED flag
    ("ifinfmsg", {"family": 7, "index": 3},
     [("IFLA_PROTINFO", {"attrs": [("IFLA_BRPORT_ISOLATED", 1)]}, rtnl.NLA_F_NESTED)]),
    # another link kind's data is not in the bridge table
    ("ifinfmsg", {}, [("IFLA_IFNAME", "vx0"), ("IFLA_LINKINFO", {"attrs": [
        ("IFLA_INFO_KIND", "vxlan"), ("IFLA_INFO_DATA", {"attrs": [("IFLA_VXLAN_ID", 5)]})]})]),
    ("ifinfmsg", {"no_such_field": 1}, []),
    ("rtmsg", {}, [("RTA_MULTIPATH", [])]),
    ("ndmsg", {}, []),
])
def test_anything_else_is_not_packed_here(cls: str, fields: dict[str, Any],
                                           attrs: list[Any]) -> None:
    assert rtpack.encode(cls, fields, attrs) is None


def test_values_that_do_not_fit_raise_as_pyroute2_does() -> None:
    with pytest.raises(struct.error):
        rtpack.encode("ifinfmsg", {}, [("IFLA_MTU", 2**40)])
    with pytest.raises(ValueError):
        rtpack.encode("ifinfmsg", {}, [("IFLA_ADDRESS", "52:54:00:12:34")])
    with pytest.raises(OSError):
        rtpack.encode("ifaddrmsg", {}, [("IFA_LOCAL", "300.1.1.1")])


def test_reads_a_link_reply_as_pyroute2_does() -> None:
    for kind_attrs, expect_kind in ((BRIDGE_INFO, "bridge"),
                                    ({"attrs": [("IFLA_INFO_KIND", "veth")]}, "veth"), (None, None)):
        attrs: list[Any] = [("IFLA_IFNAME", "virbr3"), ("IFLA_ADDRESS", "52:54:00:00:00:0a"),
                            ("IFLA_MTU", 1500), ("IFLA_OPERSTATE", "UP"), ("IFLA_MASTER", 12),
                            ("IFLA_TXQLEN", 1000), ("IFLA_GROUP", 0)]
        if kind_attrs is not None:
            attrs.append(("IFLA_LINKINFO", kind_attrs))
        msg = ifinfmsg()
        msg["index"], msg["flags"], msg["change"] = 11, rtnl.IFF_UP, 0
        msg["attrs"] = attrs
        msg["header"] = {"type": rtnl.RTM_NEWLINK, "flags": 0, "sequence_number": 0, "pid": 0}
        msg.encode()
        theirs = ifinfmsg(bytes(msg.data))
        theirs.decode()
        ours = rtpack.decode_link(bytes(msg.data[16:]))
        for key in ("index", "flags", "IFLA_IFNAME", "IFLA_ADDRESS", "IFLA_MTU", "IFLA_OPERSTATE",
                    "IFLA_MASTER"):
            assert ours[key] == theirs.get(key), key
        info = ours["IFLA_LINKINFO"]
        assert (info["IFLA_INFO_KIND"] if info else None) == expect_kind
        if expect_kind == "bridge":
            data = theirs.get("IFLA_LINKINFO").get("IFLA_INFO_DATA")
            assert info["IFLA_INFO_DATA"] == {
                "IFLA_BR_STP_STATE": data.get("IFLA_BR_STP_STATE"),
                "IFLA_BR_FORWARD_DELAY": data.get("IFLA_BR_FORWARD_DELAY")} == {
                "IFLA_BR_STP_STATE": 1, "IFLA_BR_FORWARD_DELAY": 200}


def _ifaddr(family: int, prefixlen: int, index: int, *attrs: tuple[int, bytes]) -> bytes:
    out = struct.pack("=BBBBI", family, prefixlen, 0, 0, index)
    for kind, value in attrs:
        attr = struct.pack("=HH", 4 + len(value), kind) + value
        out += attr + b"\0" * (-len(attr) % 4)
    return out


LABEL = (3, b"virbr0\0")


@pytest.mark.parametrize("payload, expected", [
    # the kernel's IPv4 layout (IFA_ADDRESS, IFA_LOCAL, label): read at fixed offsets
    (_ifaddr(2, 24, 5, (1, bytes([10, 0, 0, 1])), (2, bytes([10, 0, 0, 1])), LABEL),
     (2, 24, 5, bytes([10, 0, 0, 1]))),
    # point to point: IFA_ADDRESS is the peer, the address is IFA_LOCAL (both layouts)
    (_ifaddr(2, 32, 6, (1, bytes([10, 9, 9, 9])), (2, bytes([10, 0, 0, 2]))),
     (2, 32, 6, bytes([10, 0, 0, 2]))),
    (_ifaddr(2, 32, 6, LABEL, (2, bytes([10, 0, 0, 2])), (1, bytes([10, 9, 9, 9]))),
     (2, 32, 6, bytes([10, 0, 0, 2]))),
    # only IFA_ADDRESS, and IPv6
    (_ifaddr(2, 16, 7, (1, bytes([172, 16, 0, 1]))), (2, 16, 7, bytes([172, 16, 0, 1]))),
    (_ifaddr(10, 64, 8, (1, bytes(range(16)))), (10, 64, 8, bytes(range(16)))),
    (_ifaddr(2, 8, 9, LABEL), (2, 8, 9, None)),
])
def test_parse_ifaddr_reads_the_address_in_any_layout(payload: bytes, expected: Any) -> None:
    assert rtnl.parse_ifaddr(payload) == expected


@pytest.mark.parametrize("fields,attrs", [
    ({"family": 2, "dst_len": 16, "table": 254, "proto": 4, "type": 1, "scope": 0},
     [("RTA_TABLE", 254), ("RTA_DST", "10.1.0.0"), ("RTA_GATEWAY", "192.168.122.2"),
      ("RTA_PRIORITY", 5), ("RTA_OIF", 3)]),
    ({"family": 10, "dst_len": 0, "table": 254, "proto": 9, "type": 1, "scope": 0},
     [("RTA_TABLE", 254), ("RTA_GATEWAY", "fe80::1"), ("RTA_OIF", 2), ("RTA_PRIORITY", 1024),
      ("RTA_PREF", 0)]),
    ({"family": 2, "dst_len": 32, "table": 255, "proto": 2, "type": 2, "scope": 254},
     [("RTA_TABLE", 255), ("RTA_DST", "127.0.0.1"), ("RTA_PREFSRC", "127.0.0.1"),
      ("RTA_OIF", 1)]),
])
def test_reads_a_route_reply_as_pyroute2_does(fields: dict[str, Any], attrs: list[Any]) -> None:
    msg = rtmsg()
    for key, value in fields.items():
        msg[key] = value
    msg["attrs"] = attrs
    msg["header"] = {"type": rtnl.RTM_NEWROUTE, "flags": 0, "sequence_number": 0, "pid": 0}
    msg.encode()
    theirs = rtmsg(bytes(msg.data))
    theirs.decode()
    ours = rtpack.decode_route(bytes(msg.data[16:]))
    for key in ("family", "dst_len", "table", "type", "RTA_DST", "RTA_GATEWAY", "RTA_OIF",
                "RTA_PRIORITY", "RTA_TABLE"):
        assert ours[key] == theirs.get(key), key
