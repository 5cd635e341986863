"""The ``iface-*`` verbs (virsh's names, options, messages and layout) and ``bridge-nf``.

``iface-bridge`` and ``iface-unbridge`` also take ``--confirm-timeout N`` (like ``netplan
try``): the change is made inside a transaction watched by a detached kvmnet process that
rolls it back after N seconds unless ``kvmnet iface-commit`` confirms it first; ``--confirm``
asks for the confirmation on the terminal instead.  ``bridge-nf [on|off]`` shows or sets the
``net.bridge.bridge-nf-call-{iptables,ip6tables,arptables}`` switches (``iface-bridge
--no-netfilter`` turns them off as part of the bridged-network recipe).
"""
from __future__ import annotations

import argparse
import select
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kvmnet.cli.ctx import Ctx, UsageError
from kvmnet.cli.verbs import verb_maker
from kvmnet.errors import (
    InvalidArgError,
    KvmnetError,
    OperationInvalidError,
    UnsupportedError,
    one_line,
)

if TYPE_CHECKING:
    from kvmnet.iface.interfaces import Interfaces

_IFACE_HELP = "interface name or MAC address"
#: How long ``--confirm`` waits for an answer when no ``--confirm-timeout`` is given.
DEFAULT_CONFIRM_SECONDS = 120.0


def ifaces(ctx: Ctx) -> Interfaces:
    return ctx.conn().interfaces()


def _notes(ctx: Ctx, notes: list[str]) -> None:
    for note in notes:
        ctx.stderr.write(f"note: {one_line(note)}\n")


