"""brctl's value reading and output layout: pure functions, no I/O.

The ``parse_*`` functions read command-line values as brctl (bridge-utils 1.7) reads them;
the ``format_*`` functions lay out ``show``, ``showstp`` and ``showmacs`` byte for byte as
brctl prints them; the ``*_json`` functions give the same data as plain values.  Apart from
:mod:`kvmnet.bridge.brctl` (which acts on the bridges) so that the command line can format
what the facade returns without importing the module that changes the host.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from kvmnet.errors import InvalidArgError

if TYPE_CHECKING:
    from kvmnet.host.bridgefs import BridgeInfo, FdbEntry, PortInfo

U32_MAX = 0xFFFFFFFF
STATE_NAMES = ("disabled", "listening", "learning", "forwarding", "blocking")

# -- parsing command-line values ------------------------------------------------------------

_C_INT = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_HEX_FLOAT = re.compile(r"[+-]?0[xX]")


def parse_seconds(text: str, what: str) -> int:
    """Seconds as brctl reads them (``%lf``: ``15``, ``0.5``, ``1e1``, ``0x10``) in whole
    centiseconds, cut as brctl cuts them; no sign, no trailing text, nothing infinite."""
    word = text.strip()
    try:
        value = Decimal(float.fromhex(word)) if _HEX_FLOAT.match(word) else Decimal(word)
    except (InvalidOperation, ValueError, OverflowError):
        value = Decimal("NaN")
    if not word or not value.is_finite():
        raise InvalidArgError(f"bad {what} value '{text}': give a number of seconds, such as "
                              "15 or 0.5")
    if value < 0:
        raise InvalidArgError(f"bad {what} value '{text}': a time cannot be negative")
    cs = int((value * 100).to_integral_value(rounding=ROUND_DOWN))
    if cs > U32_MAX:
        raise InvalidArgError(f"bad {what} value '{text}': the kernel keeps at most "
                              f"{format_seconds(U32_MAX).strip()} seconds")
    return cs


def parse_int(text: str, what: str) -> int:
    """An integer as C's ``%i`` reads it (decimal, ``0x`` hex, leading-0 octal), whole text."""
    match = _C_INT.fullmatch(text.strip())
    if match is None:
        raise InvalidArgError(f"bad {what} '{text}': give a whole number, such as 10")
    sign, digits = match.groups()
    if digits[:2].lower() == "0x":
        value = int(digits, 16)
    elif digits.startswith("0"):
        value = int(digits, 8)
    else:
        value = int(digits)
    return -value if sign == "-" else value


def parse_switch(text: str, what: str) -> bool:
    """brctl's on/off words: ``on``, ``yes``, ``1`` and ``off``, ``no``, ``0``."""
    word = text.strip().lower()
    if word in ("on", "yes", "1"):
        return True
    if word in ("off", "no", "0"):
        return False
    raise InvalidArgError(f"expect on/off for the {what} argument, not '{text}'")


# -- output ----------------------------------------------------------------------------------


def format_seconds(cs: int) -> str:
    """brctl's timer field: ``%4i.%.2i`` of centiseconds (`` 300.00``)."""
    return f"{cs // 100:4d}.{cs % 100:02d}"


def state_name(state: int) -> str:
    return STATE_NAMES[state] if 0 <= state < len(STATE_NAMES) else "<INVALID STATE>"


def format_show(bridges: Sequence[BridgeInfo]) -> str:
    """``brctl show``: the header only when at least one bridge follows, as brctl prints it;
    each further port on a line of its own, under the interfaces column."""
    if not bridges:
        return ""
    out = ["bridge name\tbridge id\t\tSTP enabled\tinterfaces\n"]
    for b in bridges:
        ports = "\n\t\t\t\t\t\t\t".join(p.name for p in b.ports)
        out.append(f"{b.name}\t\t{b.bridge_id}\t{'yes' if b.stp_state else 'no'}\t\t{ports}\n")
    return "".join(out)


