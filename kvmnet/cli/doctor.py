"""``kvmnet doctor [NET] [--fix [--undo]] [--json]`` and ``kvmnet watch``.

doctor prints one block per problem: where the drop point is (and which tool made it), what it
breaks, the proof (a traced packet, or what was read) and the exact remedy; exit status 0 when
nothing is wrong, 1 when something is.  ``--fix`` adds kvmnet's tagged accepts and checks
again; ``--fix --undo`` removes them.  ``kvmnet watch`` runs until SIGTERM or SIGINT, printing
what it put back.
"""
from __future__ import annotations

import argparse
from typing import Any

from kvmnet.cli.ctx import Ctx, UsageError
from kvmnet.cli.verbs import verb_maker

VERBS = ("doctor", "watch")


def cmd_doctor(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.api import diagnoseHost

    if a.undo and not a.fix:
        raise UsageError("--undo goes with --fix: 'kvmnet doctor [NET] --fix --undo' removes "
                         "the rules --fix added")
    report = diagnoseHost(ctx.conn(), a.network, fix=a.fix, undo=a.undo,
                          probe=not a.no_probe)
    if a.json:
        from kvmnet.cli.output import print_json

        print_json(ctx.stdout, report.to_json())
        ctx.trailer = False
        return 0 if a.undo or report.ok else 1
    for command in report.added:
        ctx.out(f"added: {command}\n")
    for command in report.removed:
        ctx.out(f"removed: {command}\n")
    if a.undo:
        if not report.removed:
            ctx.extra("doctor had added no rules\n")
        return 0
    for f in report.findings:
        ctx.out(f"network '{f.network}': {f.code}: {f.where}\n"
                f"  what:   {f.what}\n"
                f"  proof:  {f.proof}\n"
                f"  remedy: {f.remedy}\n")
    for note in report.unfixed:
        ctx.out(f"not fixed: {note}\n")
    if report.ok:
        checked = ", ".join(f"'{n}'" for n in report.networks) or "no active networks"
        ctx.extra(f"nothing wrong found ({checked})\n")
    return 0 if report.ok else 1


def cmd_watch(ctx: Ctx, a: argparse.Namespace) -> int:
    import signal
    import threading

    from kvmnet.api import watchHost

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def say(text: str) -> None:
        ctx.out(text + "\n")
        ctx.stdout.flush()

    watchHost(ctx.conn(), stop, say)
    ctx.extra("stopped\n")
    return 0


def register(sub: Any, only: str | None) -> None:
    verb = verb_maker(sub, only, VERBS)
    p = verb("doctor", cmd_doctor, "check the active networks' guest paths for firewalls and "
             "settings that drop their traffic; exit 1 when something is wrong")
    p.add_argument("network", nargs="?", metavar="NET", help="only this network")
    p.add_argument("--fix", action="store_true",
                   help="add kvmnet's tagged accepts before the drop points found")
    p.add_argument("--undo", action="store_true", help="with --fix: remove what --fix added")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-probe", action="store_true",
                   help="judge by the rules as read, without traced test packets")
    verb("watch", cmd_watch, "keep kvmnet's firewall state in place: put it back whenever "
         "it disappears (runs until SIGTERM)")