# -- verbs ---------------------------------------------------------------------------------------
def cmd_define(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.cli.verbs import read_input

    iface = ifaces(ctx).define_xml(read_input(a.file), strict=a.validate, warn=ctx.warning)
    ctx.extra(f"Interface {iface.name} defined from {a.file}\n")
    return 0


def cmd_undefine(ctx: Ctx, a: argparse.Namespace) -> int:
    ifaces(ctx).undefine(a.interface)
    ctx.extra(f"Interface {a.interface} undefined\n")
    return 0


def cmd_start(ctx: Ctx, a: argparse.Namespace) -> int:
    _notes(ctx, ifaces(ctx).start(a.interface))
    ctx.extra(f"Interface {a.interface} started\n")
    return 0


def cmd_destroy(ctx: Ctx, a: argparse.Namespace) -> int:
    ifaces(ctx).destroy(a.interface)
    ctx.extra(f"Interface {a.interface} destroyed\n")
    return 0


def cmd_list(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.cli.output import format_table, print_json

    want_active, want_inactive = True, False
    if a.inactive:
        want_active, want_inactive = False, True
    if a.all:
        want_active = want_inactive = True
    rows = [i for i in ifaces(ctx).list_all()
            if (want_active and i.active) or (want_inactive and not i.active)]
    if a.json:
        print_json(ctx.stdout, [{"name": i.name, "state": "active" if i.active else "inactive",
                                 "active": i.active, "mac": i.mac, "defined": i.defined,
                                 "present": i.live} for i in rows])
        ctx.trailer = False
        return 0
    ctx.out(format_table(["Name", "State", "MAC Address"],
                         [[i.name, "active" if i.active else "inactive", i.mac] for i in rows],
                         show_header=not ctx.quiet))
    return 0


def cmd_dumpxml(ctx: Ctx, a: argparse.Namespace) -> int:
    xml = ifaces(ctx).xml(a.interface, inactive=a.inactive)
    ctx.out(xml if xml.endswith("\n") else xml + "\n")
    return 0


def cmd_mac(ctx: Ctx, a: argparse.Namespace) -> int:
    ctx.out(ifaces(ctx).mac_of(a.interface) + "\n")
    return 0


def cmd_name(ctx: Ctx, a: argparse.Namespace) -> int:
    ctx.out(ifaces(ctx).name_of(a.interface) + "\n")
    return 0


def cmd_edit(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.cli.edit import edit_loop

    ifs = ifaces(ctx)
    name = ifs.resolve(a.interface)
    # As virsh iface-edit: the edited document is validated; answer 'i' to define it anyway.
    return edit_loop(ctx, "Interface", name, lambda: ifs.xml(name, inactive=True),
                     lambda edited: ifs.define_xml(edited, strict=True).name,
                     relaxed=lambda edited: ifs.define_xml(edited, warn=ctx.warning).name)


def cmd_bridge(ctx: Ctx, a: argparse.Namespace) -> int:
    if a.delay is not None and a.delay < 0:
        raise InvalidArgError(f"--delay must be a non-negative number of seconds, not {a.delay}")

    def change() -> None:
        ifs = ifaces(ctx)
        notes = ifs.bridge(a.interface, a.bridge, stp=not a.no_stp, delay=a.delay or 0,
                           start=not a.no_start)
        ctx.extra(f"Created bridge {a.bridge} with attached device {a.interface}\n")
        if not a.no_start:
            _notes(ctx, notes)
            ctx.extra(f"Bridge interface {a.bridge} started\n")
        if a.no_netfilter:
            _netfilter_off(ctx)

    return _guarded(ctx, a, change)


def _netfilter_off(ctx: Ctx) -> None:
    values = ctx.conn().bridgeNF(False)
    if all(v is None for v in values.values()):
        ctx.extra("Bridge netfilter: br_netfilter is not loaded, so bridged traffic already "
                  "bypasses iptables, ip6tables and arptables\n")
    else:
        ctx.extra("Bridge netfilter calls turned off (net.bridge.bridge-nf-call-*=0)\n")


def cmd_unbridge(ctx: Ctx, a: argparse.Namespace) -> int:
    def change() -> None:
        port = ifaces(ctx).unbridge(a.bridge, start=not a.no_start)
        ctx.extra(f"Device {port} un-attached from bridge {a.bridge}\n")
        if not a.no_start:
            ctx.extra(f"Interface {port} started\n")

    return _guarded(ctx, a, change)


def _guarded(ctx: Ctx, a: argparse.Namespace, change: Callable[[], None]) -> int:
    """Run ``change``; with --confirm-timeout/--confirm inside a guarded transaction."""
    import signal

    seconds = a.confirm_timeout
    if seconds is None and a.confirm:
        seconds = DEFAULT_CONFIRM_SECONDS
    if seconds is None:
        change()
        return 0
    if seconds <= 0:
        raise UsageError(f"--confirm-timeout must be a positive number of seconds, not {seconds}")
    ifs = ifaces(ctx)
    token = ifs.begin()
    pid = ifs.guard(token, seconds)
    deadline = time.monotonic() + seconds
    # The change may cut the connection this command came in on: a hang-up must not stop it
    # halfway (the guard undoes it if nobody confirms).
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        change()
    except BaseException:
        ifs.rollback()
        raise
    if not a.confirm:
        ctx.extra(f"The change is rolled back in {seconds:g} seconds unless confirmed with "
                  f"'kvmnet iface-commit' (guard PID {pid})\n")
        return 0
    answer = _ask_keep(ctx, deadline)
    if answer:
        try:
            ifs.commit()
        except OperationInvalidError:
            raise OperationInvalidError("confirmed too late: the confirm timeout had already "
                                        "rolled the change back") from None
        ctx.extra("Configuration accepted.\n")
        return 0
    try:
        problems = ifs.rollback()
    except OperationInvalidError:
        problems = []  # the guard was faster: already rolled back
    why = "declined" if answer is False else f"not confirmed within {seconds:g} seconds"
    extra = ("; could not restore: " + "; ".join(problems)) if problems else ""
    raise OperationInvalidError(f"the change was {why} and has been rolled back{extra}")


def _ask_keep(ctx: Ctx, deadline: float) -> bool | None:
    """True to keep, False when declined, None when there was no answer in time."""
    remaining = max(0.0, deadline - time.monotonic())
    ctx.stdout.write(f"Keep this configuration? Press ENTER or 'y' within {remaining:.0f} "
                     "seconds to keep it; 'n' or no answer rolls it back: ")
    ctx.stdout.flush()
    try:
        fileno = ctx.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        fileno = None
    if fileno is not None:
        ready, _, _ = select.select([fileno], [], [], remaining)
        if not ready:
            ctx.stdout.write("\n")
            return None
    line = ctx.stdin.readline()
    if not line or not _is_tty(ctx.stdin):
        ctx.stdout.write("\n")  # a terminal echoes the answer's newline; a pipe does not
    if not line:
        return None
    word = line.strip().lower()
    return word in ("", "y", "yes")


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False


def cmd_begin(ctx: Ctx, a: argparse.Namespace) -> int:
    ifaces(ctx).begin()
    ctx.extra("Network config change transaction started\n")
    return 0


def cmd_commit(ctx: Ctx, a: argparse.Namespace) -> int:
    ifaces(ctx).commit()
    ctx.extra("Network config change transaction committed\n")
    return 0


def cmd_rollback(ctx: Ctx, a: argparse.Namespace) -> int:
    if a.guard is not None:  # the detached confirm-timeout guard (see _guarded)
        ctx.trailer = False
        ifaces(ctx).run_guard(a.guard, a.after or 0.0)
        return 0
    problems = ifaces(ctx).rollback()
    if problems:
        raise KvmnetError("the transaction was rolled back, but not everything could be "
                          "restored: " + "; ".join(problems))
    ctx.extra("Network config change transaction rolled back\n")
    return 0


def cmd_bridge_nf(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.cli.output import print_json

    value = None if a.state is None else a.state == "on"
    # Check first: turning on needs br_netfilter, and a half-applied switch helps nobody.
    if value and any(v is None for v in ctx.conn().bridgeNF(None).values()):
        raise UnsupportedError(
                "cannot turn bridge netfilter calls on: br_netfilter is not loaded (the "
                "net.bridge.bridge-nf-call-* kernel parameters do not exist); load it with "
                "'modprobe br_netfilter' first")
    values = ctx.conn().bridgeNF(value)
    loaded = any(v is not None for v in values.values())
    if a.json:
        print_json(ctx.stdout, {"loaded": loaded, **{k.rsplit(".", 1)[1]: v
                                                     for k, v in values.items()}})
        ctx.trailer = False
        return 0
    if not loaded:
        ctx.out("br_netfilter is not loaded: bridged traffic bypasses iptables, ip6tables and "
                "arptables\n")
        return 0
    ctx.out("".join(f"{k} = {v if v is not None else '(absent)'}\n" for k, v in values.items()))
    return 0


# -- registration --------------------------------------------------------------------------------
VERBS = ("iface-define", "iface-undefine", "iface-start", "iface-destroy", "iface-list",
         "iface-dumpxml", "iface-edit", "iface-mac", "iface-name", "iface-bridge",
         "iface-unbridge", "iface-begin", "iface-commit", "iface-rollback", "bridge-nf")


def register(sub: argparse._SubParsersAction[Any], only: str | None = None) -> None:
    verb = verb_maker(sub, only, VERBS)

    def iface_arg(p: Any, help_text: str = _IFACE_HELP) -> None:
        p.add_argument("interface", metavar="INTERFACE", help=help_text)

    def guard_args(p: Any) -> None:
        p.add_argument("--confirm-timeout", type=float, metavar="N",
                       help="roll the change back by itself after N seconds unless "
                            "'kvmnet iface-commit' confirms it (like netplan try)")
        p.add_argument("--confirm", action="store_true",
                       help="ask on the terminal whether to keep the change (default timeout "
                            f"{DEFAULT_CONFIRM_SECONDS:g} s); no answer rolls it back")

    p = verb("iface-define", cmd_define, "define an inactive persistent physical host interface "
             "or modify an existing persistent one from an XML file")
    p.add_argument("file", metavar="FILE", help="file containing an XML interface description")
    from kvmnet.cli.verbs import VALIDATE_HELP

    p.add_argument("--validate", action="store_true", help=VALIDATE_HELP)
    iface_arg(verb("iface-undefine", cmd_undefine,
                   "undefine a physical host interface (remove it from configuration)"))
    iface_arg(verb("iface-start", cmd_start,
                   'start a physical host interface (enable it / "if-up")'))
    iface_arg(verb("iface-destroy", cmd_destroy,
                   'destroy a physical host interface (disable it / "if-down")'))
    p = verb("iface-list", cmd_list, "list physical host interfaces")
    p.add_argument("--inactive", action="store_true", help="list inactive interfaces")
    p.add_argument("--all", action="store_true", help="list inactive & active interfaces")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p = verb("iface-dumpxml", cmd_dumpxml, "interface information in XML")
    iface_arg(p)
    p.add_argument("--inactive", action="store_true", help="show inactive defined XML")
    iface_arg(verb("iface-edit", cmd_edit, "edit XML configuration for a physical host "
                   "interface"))
    iface_arg(verb("iface-mac", cmd_mac, "convert an interface name to interface MAC address"),
              "interface name")
    iface_arg(verb("iface-name", cmd_name, "convert an interface MAC address to interface name"),
              "interface mac")
    p = verb("iface-bridge", cmd_bridge,
             "create a bridge device and attach an existing network device to it")
    p.add_argument("interface", metavar="INTERFACE", help="existing interface name")
    p.add_argument("bridge", metavar="BRIDGE", help="new bridge device name")
    p.add_argument("--no-stp", action="store_true", help="do not enable STP for this bridge")
    p.add_argument("--delay", type=int, metavar="N",
                   help="number of seconds to squelch traffic on newly connected ports")
    p.add_argument("--no-start", action="store_true", help="don't start the bridge immediately")
    p.add_argument("--no-netfilter", action="store_true",
                   help="also turn off net.bridge.bridge-nf-call-{iptables,ip6tables,"
                        "arptables}, so bridged guest traffic bypasses the host firewall")
    guard_args(p)
    p = verb("iface-unbridge", cmd_unbridge, "undefine a bridge device after detaching its "
             "slave device")
    p.add_argument("bridge", metavar="BRIDGE", help="current bridge device name")
    p.add_argument("--no-start", action="store_true",
                   help="don't start the un-slaved interface immediately (not recommended)")
    guard_args(p)
    verb("iface-begin", cmd_begin, "create a snapshot of current interfaces settings, which "
         "can be later committed (iface-commit) or restored (iface-rollback)")
    verb("iface-commit", cmd_commit, "commit changes made since iface-begin and free restore "
         "point")
    p = verb("iface-rollback", cmd_rollback,
             "rollback to previous saved configuration created via iface-begin")
    p.add_argument("--guard", metavar="TOKEN", help=argparse.SUPPRESS)
    p.add_argument("--after", type=float, metavar="SECONDS", help=argparse.SUPPRESS)
    p = verb("bridge-nf", cmd_bridge_nf, "show or set whether bridged traffic passes through "
             "iptables/ip6tables/arptables (net.bridge.bridge-nf-call-*)")
    p.add_argument("state", metavar="on|off", nargs="?", choices=("on", "off"),
                   help="turn the three switches on or off; nothing: show them")
    p.add_argument("--json", action="store_true", help="print a JSON object")
