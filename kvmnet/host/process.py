"""Signal daemons by PID without ever hitting a reused PID.

A PID read from a pid file may, after a reboot or a crash, belong to an unrelated process.
Every signal therefore goes through a pidfd (``pidfd_open(2)``, Linux >= 5.3): the pidfd is
opened first, then ``/proc/PID/cmdline`` is checked for a string that identifies our process (for
dnsmasq: its conf file path), then the signal is sent through the pidfd.  If the PID was
recycled between the check and the signal, the pidfd refers to the old, dead process and the
kernel refuses with ESRCH instead of signalling the newcomer.
"""
from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # the C module: signal.py builds enums (~1.5 ms of net-start and net-destroy)
import errno as errno_mod
import os
import select
import time

from kvmnet.errors import HostError
from kvmnet.log import get as get_logger

log = get_logger("kvmnet.host")

SIGHUP: int = _signal.SIGHUP
SIGKILL: int = _signal.SIGKILL
SIGTERM: int = _signal.SIGTERM


def signal_name(sig: int) -> str:
    """``SIGTERM`` for 15 (what ``signal.Signals(sig).name`` says, for the signals kvmnet sends)."""
    return {SIGHUP: "SIGHUP", SIGKILL: "SIGKILL", SIGTERM: "SIGTERM"}.get(sig, f"signal {sig}")


def read_cmdline(pid: int) -> list[str] | None:
    """The process's argv, ``[]`` for a zombie or kernel thread, ``None`` if there is no such PID."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    if not raw:
        return []
    return [part.decode(errors="replace") for part in raw.rstrip(b"\0").split(b"\0")]


def process_state(pid: int) -> str | None:
    """The one-letter state from ``/proc/PID/stat`` (``R``, ``S``, ``Z`` ...), None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The comm field may contain spaces and parentheses: the state follows the *last* ')'.
    tail = raw[raw.rfind(")") + 1:].split()
    return tail[0] if tail else None


def is_alive(pid: int) -> bool:
    """Whether PID exists and has not exited (a zombie counts as gone)."""
    state = process_state(pid)
    return state is not None and state not in ("Z", "X")


def cmdline_matches(pid: int, expected: str) -> bool:
    """Whether a live PID's argv contains ``expected`` within one of its arguments."""
    args = read_cmdline(pid)
    return bool(args) and any(expected in arg for arg in args or ())


def _open_pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


def _reap_if_child(pid: int) -> None:
    # When the daemon happens to be our own child, collect it so it does not linger as a zombie.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def send_signal(pid: int, sig: int, *, expected_cmdline_contains: str) -> bool:
    """Send ``sig`` to PID only if its cmdline contains the expected string.

    Returns False, without signalling, when the process is gone or is someone else's (its cmdline
    does not match: the PID was reused).  Raises HostError when the kernel refuses (EPERM).
    """
    if pid <= 1:
        raise ValueError(f"refusing to signal PID {pid}")
    fd = _open_pidfd(pid)
    if fd is None:
        return False
    try:
        if not is_alive(pid):
            return False
        if not cmdline_matches(pid, expected_cmdline_contains):
            log.warning(
                "not signalling PID %d: its command line %r does not contain %r (the PID was reused)",
                pid, read_cmdline(pid), expected_cmdline_contains,
            )
            return False
        name = signal_name(sig)
        log.debug("kill -%s %d", name.removeprefix("SIG"), pid)
        try:
            _signal.pidfd_send_signal(fd, sig)
        except ProcessLookupError:
            return False
        except PermissionError as exc:
            raise HostError(
                f"not allowed to send {name} to PID {pid}: run kvmnet as root or as the daemon's user",
                f"kill -{name.removeprefix('SIG')} {pid}",
                exc.errno,
            ) from exc
        return True
    finally:
        os.close(fd)


def _wait_pidfd(fd: int, pid: int, timeout: float) -> bool:
    """Wait until the process behind ``fd`` exits; True if it did within ``timeout``."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + timeout
    while True:
        _reap_if_child(pid)
        remaining = deadline - time.monotonic()
        if poller.poll(max(0, int(remaining * 1000))) or not is_alive(pid):
            _reap_if_child(pid)
            return True
        if remaining <= 0:
            return False


def terminate(pid: int, *, expected_cmdline_contains: str, timeout: float = 5.0) -> bool:
    """SIGTERM the process, wait up to ``timeout`` s, then SIGKILL it; synchronous.

    Returns False when there was nothing of ours to stop (gone already, or the PID now belongs
    to another program), True once our process has exited.
    """
    if pid <= 1:
        raise ValueError(f"refusing to signal PID {pid}")
    fd = _open_pidfd(pid)
    if fd is None:
        return False
    try:
        if not is_alive(pid) or not cmdline_matches(pid, expected_cmdline_contains):
            if is_alive(pid):
                log.warning(
                    "not stopping PID %d: its command line %r does not contain %r (the PID was reused)",
                    pid, read_cmdline(pid), expected_cmdline_contains,
                )
            return False
        for sig, wait in ((SIGTERM, timeout), (SIGKILL, 5.0)):
            name = signal_name(sig)
            log.debug("kill -%s %d", name.removeprefix("SIG"), pid)
            try:
                _signal.pidfd_send_signal(fd, sig)
            except ProcessLookupError:
                return True
            except PermissionError as exc:
                raise HostError(
                    f"not allowed to stop PID {pid}: run kvmnet as root or as the daemon's user",
                    f"kill -{name.removeprefix('SIG')} {pid}",
                    exc.errno,
                ) from exc
            if _wait_pidfd(fd, pid, wait):
                return True
            log.debug("PID %d did not exit within %.1f s after %s", pid, wait, name)
        raise HostError(
            f"PID {pid} survived SIGKILL (stuck in the kernel, state {process_state(pid)}): "
            "check the process and reboot if it stays",
            f"kill -KILL {pid}",
            errno_mod.ETIMEDOUT,
        )
    finally:
        os.close(fd)
