"""The ``kvmnet`` console script's entry point: the hot verbs' plain forms skip argparse.

Scripts define, start, stop and undefine networks with the plain forms ``kvmnet [--root DIR]
[-q] net-define FILE``, ``net-start NAME``, ``net-destroy NAME`` and ``net-undefine NAME``;
for those, building the argparse parser and importing the CLI's other modules is a tenth to
a fifth of a cold run.  Those command lines run the same handlers (:mod:`kvmnet.cli.net`)
with the same error reporting (:mod:`kvmnet.cli.ctx`), just without the parser; anything
else (options, ``--help``, other verbs) goes to :mod:`kvmnet.cli.main`.

``net-destroy`` also gets a head start: deleting a bridge keeps the kernel busy for 31-53
ms (RCU grace periods inside the netlink call), of which the last 16-20 come after the link
is gone from the namespace (measured here: the link vanished 15-22 ms after the request,
the request returned at 31-39 ms), spent waiting for the device's memory to be freed.
Before importing the rest, the network's run journal is read (the engine's reader, which
needs only the C JSON codec, :mod:`kvmnet.jsontext`) and the deletion is sent from a forked
child process.  So it runs alongside the command's imports, and the command need not wait
for its final part: a process ends only after its threads' system calls, so a thread would
have held it up.  The
command itself then runs unchanged: its teardown deletes again (a request that waits for the
child's to let go of the kernel's lock, and then finds the link gone, which is fine), so it
returns only once the link is gone from the namespace, and it reports any error.  The child
has its standard streams on /dev/null (whoever reads the command's output does not wait for
it) and ends on its own.  A kill between the head start and the teardown leaves an active
network without its bridge: the next ``net-start`` notices and finishes that destroy
(:func:`kvmnet.network.start.interrupted_destroy`).

The console script runs :func:`script`: once the command is done it ends the process
without the interpreter's teardown, which frees every object and module only for the
kernel to free the memory again (see :func:`exit_now`).
"""
from __future__ import annotations

import os
import sys

#: verb -> the name of its one positional argument in the parser's namespace
_QUICK_VERBS = {"net-define": "file", "net-start": "network", "net-destroy": "network",
                "net-undefine": "network"}


def plain(argv: list[str]) -> tuple[str | None, bool, str, str] | None:
    """``(root, quiet, verb, argument)`` of ``[--root DIR] [-q] VERB ARGUMENT``, else None."""
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
    """Start deleting the network's links from a forked child, before importing the rest.

    Only the links: dnsmasq and the firewall go in the teardown proper, after the live
    status, so that a kill here never leaves a network that says it is active while its
    DHCP is gone and its bridge still there.
    """
    if "/" in name:
        return
    # the engine's journal reader: it imports only os and the C JSON codec (kvmnet.jsontext)
    from kvmnet.engine.journal import Journal

    base = root or os.environ.get("KVMNET_ROOT") or "/"
    rec = Journal.load(os.path.join(base, "run", "kvmnet", "networks", f"{name}.json"))
    links = [s["name"] for s in rec.find("link")] if rec is not None else []
    if links and all(isinstance(link, str) for link in links):
        _delete_links_in_child(links)


def _delete_links_in_child(links: list[str]) -> None:
    from kvmnet.host import rtnl

    requests = [rtnl.pack_link_by_name(link) for link in links]
    try:
        sock = rtnl.Rtnl()
    except OSError:
        return

    try:
        child = os.fork()
    except OSError:
        sock.close()
        return
    if child:
        sock.close()
        return
    try:  # the child: only the blocking requests
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        for request in requests:
            try:
                sock.request_raw(rtnl.RTM_DELLINK, 0, request)
            except rtnl.RtnlError:
                pass  # the teardown deletes again and says what went wrong
    finally:
        os._exit(0)


def run_plain(root: str | None, quiet: bool, verb: str, argument: str) -> int:
    """Run ``verb ARGUMENT`` through its usual handler, without argparse."""
    from types import SimpleNamespace

    from kvmnet.cli import net
    from kvmnet.cli.ctx import Ctx, run_command, session

    handler = {"net-define": net.cmd_define, "net-start": net.cmd_start,
               "net-destroy": net.cmd_destroy, "net-undefine": net.cmd_undefine}[verb]
    ctx = Ctx(sys.stdout, sys.stderr, sys.stdin, quiet=quiet, root=root)
    # the namespace the parser would build (net-define's --validate is a no-op flag)
    args = SimpleNamespace(**{_QUICK_VERBS[verb]: argument, "validate": False})
    return session(ctx, lambda: run_command(ctx, lambda: handler(ctx, args)))  # type: ignore[arg-type]


def exit_now(rc: int) -> None:
    """End the process with ``rc`` now, doing first what the interpreter's exit does that
    anyone can see: wait for running threads, run the exit handlers (logging's flush),
    flush stdout and stderr.  Its teardown (freeing every module) is skipped: that was
    4-10 ms of each cold command (measured on net-define/start/destroy/undefine).  A
    flush that fails (a closed pipe) returns instead, leaving the report to the interpreter
    as before."""
    tasks = sys.modules.get("kvmnet.tasks")
    if tasks is not None:
        tasks.join_all()
    threading = sys.modules.get("threading")
    if threading is not None:
        for thread in threading.enumerate():
            if thread is not threading.main_thread() and not thread.daemon:
                thread.join()
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    if tasks is not None:
        tasks.detach_jobs()  # the reply is out: jobs for later commands go on in a child
    os._exit(rc)


def script() -> int:
    """The console script's and ``python -m kvmnet``'s entry: :func:`main`, then
    :func:`exit_now` (in-process callers use :func:`main`, which returns)."""
    from kvmnet import tasks

    tasks.defer_jobs()
    rc = main()
    exit_now(rc)
    return rc


def main() -> int:
    argv = sys.argv[1:]
    quick = plain(argv)
    if quick is None:
        from kvmnet.cli.main import main as cli_main

        return cli_main(argv)
    root, quiet, verb, network = quick
    if verb == "net-destroy":
        try:
            _head_start_destroy(root, network)
        except Exception:  # noqa: BLE001, S110 - only an optimisation; the command reports problems
            pass
    return run_plain(root, quiet, verb, network)
