"""``kvmnet ovs VERB ...``: ovs-vsctl's verbs over OVSDB, and the private Open vSwitch.

``start``, ``stop`` and ``status`` run a private ovsdb-server + ovs-vswitchd for the current
network namespace under the state root; ``reconcile [--dry-run]`` removes the OVS ports of
guests kvmnet made whose tap or port record is gone (:mod:`kvmnet.ovs.reconcile`).  The other verbs are ovs-vsctl's (see
:mod:`kvmnet.ovs.vsctl`); ``--db unix:PATH`` picks the database (else ``$KVMNET_OVSDB``, the
private one, the system's).
"""
from __future__ import annotations

import argparse
import os
from typing import Any

from kvmnet.cli.ctx import Ctx
from kvmnet.cli.verbs import Skipped, verb_maker

VERBS = ("ovs",)


def cmd_ovs(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet import api

    ctx.trailer = False  # ovs-vsctl's output, byte for byte
    words = list(a.words)
    root = ctx.root
    if root is not None:
        os.environ["KVMNET_ROOT"] = root  # the private socket's place (db_remote reads it)
    verb = words[0] if words else None
    if verb in ("start", "stop", "status"):
        state = {"start": api.ovs_start, "stop": api.ovs_stop, "status": api.ovs_status}[verb](root)
        if a.json:
            from kvmnet.cli.output import print_json

            print_json(ctx.stdout, state)
        elif verb != "stop" or state["ovsdb-server"] or state["ovs-vswitchd"]:
            ctx.out(_status_text(state))
        return 0
    if verb == "reconcile":
        return _reconcile(ctx, a, words[1:])
    out, status = api.run_vsctl(words, db=a.db, json=a.json)
    ctx.out(out)
    return status


def _reconcile(ctx: Ctx, a: argparse.Namespace, rest: list[str]) -> int:
    """``ovs reconcile [--dry-run]``: one line per stale port removed (or to remove)."""
    from kvmnet import api
    from kvmnet.errors import InvalidArgError

    if rest not in ([], ["--dry-run"]):
        raise InvalidArgError(f"ovs reconcile takes only --dry-run, not {' '.join(rest)!r}")
    stale = api.ovs_reconcile(ctx.root, db=a.db, dry_run=bool(rest))
    if a.json:
        from kvmnet.cli.output import print_json

        print_json(ctx.stdout, stale)
        return 0
    verb = "would remove" if rest else "removed"
    ctx.out("".join(f"{verb} port {s['port']} from bridge {s['bridge']}: {s['why']}\n"
                    for s in stale))
    return 0


def _status_text(state: dict[str, Any]) -> str:
    lines = [f"{d}: " + (f"running (pid {state[d]})" if state[d] else "stopped")
             for d in ("ovsdb-server", "ovs-vswitchd")]
    lines.append(f"database: unix:{state['socket']}" + ("" if state["running"] else " (none)"))
    return "\n".join(lines) + "\n"


def register(sub: argparse._SubParsersAction[Any], only: str | None = None) -> Any:
    p = verb_maker(sub, only, VERBS)(
        "ovs", cmd_ovs,
        "Open vSwitch: ovs-vsctl's verbs over OVSDB (show, add-br, add-port, list, find...), "
        "and start|stop|status of a private Open vSwitch")
    if isinstance(p, Skipped):
        return p
    p.add_argument("--db", metavar="unix:PATH",
                   help="the OVSDB to use (default: $KVMNET_OVSDB, the private one of "
                        "'kvmnet ovs start', else the system's)")
    p.add_argument("--json", action="store_true",
                   help="print JSON (ovs-vsctl's --format=json shape for list and find)")
    p.add_argument("words", nargs=argparse.REMAINDER, metavar="VERB [ARGS...]",
                   help="start, stop, status, or an ovs-vsctl command")
    return p