def format_showstp(b: BridgeInfo) -> str:
    """``brctl showstp BR``: the bridge's STP values, then one block per port."""
    t = format_seconds
    flags = ("TOPOLOGY_CHANGE " if b.topology_change else "") + \
        ("TOPOLOGY_CHANGE_DETECTED " if b.topology_change_detected else "")
    # sysfs has one max_age/hello_time/forward_delay each, so brctl shows it in both columns.
    out = [
        f"{b.name}\n",
        f" bridge id\t\t{b.bridge_id}\n",
        f" designated root\t{b.designated_root}\n",
        f" root port\t\t{b.root_port:4d}\t\t\tpath cost\t\t{b.root_path_cost:4d}\n",
        f" max age\t\t{t(b.max_age)}\t\t\tbridge max age\t\t{t(b.max_age)}\n",
        f" hello time\t\t{t(b.hello_time)}\t\t\tbridge hello time\t{t(b.hello_time)}\n",
        f" forward delay\t\t{t(b.forward_delay)}\t\t\tbridge forward delay\t{t(b.forward_delay)}\n",
        f" ageing time\t\t{t(b.ageing_time)}\n",
        f" hello timer\t\t{t(b.hello_timer)}\t\t\ttcn timer\t\t{t(b.tcn_timer)}\n",
        f" topology change timer\t{t(b.topology_change_timer)}\t\t\tgc timer\t\t{t(b.gc_timer)}\n",
        f" flags\t\t\t{flags}\n\n\n",
    ]
    for p in b.ports:
        pflags = ("CONFIG_PENDING " if p.config_pending else "") + \
            ("TOPOLOGY_CHANGE_ACK " if p.topology_change_ack else "")
        out += [
            f"{p.name} ({p.port_no})\n",
            f" port id\t\t{p.port_id:04x}\t\t\tstate\t\t{state_name(p.state):>15}\n",
            f" designated root\t{p.designated_root}\tpath cost\t\t{p.path_cost:4d}\n",
            f" designated bridge\t{p.designated_bridge}\tmessage age timer\t{t(p.message_age_timer)}\n",
            f" designated port\t{p.designated_port:04x}\t\t\tforward delay timer\t"
            + f"{t(p.forward_delay_timer)}\n",
            f" designated cost\t{p.designated_cost:4d}\t\t\thold timer\t\t{t(p.hold_timer)}\n",
            f" flags\t\t\t{pflags}\n",
        ]
        if p.hairpin:
            out.append(f" hairpin mode\t\t{1:4d}\n")
        out.append("\n")
    return "".join(out)


def sort_macs(entries: Sequence[FdbEntry]) -> list[FdbEntry]:
    """brctl's order: by MAC address (stable here for a MAC in several VLANs)."""
    return sorted(entries, key=lambda e: bytes.fromhex(e.mac.replace(":", "")))


def format_showmacs(entries: Sequence[FdbEntry]) -> str:
    """``brctl showmacs BR``: the header, then one line per entry sorted by MAC address."""
    out = ["port no\tmac addr\t\tis local?\tageing timer\n"]
    for e in sort_macs(entries):
        out.append(f"{e.port_no:3d}\t{e.mac}\t{'yes' if e.is_local else 'no'}\t\t"
                   f"{format_seconds(e.ageing_timer)}\n")
    return "".join(out)


def _secs(cs: int) -> float:
    return round(cs / 100, 2)


def show_json(bridges: Sequence[BridgeInfo]) -> list[dict[str, Any]]:
    """``show --json``: one object per bridge; ``stp_enabled`` is brctl's STP column."""
    return [{"name": b.name, "bridge_id": b.bridge_id, "stp_enabled": bool(b.stp_state),
             "interfaces": [p.name for p in b.ports]} for b in bridges]


def port_json(p: PortInfo) -> dict[str, Any]:
    return {
        "name": p.name, "port_no": p.port_no, "port_id": f"{p.port_id:04x}",
        "state": state_name(p.state), "priority": p.priority, "path_cost": p.path_cost,
        "designated_root": p.designated_root, "designated_bridge": p.designated_bridge,
        "designated_port": f"{p.designated_port:04x}", "designated_cost": p.designated_cost,
        "message_age_timer": _secs(p.message_age_timer),
        "forward_delay_timer": _secs(p.forward_delay_timer), "hold_timer": _secs(p.hold_timer),
        "config_pending": p.config_pending, "topology_change_ack": p.topology_change_ack,
        "hairpin": p.hairpin,
    }


def stp_json(b: BridgeInfo) -> dict[str, Any]:
    """``showstp --json``: brctl's fields by name; times and timers in seconds."""
    return {
        "name": b.name, "bridge_id": b.bridge_id, "designated_root": b.designated_root,
        "priority": b.priority, "stp_enabled": bool(b.stp_state), "stp_state": b.stp_state,
        "root_port": b.root_port, "root_path_cost": b.root_path_cost,
        "max_age": _secs(b.max_age), "hello_time": _secs(b.hello_time),
        "forward_delay": _secs(b.forward_delay), "ageing_time": _secs(b.ageing_time),
        "hello_timer": _secs(b.hello_timer), "tcn_timer": _secs(b.tcn_timer),
        "topology_change_timer": _secs(b.topology_change_timer), "gc_timer": _secs(b.gc_timer),
        "topology_change": b.topology_change,
        "topology_change_detected": b.topology_change_detected,
        "ports": [port_json(p) for p in b.ports],
    }


def macs_json(entries: Sequence[FdbEntry]) -> list[dict[str, Any]]:
    """``showmacs --json``: brctl's columns plus the port's name and the VLAN, if any."""
    return [{"port_no": e.port_no, "port": e.port, "mac": e.mac, "is_local": e.is_local,
             "ageing_timer": _secs(e.ageing_timer), "vlan": e.vlan} for e in sort_macs(entries)]
