"""``kvmnet bridge COMMAND ...``: brctl's commands, arguments and output layout.

``kvmnet bridge show`` prints what ``brctl show`` prints, byte for byte (no virsh-style
trailing empty line), and so do ``showstp`` and ``showmacs``; each of the three also takes
``--json``.  The changing commands print nothing, as brctl.  Errors are ``error: ...`` lines
with exit status 1; a missing or extra argument is a usage error (exit status 2).
"""
from __future__ import annotations

import argparse
from typing import Any

from kvmnet.cli.ctx import Ctx
from kvmnet.cli.verbs import Skipped, verb_maker

VERBS = ("bridge",)

# command -> (argument names, help), in brctl's order.
COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {
    "addbr": (("bridge",), "add bridge"),
    "delbr": (("bridge",), "delete bridge (it must be down)"),
    "addif": (("bridge", "device"), "add interface to bridge"),
    "delif": (("bridge", "device"), "delete interface from bridge"),
    "hairpin": (("bridge", "port", "state"), "turn hairpin on/off"),
    "setageing": (("bridge", "time"), "set ageing time (seconds)"),
    "setbridgeprio": (("bridge", "prio"), "set bridge priority"),
    "setfd": (("bridge", "time"), "set bridge forward delay (seconds)"),
    "sethello": (("bridge", "time"), "set hello time (seconds)"),
    "setmaxage": (("bridge", "time"), "set max message age (seconds)"),
    "setpathcost": (("bridge", "port", "cost"), "set path cost"),
    "setportprio": (("bridge", "port", "prio"), "set port priority"),
    "show": ((), "show a list of bridges"),
    "showmacs": (("bridge",), "show a list of mac addrs"),
    "showstp": (("bridge",), "show bridge stp info"),
    "stp": (("bridge", "state"), "turn stp on/off"),
}
_JSON = ("show", "showmacs", "showstp")
_TIMES = {"setageing": ("ageing_time", "ageing time"), "setfd": ("forward_delay", "forward delay"),
          "sethello": ("hello_time", "hello timer"), "setmaxage": ("max_age", "max age")}


def cmd_bridge(ctx: Ctx, a: argparse.Namespace) -> int:
    ctx.trailer = False  # brctl's output, byte for byte: no virsh-style empty line
    with ctx.conn().bridges() as br:
        return _run(ctx, a, br)


def _run(ctx: Ctx, a: argparse.Namespace, br: Any) -> int:
    from kvmnet.bridge import format as b

    cmd = a.command
    if cmd == "show":
        found, problems = br.show(a.bridges)
        if a.json:
            from kvmnet.cli.output import print_json

            print_json(ctx.stdout, b.show_json(found))
        else:
            ctx.out(b.format_show(found))
        ctx.stdout.flush()
        if problems:  # brctl prints one line per missing bridge; kvmnet's errors are one line
            from kvmnet.errors import problems_line

            ctx.error(problems_line([str(p) for p in problems]))
        return 1 if problems else 0
    if cmd == "showstp":
        info = br.stp_info(a.bridge)
        _print(ctx, a, b.stp_json(info) if a.json else b.format_showstp(info))
    elif cmd == "showmacs":
        entries = br.macs(a.bridge)
        _print(ctx, a, b.macs_json(entries) if a.json else b.format_showmacs(entries))
    elif cmd == "addbr":
        br.add_bridge(a.bridge)
    elif cmd == "delbr":
        br.delete_bridge(a.bridge)
    elif cmd == "addif":
        br.add_port(a.bridge, a.device)
    elif cmd == "delif":
        br.delete_port(a.bridge, a.device)
    elif cmd == "hairpin":
        br.set_hairpin(a.bridge, a.port, b.parse_switch(a.state, "hairpin"))
    elif cmd == "stp":
        br.set_stp(a.bridge, b.parse_switch(a.state, "stp"))
    elif cmd in _TIMES:
        option, what = _TIMES[cmd]
        br.set_time(a.bridge, option, b.parse_seconds(a.time, what))
    elif cmd == "setbridgeprio":
        br.set_priority(a.bridge, b.parse_int(a.prio, "priority"))
    elif cmd == "setpathcost":
        br.set_path_cost(a.bridge, a.port, b.parse_int(a.cost, "path cost value"))
    elif cmd == "setportprio":
        br.set_port_priority(a.bridge, a.port, b.parse_int(a.prio, "port priority value"))
    return 0


def _print(ctx: Ctx, a: argparse.Namespace, value: Any) -> None:
    if a.json:
        from kvmnet.cli.output import print_json

        print_json(ctx.stdout, value)
    else:
        ctx.out(value)


def register(sub: argparse._SubParsersAction[Any], only: str | None = None) -> Any:
    """Add the ``bridge`` verb (with brctl's commands inside) unless ``only`` names another."""
    p = verb_maker(sub, only, VERBS)(
        "bridge", cmd_bridge,
        "Linux bridges as brctl manages them (addbr, addif, stp, show, showstp, showmacs...)")
    if isinstance(p, Skipped):
        return p
    commands = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (args, help_text) in COMMANDS.items():
        c = commands.add_parser(name, help=help_text, description=help_text)
        c.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help=argparse.SUPPRESS)
        if name == "show":
            c.add_argument("bridges", metavar="BRIDGE", nargs="*",
                           help="bridges to show (default: all)")
        for arg in args:
            c.add_argument(arg, metavar=arg.upper(),
                           help="on or off" if arg == "state" else None)
        if name in _JSON:
            c.add_argument("--json", action="store_true", help="print JSON")
    return p
