"""Run a host program from an argv list (never through a shell) with diagnosable errors."""
from __future__ import annotations

import errno as errno_mod
import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence

from kvmnet.errors import HostError
from kvmnet.log import get as get_logger

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


def shell_form(argv: Sequence[str]) -> str:
    """The command as a person would type it, quoted where needed."""
    return shlex.join(argv)


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
    except FileNotFoundError as exc:
        if cwd is not None and not os.path.isdir(cwd):
            raise HostError(f"working directory {cwd} does not exist", command, exc.errno) from exc
        raise _missing(args[0], command) from exc
    except PermissionError as exc:
        raise HostError(
            f"{args[0]} cannot be executed ({exc.strerror}): check its permissions", command, exc.errno
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise HostError(
            f"{args[0]} did not finish within {timeout} s: it may be hung; check the program",
            command,
            errno_mod.ETIMEDOUT,
        ) from exc
    except OSError as exc:
        raise HostError(f"{args[0]} could not be started: {exc.strerror}", command, exc.errno) from exc
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
