"""Run a host program from an argv list (never through a shell) with diagnosable errors.

:func:`run` is the general runner (:mod:`subprocess`).  :func:`run_quick` is the light one
for net-start's hot path (starting dnsmasq): ``os.posix_spawnp`` and a pidfd, because
importing subprocess (with signal, selectors, locale, contextlib) is ~4 ms of a cold
``net-start`` on the lab machine (``bench/bench_networks.py``).
"""
from __future__ import annotations

import errno as errno_mod
import os
from time import monotonic

from kvmnet.errors import HostError
from kvmnet.log import get as get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Mapping, Sequence

log = get_logger("kvmnet.host")

# Debian package that ships each program kvmnet drives, for the "not found" diagnosis.
PACKAGE_OF: dict[str, str] = {
    "dnsmasq": "dnsmasq-base",
    "ip": "iproute2",
    "bridge": "iproute2",
    "tc": "iproute2",
    "nft": "nftables",
    "ovs-vsctl": "openvswitch-switch",
    "ovsdb-server": "openvswitch-switch",
    "ovs-vswitchd": "openvswitch-switch",
    "ovsdb-tool": "openvswitch-common",
    "udhcpc": "udhcpc (busybox)",
    "busybox": "busybox",
    "sysctl": "procps",
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "radvd": "radvd",
}


#: What a shell word may hold unquoted (shlex.quote's set; shlex itself would load re).
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-")


def shell_quote(arg: str) -> str:
    """``arg`` as one shell word (what ``shlex.quote`` returns)."""
    if arg and all(c in _PLAIN for c in arg):
        return arg
    return "'" + arg.replace("'", "'\"'\"'") + "'"


def shell_form(argv: Sequence[str]) -> str:
    """The command as a person would type it, quoted where needed (``shlex.join``)."""
    return " ".join(shell_quote(arg) for arg in argv)


class CommandError(HostError):
    """A program ran and exited non-zero; carries its exit status and output."""

    def __init__(
        self,
        message: str,
        command: str | None = None,
        errno: int | None = None,
        *,
        returncode: int | None = None,
        stdout: str = "",
        stderr: str = "",
    ) -> None:
        super().__init__(message, command, errno)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def _missing(program: str, command: str) -> HostError:
    package = PACKAGE_OF.get(os.path.basename(program))
    fix = f"install the {package} package" if package else "install it or fix PATH"
    return HostError(f"{program} not found in PATH: {fix}", command, errno_mod.ENOENT)


def _not_started(exc: OSError, program: str, command: str) -> HostError:
    """Why ``program`` could not be started (missing, not executable, or else)."""
    if isinstance(exc, FileNotFoundError):
        return _missing(program, command)
    if isinstance(exc, PermissionError):
        return HostError(f"{program} cannot be executed ({exc.strerror}): check its permissions",
                         command, exc.errno)
    return HostError(f"{program} could not be started: {exc.strerror}", command, exc.errno)


def _timed_out(program: str, timeout: float | None, command: str) -> HostError:
    return HostError(f"{program} did not finish within {timeout} s: it may be hung; check the "
                     "program", command, errno_mod.ETIMEDOUT)


def run(
    argv: Sequence[str],
    *,
    input: str | None = None,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    cwd: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` and return the completed process with text stdout/stderr.

    ``env`` adds to (and overrides parts of) the current environment rather than replacing it,
    so PATH and locale stay as they are.  With ``check`` (the default) a non-zero exit raises
    :class:`CommandError` whose message quotes the program's own stderr.  A program missing from
    PATH, a program that cannot be executed, or a timeout always raise :class:`HostError`.
    """
    import subprocess

    if not argv:
        raise ValueError("run() needs a non-empty argv")
    args = [os.fspath(a) for a in argv]
    command = shell_form(args)
    log.debug("%s", command)
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    try:
        proc = subprocess.run(
            args,
            input=input,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            cwd=cwd,
            stdin=None if input is not None else subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise _timed_out(args[0], timeout, command) from exc
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and cwd is not None and not os.path.isdir(cwd):
            raise HostError(f"working directory {cwd} does not exist", command, exc.errno) from exc
        raise _not_started(exc, args[0], command) from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        status = (
            f"was killed by signal {-proc.returncode}"
            if proc.returncode < 0
            else f"failed with exit status {proc.returncode}"
        )
        message = f"{os.path.basename(args[0])} {status}"
        message += f": {detail}" if detail else " and printed nothing"
        raise CommandError(
            message, command, None, returncode=proc.returncode, stdout=proc.stdout, stderr=proc.stderr
        )
    return proc


def run_quick(argv: Sequence[str], *, timeout: float) -> tuple[int, str]:
    """Run ``argv`` (stdin from /dev/null) until it exits: ``(exit status, its output)``.

    stdout and stderr come back together, as one text.  Unlike :func:`run` it does not wait
    for the output's end but for the program's exit, so a daemon that forks and keeps the
    pipe open does not hold it up.  A negative status is the signal that killed it.  A
    missing program, a program that cannot be executed or a timeout raise HostError.
    """
    import select

    args = [os.fspath(a) for a in argv]
    command = shell_form(args)
    log.debug("%s", command)
    read_end, write_end = os.pipe()
    try:
        try:
            pid = os.posix_spawnp(args[0], args, os.environ, file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, write_end, 1),
                (os.POSIX_SPAWN_DUP2, write_end, 2),
                (os.POSIX_SPAWN_CLOSE, read_end)])
        except OSError as exc:
            raise _not_started(exc, args[0], command) from exc
        os.close(write_end)
        write_end = -1
        pidfd = os.pidfd_open(pid)
        try:
            poller = select.poll()
            poller.register(read_end, select.POLLIN)
            poller.register(pidfd, select.POLLIN)
            os.set_blocking(read_end, False)
            out = bytearray()
            deadline = monotonic() + timeout
            exited = False
            while not exited:
                left = deadline - monotonic()
                if left <= 0:
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
                    raise _timed_out(args[0], timeout, command)
                for fd, _events in poller.poll(int(left * 1000) + 1):
                    if fd == pidfd:
                        exited = True
                    elif not _drain(read_end, out):
                        poller.unregister(read_end)  # every writer closed it
        finally:
            os.close(pidfd)
        _drain(read_end, out)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")


def _drain(fd: int, out: bytearray) -> bool:
    """Append what can be read from non-blocking ``fd`` now; False at its end."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        out += chunk
