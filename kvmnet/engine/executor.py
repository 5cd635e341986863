"""The one executor: runs steps with their undo journalled first, and undoes journals.

:func:`run` is the only sequencer of host changes: for each step it journals the step's
undo record (fsynced) *before* applying it, and on any failure undoes what was applied, in
reverse.  :func:`undo` takes a journal back from its records alone (another process may run
it after a crash), idempotently, with the independent parts at once: background undos (a
dnsmasq stopping, an nft transaction) in threads while the kernel work (deleting links, whose
~35 ms are mostly RCU grace periods) runs here; files go last, once no process reads them.

Kill points for crash tests: ``KVMNET_FAULT_KILL_BEFORE=<kind>`` kills the process right
after a step's undo record was journalled, ``KVMNET_FAULT_KILL_AFTER=<kind>`` right after the
step was applied; ``<kind>`` is the step's kind (``link.bridge``) or its undo kind (``link``).
"""
from __future__ import annotations

import os

from kvmnet.engine.step import BACKGROUND, KEEP, KERNEL, LAST, undo_class

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any, Self

    from kvmnet.engine.host import Host
    from kvmnet.engine.journal import Journal
    from kvmnet.engine.step import Step, Undo


class Context:
    """What steps act through: the host adapters, one netlink socket opened when first
    needed (or the caller's), and where to tell the user about changes made for them.

    ``ports``: for the ``port`` steps of a guest (:mod:`kvmnet.engine.steps.port`), the guest
    port service of the caller's connection (plug, unplug, unplug_owner); the engine sits
    below the port layer, so the caller hands it in."""

    def __init__(self, host: Host, nl: Any = None,
                 say: Callable[[str], None] | None = None, ports: Any = None) -> None:
        self.host = host
        self.ports = ports
        self._nl = nl
        self._own_nl = False
        self.say: Callable[[str], None] = say or (lambda text: None)
        # set by undo(): the journal's run never finished (a crash), so look for debris
        self.interrupted = False

    @property
    def nl(self) -> Any:
        if self._nl is None:
            self._nl = self.host.netlink().__enter__()
            self._own_nl = True
        return self._nl

    def close(self) -> None:
        if self._own_nl and self._nl is not None:
            nl, self._nl, self._own_nl = self._nl, None, False
            nl.__exit__(None, None, None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fault_point(moment: str, *kinds: str) -> None:
    """Crash-test hook: ``KVMNET_FAULT_KILL_{BEFORE,AFTER}=<kind>`` kills kvmnet right there.

    Tests use it to prove that a kvmnet process killed midway leaves nothing the next
    command cannot finish or clean up.  Unset in normal use (one getenv).
    """
    wanted = os.environ.get(f"KVMNET_FAULT_KILL_{moment.upper()}")
    if wanted is not None and wanted in kinds:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def apply_steps(steps: Iterable[Step], journal: Journal, ctx: Context) -> None:
    """Journal each step's undo, then apply it; no clean-up on failure (see :func:`run`)."""
    for step in steps:
        entry = step.undo_record(ctx)
        if entry is not None:
            journal.add(entry)
            fault_point("before", step.kind, entry["kind"])
        else:
            fault_point("before", step.kind)
        ctx.host.perform(step, ctx)
        if entry is not None:
            fault_point("after", step.kind, entry["kind"])
        else:
            fault_point("after", step.kind)


def run(steps: Iterable[Step], journal: Journal, ctx: Context,
        on_failure: Callable[[Journal, Context], list[str]] | None = None) -> None:
    """Apply ``steps`` in order, each undo journalled first; on failure leave nothing behind.

    A failure (or an interrupt) undoes what the journal lists, in reverse, deletes the
    journal when that worked, and re-raises; undo problems are added to a kvmnet error's
    message (the journal then stays, for a later command to finish).  ``on_failure``
    replaces that clean-up (a network also drops its live status first).
    """
    # no save before the first undo record: a run killed before it changed nothing
    try:
        apply_steps(steps, journal, ctx)
    except BaseException as exc:
        note_failures(exc, (on_failure or undo_and_forget)(journal, ctx))
        raise


def undo_and_forget(journal: Journal, ctx: Context) -> list[str]:
    """Undo ``journal``, then delete it if everything went (else it stays for a retry)."""
    failures = undo(journal, ctx)
    if not failures:
        journal.delete()
    return failures


def note_failures(exc: BaseException, failures: list[str]) -> None:
    from kvmnet.errors import KvmnetError

    if failures and isinstance(exc, KvmnetError):
        exc.message += "; cleanup also failed: " + "; ".join(failures)
        exc.args = (exc.message,)


def undo(journal: Journal, ctx: Context) -> list[str]:
    """Take back everything ``journal`` lists, in reverse; returns what could not be undone.

    Idempotent (an object already gone is fine), so an undo that was itself interrupted
    can simply run again.  Phases: background undos start in threads, kernel undos run
    here meanwhile, ``last`` undos (files) once all of those finished.  Unknown kinds (a
    newer kvmnet's journal) are reported, not skipped silently.  The journal file itself is
    left to the caller, which deletes it last when nothing failed.
    """
    failures: list[str] = []
    ctx.interrupted = journal.state != "active"

    def attempt(handler: type[Undo], entry: dict[str, Any]) -> None:
        try:
            ctx.host.revert(handler, entry, ctx)
        except Exception as exc:  # noqa: BLE001 - keep going: remove as much as possible
            failures.append(f"{entry['kind']}: {exc}")

    phases: dict[str, list[tuple[type[Undo], dict[str, Any]]]] = {
        BACKGROUND: [], KERNEL: [], LAST: [], KEEP: []}
    for entry in reversed(journal.steps):
        handler = undo_class(str(entry.get("kind")))
        if handler is None:
            failures.append(f"{entry.get('kind')}: unknown to this kvmnet version")
            continue
        phases[handler.phase].append((handler, entry))
    from kvmnet.tasks import Task

    background = [Task(attempt, handler, entry) for handler, entry in phases[BACKGROUND]]
    try:
        for handler, entry in phases[KERNEL]:
            attempt(handler, entry)
    finally:  # even when interrupted: no undo outlives this call
        for task in background:
            task.join()
    fault_point("after", "undo")
    for handler, entry in phases[LAST]:
        attempt(handler, entry)
    return failures
