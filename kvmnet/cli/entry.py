"""The ``kvmnet`` console script's entry point: a head start for ``net-destroy``, then the CLI.

Deleting a bridge keeps the kernel busy for ~40 ms (RCU grace periods inside the netlink
call, which releases the GIL).  Before importing the CLI (argparse, the API, the adapters:
~40 ms of Python), this module reads the network's run record with nothing but ``os`` and
``json`` and starts that deletion in a thread, so both run at once.  The command itself then
runs unchanged: its teardown deletes again ("already gone" is fine) and reports any error.
"""
from __future__ import annotations

import os
import sys


def _head_start_destroy(argv: list[str]) -> None:
    i = argv.index("net-destroy")
    head, tail = argv[:i], argv[i + 1:]
    if len(tail) != 1 or tail[0].startswith("-") or "/" in tail[0]:
        return  # only a plain [--root DIR] [-q] [--debug] net-destroy NAME qualifies
    root = os.environ.get("KVMNET_ROOT") or "/"
    j = 0
    while j < len(head):
        if head[j] == "--root" and j + 1 < len(head):
            root = head[j + 1]
            j += 2
        elif head[j] in ("-q", "--quiet", "--debug"):
            j += 1
        else:
            return
    import json

    try:
        with open(os.path.join(root, "run", "kvmnet", "networks", f"{tail[0]}.json"),
                  encoding="utf-8") as f:
            steps = json.load(f).get("steps", [])
        links = [s["name"] for s in steps if s.get("kind") == "link"]
    except (OSError, ValueError, AttributeError, TypeError, KeyError):
        return
    if not links:
        return

    def delete() -> None:
        from kvmnet.host import rtnl

        try:
            sock = rtnl.Rtnl()
        except OSError:
            return
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


def main() -> int:
    argv = sys.argv[1:]
    if "net-destroy" in argv:
        try:
            _head_start_destroy(argv)
        except Exception:  # noqa: BLE001 - only an optimisation; the command reports problems
            pass
    from .main import main as cli_main

    return cli_main(argv)
