"""A guest's QEMU: the directories and run-time files it makes, starting it; undo: stop it.

The guest runner (:mod:`kvmnet.guests.runner`) runs these after the guest's ports
(:mod:`kvmnet.engine.steps.port`), with the guest's journal (``run/kvmnet/guests/NAME.json``).
``qemu.files`` journals the files QEMU will make (pid file, QMP and console sockets; undo
kind ``qemu.files``: removed last, as ``files``) and makes the directories its logs go to; ``qemu.start`` is
QEMU's command line as a person would type it; its undo (``qemu``) stops that QEMU by PID,
only while the PID is still that QEMU (its command line names its QMP socket), through
:meth:`kvmnet.engine.host.Host.qemu_stop`.

A NIC hot-plugged into a running guest is ``qemu.nic`` (over QEMU's monitor: the macvtap's
descriptor for a ``direct`` NIC, the backend, the device) after its ``port.plug``; taking it
out is ``qemu.unplug``.  Neither journals an undo: the NIC lives and dies with QEMU (which
``qemu`` stops), and a hot-plug interrupted midway is finished or taken back by the guest
runner from its own record (:meth:`kvmnet.guests.runner.Runner.journal`).
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


def _qmp_line(qmp: str, command: str, args: dict[str, Any]) -> str:
    import json

    return f"# QMP {qmp}: {command} {json.dumps(args, sort_keys=True)}"


@register
class AddNic(Step):
    """Hot-plug a NIC into the running QEMU whose monitor is ``qmp``: ``netdev``/``device``
    are netdev_add's and device_add's arguments; ``node``: a macvtap's device node, opened
    read-write and handed to QEMU (``getfd``) for the backend's ``fd``."""

    kind = "qemu.nic"
    section = "qemu"
    fields = ("qmp", "netdev", "device", "node")
    defaults: ClassVar[dict[str, Any]] = {"node": None}
    qmp: str
    netdev: dict[str, Any]
    device: dict[str, Any]
    node: str | None

    def describe(self) -> str:
        from kvmnet.host.qmp import fd_name

        netdev = dict(self.netdev)
        lines = []
        if self.node is not None:
            netdev["fd"] = fd_name(str(self.device["id"]))
            lines.append(_qmp_line(self.qmp, "getfd", {"fdname": netdev["fd"]})
                         + f"  # {self.node} opened read-write, sent with SCM_RIGHTS")
        lines.append(_qmp_line(self.qmp, "netdev_add", netdev))
        lines.append(_qmp_line(self.qmp, "device_add", self.device))
        return "\n".join(lines)

    def apply(self, ctx: Context) -> None:
        ctx.host.qemu_add_nic(self.qmp, dict(self.netdev), dict(self.device), self.node)


@register
class RemoveNic(Step):
    """Hot-unplug NIC ``alias`` (``mac``) from the QEMU whose monitor is ``qmp``: the guest
    must release it within ``timeout`` seconds; then its backend ``netdev`` goes (None: a
    VFIO device has none)."""

    kind = "qemu.unplug"
    section = "qemu"
    fields = ("qmp", "alias", "netdev", "mac", "timeout")
    qmp: str
    alias: str
    netdev: str | None
    mac: str
    timeout: float

    def describe(self) -> str:
        lines = [_qmp_line(self.qmp, "device_del", {"id": self.alias})
                 + f"  # then wait for DEVICE_DELETED (up to {self.timeout:g} s)"]
        if self.netdev is not None:
            lines.append(_qmp_line(self.qmp, "netdev_del", {"id": self.netdev}))
        return "\n".join(lines)

    def apply(self, ctx: Context) -> None:
        from kvmnet.errors import HostError

        if not ctx.host.qemu_remove_nic(self.qmp, self.alias, self.netdev, self.timeout):
            raise HostError(
                f"the guest did not release interface {self.mac} ({self.alias}) within "
                f"{self.timeout:.0f} s: it must handle ACPI PCI hot-unplug (a guest that "
                "has not finished booting cannot); the unplug request stays pending, so "
                "run detach-interface again later, or use --config and restart the guest")
