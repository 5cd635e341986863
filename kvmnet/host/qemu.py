"""Run and stop a guest's QEMU: launch it daemonized, tell whether it still runs, stop it.

A QEMU is known by its PID *and* its QMP socket path (which is on its command line): a PID
read back after a crash or a reboot may belong to another program, so every check and every
signal goes through :mod:`kvmnet.host.process` (pidfd, command line checked first).  Stopping
asks QEMU to quit over QMP, then falls back to SIGTERM/SIGKILL.
"""
from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Callable

from kvmnet.errors import HostError, KvmnetError
from kvmnet.host import process

#: How long QEMU may take to set up the machine before daemonizing.
LAUNCH_TIMEOUT = 60.0


def read_pid(pidfile: str) -> int | None:
    try:
        with open(pidfile) as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def alive(pid: object, qmp: object) -> bool:
    """Whether ``pid`` is a live process whose command line names QMP socket ``qmp``."""
    if not isinstance(pid, int) or pid <= 1 or not isinstance(qmp, str):
        return False
    return process.is_alive(pid) and process.cmdline_matches(pid, qmp)


def _opener(fds: dict[int, str]) -> Callable[[], None]:
    """What the child runs before exec: open each file read-write onto its number (the shell's
    ``N<>PATH``), inheritable, so QEMU finds it there (``-netdev tap,fd=N``)."""

    def child() -> None:
        for number, path in fds.items():
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            os.dup2(fd, number)  # inheritable: the one QEMU gets
            os.close(fd)

    return child


def launch(argv: list[str], pidfile: str, name: str, timeout: float = LAUNCH_TIMEOUT,
           fds: dict[int, str] | None = None) -> int:
    """Run QEMU (it daemonizes once the machine is set up); returns the daemon's PID.

    ``fds``: files QEMU gets open, by descriptor number (a macvtap's node, read-write: a
    read-only one starts but carries nothing).  They are opened in the child, between fork and
    exec, so no descriptor of this process leaks into QEMU (kvmnet's own are close-on-exec).
    The numbers are high (see kvmnet.guests.qemu.FD_BASE), clear of the pipes subprocess
    uses there."""
    try:
        os.unlink(pidfile)
    except FileNotFoundError:
        pass
    for path in (fds or {}).values():  # say which file is wrong before QEMU runs
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CLOEXEC))
        except OSError as exc:
            raise HostError(f"cannot open {path} for guest '{name}': {exc.strerror}") from None
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, check=False,
                              preexec_fn=_opener(fds) if fds else None,
                              close_fds=not fds)
    except FileNotFoundError:
        raise HostError(f"{argv[0]} is not installed; install the qemu-system-x86 package") \
            from None
    except subprocess.TimeoutExpired:
        raise HostError(f"QEMU did not finish setting up guest '{name}' within "
                        f"{timeout:.0f} s") from None
    if proc.returncode != 0:
        why = (proc.stderr or proc.stdout).strip() or f"exit status {proc.returncode}"
        raise HostError(f"QEMU could not start guest '{name}': {why}",
                        " ".join(argv[:1] + ["..."]))
    pid = read_pid(pidfile)
    if pid is None:
        raise HostError(f"QEMU started guest '{name}' but wrote no pid file {pidfile}")
    return pid


def wait_exit(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` exits; True if it did within ``timeout`` (or was gone already)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while process.is_alive(pid):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            poller.poll(int(min(left, 0.2) * 1000))
        return True
    finally:
        os.close(fd)


def stop(pid: int | None, pidfile: str | None, qmp: str) -> None:
    """QMP quit, then SIGTERM/SIGKILL by PID -- only while the PID is still this QEMU.

    ``pid`` None: the PID was never recorded (a start interrupted between QEMU daemonizing
    and the record naming it): the pid file says.  Nothing running is fine.
    """
    if pid is None and pidfile is not None:
        pid = read_pid(pidfile)
    if pid is None or not alive(pid, qmp):
        return
    try:
        from kvmnet.host.qmp import Qmp

        with Qmp(qmp, timeout=3.0) as mon:
            mon.execute("quit")
    except (KvmnetError, OSError):
        pass  # a hung or broken monitor: the signals below still stop it
    if wait_exit(pid, 5.0):
        return
    process.terminate(pid, expected_cmdline_contains=qmp, timeout=5.0)
