"""brctl's output layout and argument reading, without a kernel.

The expected texts are real ``brctl`` (bridge-utils 1.7, Debian) output, captured from bridges
whose state is rebuilt here as plain values.
"""
from __future__ import annotations

from typing import Any

import pytest

from kvmnet.bridge.brctl import check_name
from kvmnet.bridge.format import (
    format_seconds,
    format_show,
    format_showmacs,
    format_showstp,
    macs_json,
    parse_int,
    parse_seconds,
    parse_switch,
    show_json,
    stp_json,
)
from kvmnet.errors import InvalidArgError
from kvmnet.host.bridgefs import BridgeInfo, FdbEntry, PortInfo, _bridge_id

BR0_ID = "8000.220ad3206df4"


_PORT = PortInfo(
    name="p", ifindex=11, port_no=1, port_id=0x8001, state=3, path_cost=2, priority=32,
    designated_root=BR0_ID, designated_bridge=BR0_ID, designated_port=0x8001, designated_cost=0,
    message_age_timer=0, forward_delay_timer=0, hold_timer=0, config_pending=False,
    topology_change_ack=False, hairpin=False)
_BRIDGE = BridgeInfo(
    name="br", ifindex=2, up=True, bridge_id=BR0_ID, designated_root=BR0_ID, root_port=0,
    root_path_cost=0, stp_state=0, priority=0x8000, max_age=2000, hello_time=200,
    forward_delay=1500, ageing_time=30000, hello_timer=0, tcn_timer=0, topology_change_timer=0,
    gc_timer=0, topology_change=False, topology_change_detected=False)


def port(name: str, no: int, **kw: Any) -> PortInfo:
    return _PORT._replace(name=name, ifindex=10 + no, port_no=no,
                               port_id=0x8000 + no, designated_port=0x8000 + no, **kw)


def bridge(name: str, bridge_id: str = BR0_ID, ports: tuple[PortInfo, ...] = (),
           **kw: Any) -> BridgeInfo:
    return _BRIDGE._replace(name=name, bridge_id=bridge_id,
                               designated_root=bridge_id, ports=ports, **kw)


BR0 = bridge("br0", ports=(port("v0", 1, forward_delay_timer=1398),
                           port("v1", 2, forward_delay_timer=1399, hairpin=True)),
             gc_timer=29900)
BR1 = bridge("br1", "8000.000000000000")

BRCTL_SHOW = (
    "bridge name\tbridge id\t\tSTP enabled\tinterfaces\n"
    "br0\t\t8000.220ad3206df4\tno\t\tv0\n"
    "\t\t\t\t\t\t\tv1\n"
    "br1\t\t8000.000000000000\tno\t\t\n"
)

BRCTL_SHOWSTP = (
    "br0\n"
    " bridge id\t\t8000.220ad3206df4\n"
    " designated root\t8000.220ad3206df4\n"
    " root port\t\t   0\t\t\tpath cost\t\t   0\n"
    " max age\t\t  20.00\t\t\tbridge max age\t\t  20.00\n"
    " hello time\t\t   2.00\t\t\tbridge hello time\t   2.00\n"
    " forward delay\t\t  15.00\t\t\tbridge forward delay\t  15.00\n"
    " ageing time\t\t 300.00\n"
    " hello timer\t\t   0.00\t\t\ttcn timer\t\t   0.00\n"
    " topology change timer\t   0.00\t\t\tgc timer\t\t 299.00\n"
    " flags\t\t\t\n"
    "\n"
    "\n"
    "v0 (1)\n"
    " port id\t\t8001\t\t\tstate\t\t     forwarding\n"
    " designated root\t8000.220ad3206df4\tpath cost\t\t   2\n"
    " designated bridge\t8000.220ad3206df4\tmessage age timer\t   0.00\n"
    " designated port\t8001\t\t\tforward delay timer\t  13.98\n"
    " designated cost\t   0\t\t\thold timer\t\t   0.00\n"
    " flags\t\t\t\n"
    "\n"
    "v1 (2)\n"
    " port id\t\t8002\t\t\tstate\t\t     forwarding\n"
    " designated root\t8000.220ad3206df4\tpath cost\t\t   2\n"
    " designated bridge\t8000.220ad3206df4\tmessage age timer\t   0.00\n"
    " designated port\t8002\t\t\tforward delay timer\t  13.99\n"
    " designated cost\t   0\t\t\thold timer\t\t   0.00\n"
    " flags\t\t\t\n"
    " hairpin mode\t\t   1\n"
    "\n"
)

