"""The ``kvmnet`` console script's entry point: the hot verbs' plain forms skip argparse.

Scripts start and stop networks with the plain forms ``kvmnet [--root DIR] [-q] net-start
NAME`` and ``net-destroy NAME``; for those, building the argparse parser and importing the
CLI's other modules is a fifth of a cold run.  Those command lines run the same handlers
(:mod:`kvmnet.cli.net`) with the same error reporting (:mod:`kvmnet.cli.ctx`), just without
the parser; anything else (options, ``--help``, other verbs) goes to :mod:`kvmnet.cli.main`.

``net-destroy`` also gets a head start: deleting a bridge keeps the kernel busy for ~40 ms
(RCU grace periods inside the netlink call, which releases the GIL).  Before importing the
rest, the network's run record is read with nothing but ``os`` and ``json`` and that deletion
starts in a thread, so both run at once.  The command itself then runs unchanged: its
teardown deletes again ("already gone" is fine) and reports any error.
"""
from __future__ import annotations

import os
import sys

_QUICK_VERBS = ("net-start", "net-destroy")


def plain(argv: list[str]) -> tuple[str | None, bool, str, str] | None:
    """``(root, quiet, verb, network)`` of ``[--root DIR] [-q] VERB NETWORK``, else None."""
    root: str | None = None
    quiet = False
    i = 0
    while i < len(argv) - 2:
        if argv[i] == "--root":
            root = argv[i + 1]
            i += 2
        elif argv[i] in ("-q", "--quiet"):
            quiet = True
            i += 1
        else:
            return None
    if i != len(argv) - 2 or argv[i] not in _QUICK_VERBS or argv[i + 1].startswith("-"):
        return None
    return root, quiet, argv[i], argv[i + 1]


def _head_start_destroy(root: str | None, name: str) -> None:
    if "/" in name:
        return
    import json

    base = root or os.environ.get("KVMNET_ROOT") or "/"
    try:
        with open(os.path.join(base, "run", "kvmnet", "networks", f"{name}.json"),
                  encoding="utf-8") as f:
            steps = json.load(f).get("steps", [])
        links = [s["name"] for s in steps if s.get("kind") == "link"]
    except (OSError, ValueError, AttributeError, TypeError, KeyError):
        return
    if not links:
        return

    from kvmnet.host import rtnl

    try:
        sock = rtnl.Rtnl()
    except OSError:
        return

    def delete() -> None:  # in the thread: only the blocking requests
        try:
            for link in links:
                try:
                    sock.request_raw(rtnl.RTM_DELLINK, 0, rtnl.pack_link_by_name(link))
                except rtnl.RtnlError:
                    pass  # the teardown deletes again and says what went wrong
        finally:
            sock.close()

    import threading

    threading.Thread(target=delete, name="kvmnet-head-start").start()


def run_plain(root: str | None, quiet: bool, verb: str, network: str) -> int:
    """Run ``verb NETWORK`` through its usual handler, without argparse."""
    from types import SimpleNamespace

    from . import net
    from .ctx import Ctx, run_command, session

    handler = net.cmd_start if verb == "net-start" else net.cmd_destroy
    ctx = Ctx(sys.stdout, sys.stderr, sys.stdin, quiet=quiet, root=root)
    args = SimpleNamespace(network=network)
    return session(ctx, lambda: run_command(ctx, lambda: handler(ctx, args)))  # type: ignore[arg-type]


def main() -> int:
    argv = sys.argv[1:]
    quick = plain(argv)
    if quick is None:
        from .main import main as cli_main

        return cli_main(argv)
    root, quiet, verb, network = quick
    if verb == "net-destroy":
        try:
            _head_start_destroy(root, network)
        except Exception:  # noqa: BLE001 - only an optimisation; the command reports problems
            pass
    return run_plain(root, quiet, verb, network)
