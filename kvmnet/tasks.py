"""Work beside a command: threads without :mod:`threading`, and jobs after the reply.

Threads: importing :mod:`threading` (with functools, collections, weakref sets) is ~1-3 ms
of a cold ``net-start`` or ``net-destroy`` on the lab machine, which use threads only to
overlap a few blocking calls (the undo's phases).  A :class:`Task` starts at once;
:meth:`Task.join` waits for it.  Tasks nobody joined are joined by :func:`join_all`, which
the CLI calls before it ends the process (:func:`kvmnet.cli.entry.exit_now`).

Jobs after the reply (:func:`afterwards`): work whose result a command does not report,
only leaves for a later command to find (``net-define``'s compiled start program, ~17 ms
of CPU).  In a library it runs at once.  The console script calls :func:`defer_jobs` first;
then a job waits until the command's reply is out, and runs in a child process the command
forks as it ends (:func:`detach_jobs`), so the caller is not kept waiting and the next
command's start-up runs beside it on the other CPU.  Each job holds an exclusive ``flock``
on its lock file from the moment it is asked for until it is done (the child inherits the
lock), so whoever needs the job's result waits on that lock (:class:`kvmnet.fileio.FileLock`).
"""
from __future__ import annotations

import _thread
import os

from kvmnet.fileio import FileLock, lock_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_unjoined: list[Task] = []


class Task:
    """``target(*args)`` running in its own thread; an exception in it is the target's to
    handle (one that escapes is printed by the interpreter, as for any thread)."""

    def __init__(self, target: Callable[..., object], *args: Any) -> None:
        self._done = _thread.allocate_lock()
        self._done.acquire()
        _unjoined.append(self)
        _thread.start_new_thread(self._run, (target, args))

    def _run(self, target: Callable[..., object], args: tuple[Any, ...]) -> None:
        try:
            target(*args)
        finally:
            self._done.release()

    def join(self) -> None:
        with self._done:
            pass
        if self in _unjoined:
            _unjoined.remove(self)


def join_all() -> None:
    """Wait for every task not joined yet."""
    while _unjoined:
        _unjoined[0].join()


#: jobs waiting for the reply: ``(job, descriptor holding its lock)``; None: run jobs at once
_jobs: list[tuple[Callable[[], object], int]] | None = None


def defer_jobs() -> None:
    """From now on, :func:`afterwards` jobs wait for :func:`detach_jobs` (the console script)."""
    global _jobs
    if _jobs is None:
        _jobs = []


def afterwards(job: Callable[[], object], *, lock: str) -> None:
    """Run ``job`` holding an exclusive lock on file ``lock``: now, or after the reply."""
    if _jobs is None:
        with FileLock(lock):
            job()
        return
    _jobs.append((job, lock_file(lock)))


def detach_jobs() -> None:
    """Run the deferred jobs in a forked child whose standard streams are /dev/null (whoever
    reads the command's output does not wait for it); the caller goes on to end.  The
    caller has flushed its output.  A job's failure is its own to handle: it is dropped."""
    global _jobs
    jobs, _jobs = _jobs, None
    if not jobs:
        return
    try:
        child = os.fork()
    except OSError:
        for job, _fd in jobs:  # no child: do them here, still in order
            _run_quietly(job)
        return
    if child:
        return
    try:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        for job, _fd in jobs:
            _run_quietly(job)
    finally:
        os._exit(0)  # the lock descriptors close with the process: the locks are free


def _run_quietly(job: Callable[[], object]) -> None:
    try:
        job()
    except Exception:  # noqa: BLE001, S110 - a job leaves a result for later; none is fine
        pass