BRCTL_SHOWSTP_EMPTY = (
    "br1\n"
    " bridge id\t\t8000.000000000000\n"
    " designated root\t8000.000000000000\n"
    " root port\t\t   0\t\t\tpath cost\t\t   0\n"
    " max age\t\t  20.00\t\t\tbridge max age\t\t  20.00\n"
    " hello time\t\t   2.00\t\t\tbridge hello time\t   2.00\n"
    " forward delay\t\t  15.00\t\t\tbridge forward delay\t  15.00\n"
    " ageing time\t\t 300.00\n"
    " hello timer\t\t   0.00\t\t\ttcn timer\t\t   0.00\n"
    " topology change timer\t   0.00\t\t\tgc timer\t\t   0.00\n"
    " flags\t\t\t\n"
    "\n"
    "\n"
)

FDB = [
    FdbEntry(1, "v0", "b6:5c:91:60:ca:20", False, 46),
    FdbEntry(2, "v1", "22:0a:d3:20:6d:f4", True, 0),
    FdbEntry(1, "v0", "4e:df:e6:77:83:db", True, 0),
    FdbEntry(2, "v1", "3a:c7:b8:ea:5c:82", False, 43),
]

BRCTL_SHOWMACS = (
    "port no\tmac addr\t\tis local?\tageing timer\n"
    "  2\t22:0a:d3:20:6d:f4\tyes\t\t   0.00\n"
    "  2\t3a:c7:b8:ea:5c:82\tno\t\t   0.43\n"
    "  1\t4e:df:e6:77:83:db\tyes\t\t   0.00\n"
    "  1\tb6:5c:91:60:ca:20\tno\t\t   0.46\n"
)


# -- layouts -----------------------------------------------------------------------------------

def test_show_matches_brctl() -> None:
    assert format_show([BR0, BR1]) == BRCTL_SHOW


def test_show_without_bridges_prints_nothing() -> None:
    # brctl 1.7 prints its header only in front of the first bridge.
    assert format_show([]) == ""


def test_show_stp_column_and_single_port() -> None:
    b = bridge("virbr10", "0008.4edfe67783db", ports=(port("v0", 1),), stp_state=1)
    assert format_show([b]) == (
        "bridge name\tbridge id\t\tSTP enabled\tinterfaces\n"
        "virbr10\t\t0008.4edfe67783db\tyes\t\tv0\n")
    # user-space STP (stp_state 2) is "yes" too
    assert "\tyes\t" in format_show([b._replace(stp_state=2)])


def test_showstp_matches_brctl() -> None:
    assert format_showstp(BR0) == BRCTL_SHOWSTP


def test_showstp_bridge_without_ports() -> None:
    assert format_showstp(BR1) == BRCTL_SHOWSTP_EMPTY


def test_showstp_flags_and_states() -> None:
    b = bridge("br0", topology_change=True, topology_change_detected=True,
               ports=(port("p", 1, state=4, config_pending=True, topology_change_ack=True),
                      port("q", 2, state=9)))
    text = format_showstp(b)
    assert " flags\t\t\tTOPOLOGY_CHANGE TOPOLOGY_CHANGE_DETECTED \n\n\n" in text
    assert " flags\t\t\tCONFIG_PENDING TOPOLOGY_CHANGE_ACK \n\n" in text
    assert "state\t\t       blocking\n" in text
    assert "state\t\t<INVALID STATE>\n" in text


def test_showstp_wide_values() -> None:
    b = bridge("br0", root_port=12345, root_path_cost=100000, ageing_time=4294967295,
               ports=(port("p", 300, path_cost=65535, designated_cost=123456),))
    text = format_showstp(b)
    assert " root port\t\t12345\t\t\tpath cost\t\t100000\n" in text
    assert " ageing time\t\t42949672.95\n" in text
    assert "p (300)\n" in text
    assert "path cost\t\t65535\n" in text


def test_showmacs_matches_brctl_sorted_by_mac() -> None:
    assert format_showmacs(FDB) == BRCTL_SHOWMACS


def test_showmacs_empty_table_has_header() -> None:
    assert format_showmacs([]) == "port no\tmac addr\t\tis local?\tageing timer\n"


def test_seconds_field() -> None:
    assert format_seconds(0) == "   0.00"
    assert format_seconds(1398) == "  13.98"
    assert format_seconds(30000) == " 300.00"
    assert format_seconds(123456) == "1234.56"
    assert format_seconds(5) == "   0.05"


def test_bridge_id_from_netlink_bytes() -> None:
    import struct

    # pyroute2 reads the id's two priority bytes (network order) as a native u16
    native = struct.unpack("=H", bytes([0x80, 0x00]))[0]
    assert _bridge_id({"prio": native, "addr": "22:0A:d3:20:6d:f4"}) == "8000.220ad3206df4"
    native = struct.unpack("=H", bytes([0x00, 0x08]))[0]
    assert _bridge_id({"prio": native, "addr": "4e:df:e6:77:83:db"}) == "0008.4edfe67783db"
    assert _bridge_id(None) == "0000.000000000000"


