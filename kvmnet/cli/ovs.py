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
from kvmnet.cli.verbs import Skipped

VERBS = ("ovs",)


def cmd_ovs(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet import api

    ctx.trailer = False  # ovs-vsctl's output, byte for byte
    words, flags = _own_flags(list(a.words))
    if "help" in flags:
        ctx.out(USAGE)
        return 0
    if "debug" in flags and not ctx.debug:
        from kvmnet.cli.ctx import log_host_changes

        ctx.debug = True
        log_host_changes(ctx.stderr)
    json = "json" in flags
    root = ctx.root
    if root is not None:
        os.environ["KVMNET_ROOT"] = root  # the private socket's place (db_remote reads it)
    verb = words[0] if words else None
    if verb in ("start", "stop", "status"):
        state = {"start": api.ovs_start, "stop": api.ovs_stop, "status": api.ovs_status}[verb](root)
        if json:
            from kvmnet.cli.output import print_json

            print_json(ctx.stdout, state)
        elif verb != "stop" or state["ovsdb-server"] or state["ovs-vswitchd"]:
            ctx.out(_status_text(state))
        return 0
    if verb == "reconcile":
        return _reconcile(ctx, words[1:], json)
    out, status = api.run_vsctl(words, json=json)
    ctx.out(out)
    return status


def _reconcile(ctx: Ctx, rest: list[str], json: bool) -> int:
    """``ovs reconcile [--dry-run]``: one line per stale port removed (or to remove)."""
    from kvmnet import api
    from kvmnet.errors import InvalidArgError

    if rest not in ([], ["--dry-run"]):
        raise InvalidArgError(f"ovs reconcile takes only --dry-run, not {' '.join(rest)!r}")
    stale = api.ovs_reconcile(ctx.root, dry_run=bool(rest))
    if json:
        from kvmnet.cli.output import print_json

        print_json(ctx.stdout, stale)
        return 0
    verb = "would remove" if rest else "removed"
    ctx.out("".join(f"{verb} port {s['port']} from bridge {s['bridge']}: {s['why']}\n"
                    for s in stale))
    return 0


def _own_flags(words: list[str]) -> tuple[list[str], set[str]]:
    """kvmnet's own options among ovs-vsctl's words (before the first ``--`` separator)."""
    own = {"--json": "json", "--format=json": "json", "--help": "help", "-h": "help",
           "--debug": "debug"}
    flags: set[str] = set()
    rest: list[str] = []
    for i, word in enumerate(words):
        if word == "--":
            rest += words[i:]
            break
        if word in own:
            flags.add(own[word])
        else:
            rest.append(word)
    if not rest and "help" not in flags:
        flags.add("help")
    return rest, flags


def _status_text(state: dict[str, Any]) -> str:
    lines = [f"{d}: " + (f"running (pid {state[d]})" if state[d] else "stopped")
             for d in ("ovsdb-server", "ovs-vswitchd")]
    lines.append(f"database: unix:{state['socket']}" + ("" if state["running"] else " (none)"))
    return "\n".join(lines) + "\n"


USAGE = """usage: kvmnet ovs [--db unix:PATH] [--json] [--no-wait] VERB [ARGS...]

  start | stop | status         a private Open vSwitch for this namespace (under the state root)
  reconcile [--dry-run]         remove guest ports kvmnet made whose tap or record is gone
  show | list-br | br-exists BR | list-ports BR | port-to-br PORT | iface-to-br IFACE
  add-br [--may-exist] BR | del-br [--if-exists] BR
  add-port [--may-exist] BR PORT [COLUMN[:KEY]=VALUE...] [-- set Interface PORT COLUMN=VALUE...]
  del-port [--if-exists] [BR] PORT
  get [--if-exists] TABLE RECORD COLUMN[:KEY]...    set TABLE RECORD COLUMN[:KEY]=VALUE...
  clear TABLE RECORD COLUMN...                      list [--columns=C,...] TABLE [RECORD...]
  find [--columns=C,...] TABLE CONDITION...

ovs-vsctl's verbs, arguments and output, through OVSDB (no ovs-vsctl runs).  The database:
--db, else $KVMNET_OVSDB, else the private one when it runs, else the system's.
"""


def register(sub: argparse._SubParsersAction[Any], only: str | None = None) -> Any:
    """Add ``ovs``.  Its words are ovs-vsctl's, options among them (``--may-exist``,
    ``--columns=...``), so argparse is told that no word is an option of its own here
    (``prefix_chars``) and :mod:`kvmnet.ovs.vsctl` reads them."""
    if only is not None and only != "ovs":
        return Skipped()
    p = sub.add_parser("ovs", prefix_chars="+", add_help=False,
                       help="Open vSwitch: ovs-vsctl's verbs over OVSDB (show, add-br, add-port, "
                            "list, find...), and start|stop|status of a private Open vSwitch")
    p.add_argument("words", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_ovs)
    return p
