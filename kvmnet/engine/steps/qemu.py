"""A guest's QEMU: the directories and run-time files it makes, starting it; undo: stop it.

The guest runner (:mod:`kvmnet.guests.runner`) runs these after the guest's ports
(:mod:`kvmnet.engine.steps.port`), with the guest's journal (``run/kvmnet/guests/NAME.json``).
``qemu.files`` journals the files QEMU will make (pid file, QMP and console sockets; undo
kind ``qemu.files``: removed last, as ``files``) and makes the directories its logs go to; ``qemu.start`` is
QEMU's command line as a person would type it; its undo (``qemu``) stops that QEMU by PID,
only while the PID is still that QEMU (its command line names its QMP socket), through
:meth:`kvmnet.engine.host.Host.qemu_stop`.
"""
from __future__ import annotations

import os

from kvmnet.engine.step import KERNEL, Step, Undo, register, register_undo
from kvmnet.engine.steps.files import RemoveFiles

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from kvmnet.engine.executor import Context


@register
class QemuFiles(Step):
    """``dirs``: directories to make (console logs); ``remove``: the run-time files QEMU
    makes, removed with the guest (the console logs stay)."""

    kind = "qemu.files"
    section = "files"
    fields = ("dirs", "remove")
    dirs: list[str]
    remove: list[str]

    def describe(self) -> str:
        return "mkdir -p " + " ".join(self.dirs) if self.dirs else ":"

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        return {"kind": "qemu.files", "paths": list(self.remove)}

    def apply(self, ctx: Context) -> None:
        for directory in self.dirs:
            os.makedirs(directory, exist_ok=True)


@register_undo
class RemoveQemuFiles(RemoveFiles):
    """As ``files``; a kind of its own, so that ``KVMNET_FAULT_KILL_AFTER=files`` names the
    live definition's step alone."""

    kind = "qemu.files"


@register
class StartQemu(Step):
    """QEMU daemonizes once the machine is set up; its PID (:attr:`pid`) goes into the undo
    record once known (before that, the undo reads the pid file)."""

    kind = "qemu.start"
    section = "qemu"
    fields = ("name", "argv", "pidfile", "qmp", "fds")
    defaults: ClassVar[dict[str, Any]] = {"fds": []}
    name: str
    argv: list[str]
    pidfile: str
    qmp: str
    fds: list[list[Any]]  # [[N, PATH]]: opened read-write as descriptor N (macvtap nodes)

    #: once applied: QEMU's PID and how long it took to set up the machine
    pid: int | None = None
    seconds: float | None = None
    _undo: dict[str, Any] | None = None

    def describe(self) -> str:
        import shlex

        return shlex.join(self.argv) + "".join(f" {n}<>{shlex.quote(path)}"
                                               for n, path in self.fds)

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        self._undo = {"kind": "qemu", "pid": None, "pidfile": self.pidfile, "qmp": self.qmp}
        return self._undo

    def apply(self, ctx: Context) -> None:
        import time

        started = time.monotonic()
        fds = {int(n): str(path) for n, path in self.fds}
        if fds:
            self.pid = ctx.host.qemu_start(list(self.argv), self.pidfile, self.name, fds)
        else:
            self.pid = ctx.host.qemu_start(list(self.argv), self.pidfile, self.name)
        self.seconds = round(time.monotonic() - started, 3)
        if self._undo is not None:
            self._undo["pid"] = self.pid  # written with the journal's next save


@register_undo
class StopQemu(Undo):
    """QMP quit, then SIGTERM/SIGKILL; a QEMU already gone (or a PID now someone else's) is
    fine.  Before the guest's ports go: the kernel phase runs in reverse journal order."""

    kind = "qemu"
    phase = KERNEL

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        pid = entry.get("pid")
        ctx.host.qemu_stop(pid if isinstance(pid, int) else None, entry.get("pidfile"),
                           str(entry["qmp"]))

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return f"kill $(cat {entry.get('pidfile')})  # QEMU with -qmp unix:{entry['qmp']}"