# -- JSON ----------------------------------------------------------------------------------------

def test_show_json() -> None:
    assert show_json([BR0, BR1]) == [
        {"name": "br0", "bridge_id": BR0_ID, "stp_enabled": False, "interfaces": ["v0", "v1"]},
        {"name": "br1", "bridge_id": "8000.000000000000", "stp_enabled": False,
         "interfaces": []},
    ]


def test_stp_json_in_seconds() -> None:
    data = stp_json(BR0)
    assert data["max_age"] == 20.0 and data["ageing_time"] == 300.0 and data["gc_timer"] == 299.0
    assert data["priority"] == 32768 and data["stp_enabled"] is False
    assert [p["name"] for p in data["ports"]] == ["v0", "v1"]
    v1 = data["ports"][1]
    assert v1["port_id"] == "8002" and v1["state"] == "forwarding" and v1["hairpin"] is True
    assert v1["forward_delay_timer"] == 13.99 and v1["priority"] == 32


def test_macs_json_sorted() -> None:
    rows = macs_json(FDB)
    assert [r["mac"] for r in rows] == ["22:0a:d3:20:6d:f4", "3a:c7:b8:ea:5c:82",
                                        "4e:df:e6:77:83:db", "b6:5c:91:60:ca:20"]
    assert rows[1] == {"port_no": 2, "port": "v1", "mac": "3a:c7:b8:ea:5c:82",
                       "is_local": False, "ageing_timer": 0.43, "vlan": None}


# -- reading arguments as brctl reads them ----------------------------------------------------

@pytest.mark.parametrize(("text", "cs"), [
    ("300", 30000), ("0.3", 30), ("0.29", 29), ("1.239", 123), ("0.005", 0), ("0.015", 1),
    ("1.995", 199), ("2.675", 267), ("1e1", 1000), ("0x10", 1600), (" 5", 500), ("5 ", 500),
    ("0", 0), ("42949672.95", 4294967295),
])
def test_seconds_like_brctl(text: str, cs: int) -> None:
    # brctl writes these centisecond values (checked with strace on brctl 1.7)
    assert parse_seconds(text, "ageing time") == cs


@pytest.mark.parametrize("text", ["", "abc", "10abc", "-1", "inf", "nan", "1,5", "42949673"])
def test_bad_seconds(text: str) -> None:
    with pytest.raises(InvalidArgError, match="ageing time"):
        parse_seconds(text, "ageing time")


@pytest.mark.parametrize(("text", "value"), [
    ("32768", 32768), ("0x10", 16), ("010", 8), ("+5", 5), (" 7", 7), ("-1", -1), ("0", 0),
])
def test_integers_like_c_percent_i(text: str, value: int) -> None:
    assert parse_int(text, "priority") == value


@pytest.mark.parametrize("text", ["", "abc", "5x", "1.5", "08", "0x"])
def test_bad_integers(text: str) -> None:
    with pytest.raises(InvalidArgError, match="bad priority"):
        parse_int(text, "priority")


def test_switch_words() -> None:
    assert all(parse_switch(w, "stp") for w in ("on", "yes", "1", "ON"))
    assert not any(parse_switch(w, "stp") for w in ("off", "no", "0"))
    with pytest.raises(InvalidArgError, match="expect on/off"):
        parse_switch("maybe", "stp")


@pytest.mark.parametrize("name", ["", "abcdefghijklmnop", "é" * 8, "a b", "a/b", "a:b", ".", ".."])
def test_bad_names(name: str) -> None:
    with pytest.raises(InvalidArgError):
        check_name(name, "bridge")


def test_name_of_fifteen_bytes_is_fine() -> None:
    check_name("abcdefghijklmno", "bridge")
    with pytest.raises(InvalidArgError, match="too long .16 bytes.*at most 15"):
        check_name("abcdefghijklmnop", "bridge")


# -- command line (refused before any kernel access) -------------------------------------------

@pytest.mark.parametrize("argv", [["bridge"], ["bridge", "addbr"], ["bridge", "addif", "br0"],
                                  ["bridge", "frobnicate"], ["bridge", "show", "--bogus"],
                                  ["bridge", "stp", "br0", "on", "extra"]])
def test_usage_errors_exit_2(argv: list[str]) -> None:
    import io

    from kvmnet.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    assert main(argv, stdout=out, stderr=err) == 2
    assert out.getvalue() == "" and err.getvalue().startswith("error: ")


def test_every_brctl_command_is_there() -> None:
    from kvmnet.cli.bridge import COMMANDS

    # brctl 1.7's command list, in its order
    assert list(COMMANDS) == ["addbr", "delbr", "addif", "delif", "hairpin", "setageing",
                              "setbridgeprio", "setfd", "sethello", "setmaxage", "setpathcost",
                              "setportprio", "show", "showmacs", "showstp", "stp"]
