"""Starting a network: checks first, then its steps through the engine's executor.

Works on the plain data of :mod:`kvmnet.network.program` only (the steps as JSON and the
live status), so a cold ``net-start`` of a compiled network imports no parser, model or
renderer.  :func:`kvmnet.engine.executor.run` journals each step's undo before applying it;
on any failure the journal is torn down again (:func:`kvmnet.network.runtime.teardown`).

A network is active exactly while its live status exists: start writes it last, teardown
drops it first.  So a start or a destroy killed at any instant leaves either an active
network that runs (a destroy then works), or a journal without a status, which the next
``net-start``, ``net-create`` or ``net-destroy`` of the name tears down before anything
else (:func:`leftover`), as does a start that finds it in its way (:func:`_finish_others`).
"""
from __future__ import annotations

from kvmnet.engine.executor import Context, note_failures, run
from kvmnet.engine.journal import ACTIVE, Journal
from kvmnet.engine.step import steps_from_json
from kvmnet.errors import HostConflictError, OperationInvalidError
from kvmnet.network.preflight import conflicts, missing_programs
from kvmnet.network.runtime import Host, Runtime, teardown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from kvmnet.config.store import Store
    from kvmnet.model.network import Network
    from kvmnet.network.program import Program
    from kvmnet.paths import Paths


def leftover(store: Store, rt: Runtime) -> Journal | None:
    """The journal of a start or a destroy that never finished (killed, or a failed step).

    Active means a live status (``store.is_active``): a journal without one belongs to a
    start that did not get as far as writing it, or to a teardown, which drops the status
    first (:func:`kvmnet.network.runtime.teardown`).  Either way, what it lists is to be removed.
    """
    rec = Journal.load(rt.record)
    if rec is None or store.is_active(rt.name):
        return None
    return rec


def interrupted_destroy(store: Store, rt: Runtime, host: Host) -> Journal | None:
    """The journal of an active network whose teardown was cut short before its status went.

    ``net-destroy``'s head start (:mod:`kvmnet.cli.entry`) deletes the bridge before the
    teardown proper drops the status; a kill in between leaves a live status whose bridge
    is gone.  Asked only when a start is about to be refused as "already active".  A
    status without any journal (left by an older kvmnet) is such a ghost too: an empty
    journal stands for it, so that the caller just drops the status.
    """
    rec = Journal.load(rt.record)
    if rec is None:
        return Journal(rt.record, rt.name)
    links = [s["name"] for s in rec.find("link")]
    if not links:
        return None
    with host.netlink() as nl:
        return rec if any(nl.link_info(link) is None for link in links) else None


def finish(rec: Journal, what: str, store: Store, host: Host, say: Callable[[str], None],
            nl: Any = None) -> None:
    say(f"finishing {what} of network '{rec.network}'")
    failures = teardown(rec, host, store, nl=nl)
    if failures:
        raise OperationInvalidError(
            f"network '{rec.network}' has leftovers of {what} that cannot be removed: "
            + "; ".join(failures) + f"; remove them by hand, then run 'kvmnet net-destroy "
            f"{rec.network}'")


def start_defined(store: Store, paths: Paths, name: str, definition: str,
                  notify: Callable[[str], None] | None = None, host: Host | None = None) -> None:
    """Start a persistent network from its stored definition text, compiling only if needed."""
    from kvmnet.network import program as programs

    key = programs.cache_key(definition, paths.text("root"))
    cache = programs.cache_path(paths.text("programs"), name)
    program = programs.load(cache, key)
    if program is None:
        from kvmnet.fileio import FileLock

        with FileLock(programs.lock_path(cache)):  # net-define's compile may be under way
            program = programs.load(cache, key)
            if program is None:
                from kvmnet.network.compile import compile_program
                from kvmnet.xmlio.network import parse_network

                program = compile_program(parse_network(definition), paths, key)
                programs.save(cache, program)
    start(program, store, paths, host, notify)


def start_network(net: Network, store: Store, paths: Paths, host: Host | None = None,
                  notify: Callable[[str], None] | None = None) -> None:
    """Start ``net`` as given (a transient network): compile, then apply."""
    from kvmnet.network.compile import compile_program

    start(compile_program(net, paths), store, paths, host, notify)


def start(program: Program, store: Store, paths: Paths, host: Host | None = None,
          notify: Callable[[str], None] | None = None) -> None:
    """Bring a compiled network up; on failure leave nothing behind."""
    host = host or Host()
    say = notify or (lambda text: None)
    name = program["network"]
    rt = Runtime(paths, name)
    if store.is_active(name):
        ghost = interrupted_destroy(store, rt, host)
        if ghost is None:
            raise OperationInvalidError(f"network '{name}' is already active: "
                                        f"run 'kvmnet net-destroy {name}' first to restart it")
        finish(ghost, "an interrupted destroy", store, host, say)
    stale = leftover(store, rt)
    if stale is not None:
        finish(stale, "an interrupted start or destroy", store, host, say)

    steps = steps_from_json(program["steps"])
    problems = missing_programs(steps)
    with host.netlink() as nl:
        problems += conflicts(name, steps, nl, owner_of=lambda ifname: _owner_of(paths, ifname))
        if problems and _finish_others(store, paths, host, nl, say):
            # a half-destroyed network held the bridge, the subnet or a port: check again
            problems = missing_programs(steps)
            problems += conflicts(name, steps, nl,
                                  owner_of=lambda ifname: _owner_of(paths, ifname))
        if problems:
            # libvirt's number for a host that holds what the network needs: internal error
            if len(problems) == 1:
                raise HostConflictError([problems[0] + "; nothing was changed"])
            raise HostConflictError(problems, subject=f"cannot start network '{name}' "
                                                      "(nothing was changed)")
        rec = Journal(rt.record, name, info={"uuid": program.get("uuid")})

        def undo_all(journal: Journal, ctx: Context) -> list[str]:
            return teardown(journal, host, store, nl=nl)

        run(steps, rec, Context(host, nl=nl, say=say), on_failure=undo_all)
        try:
            store.write_status(name, program["status_xml"])
        except BaseException as exc:
            note_failures(exc, undo_all(rec, Context(host, nl=nl)))
            raise
    rec.state = ACTIVE
    rec.save(durable=False)  # losing 'active' is harmless (see Journal.save)


def _finish_others(store: Store, paths: Paths, host: Host, nl: Any,
                   say: Callable[[str], None]) -> bool:
    """Finish the interrupted teardowns (and starts) of other networks; True if there were.

    Asked only when a start meets a conflict (error path): a network whose destroy was
    killed after its status went may still hold a bridge, addresses or dnsmasq's port,
    and a transient one has no name left to run net-destroy on.  Under the store lock no
    other start or destroy is under way, so a journal without a status is a leftover.
    """
    found = False
    for path in sorted(paths.run_networks.glob("*.json")):
        rec = Journal.load(path)
        # a journal names its network in its file name too; a mismatch is hand damage
        if rec is None or rec.network != path.name[:-5] or store.is_active(rec.network):
            continue
        finish(rec, "an interrupted start or destroy", store, host, say, nl=nl)
        found = True
    return found


def _owner_of(paths: Paths, ifname: str) -> str | None:
    """The active kvmnet network whose journal created link ``ifname`` (error path only)."""
    for path in sorted(paths.run_networks.glob("*.json")):
        rec = Journal.load(path)
        if rec is not None and any(s["kind"] == "link" and s.get("name") == ifname
                                   for s in rec.steps):
            return rec.network
    return None
