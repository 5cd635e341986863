"""Process control for one dnsmasq per network (the configuration is rendered elsewhere).

``start`` runs ``dnsmasq --conf-file=PATH``.  dnsmasq daemonises by itself, and its parent
process exits only once the daemon has bound its sockets (exit status 0) or failed (status 1-5,
with dnsmasq's own message on stderr, e.g. "failed to create listening socket for 192.168.122.1:
Address already in use"), so success or failure is known synchronously.  The configuration must
name the pid file (``pid-file=``) that is passed to ``start`` as ``pid_file``.

Once it runs, ``start`` filters route changes (and, where the configuration does not need
them, address changes) out of the daemon's rtnetlink socket (:mod:`.routemute`): otherwise
every network that starts or stops wakes every other network's dnsmasq.

Every signal checks that ``/proc/PID/cmdline`` still contains the conf file path and goes
through a pidfd (see :mod:`kvmnet.host.process`), so a PID reused by another program is never
signalled.

inotify: dnsmasq creates an inotify instance to watch resolv.conf unless it runs with
``no-resolv`` (and without ``dhcp-hostsdir``/``hostsdir`` dynamic directories).  The kernel
allows ``fs.inotify.max_user_instances`` (default 128) instances per user, so many networks
(or a busy desktop) can exhaust it and dnsmasq fails with "failed to create inotify: Too many
open files".  kvmnet's renderer therefore writes ``no-resolv`` plus a ``servers-file`` for
upstream servers, which needs no inotify; :func:`inotify_usage` reports the limit and who uses
it, and ``start`` adds that to the error when it happens anyway.
"""
from __future__ import annotations

import errno as errno_mod
import os
import time

TYPE_CHECKING = False  # typing costs ~4.5 ms of a cold start (kvmnet.tuples)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NamedTuple
else:
    from kvmnet.tuples import NamedTuple

from kvmnet.errors import HostError
from kvmnet.host import process
from kvmnet.log import get as get_logger

log = get_logger("kvmnet.host")

# dnsmasq's documented exit codes (man dnsmasq, "EXIT CODES").
_EXIT_HINTS: dict[int, str] = {
    1: "fix the configuration file",
    2: "another DNS or DHCP server probably holds the port or address (find it with "
       "`ss -lunp`), or the address is not configured yet",
    3: "check that the files and directories the configuration names exist and are writable",
    4: "the host is out of memory",
    5: "see the message above",
}


def read_pid_file(path: str) -> int | None:
    """The PID in a pid file, None if the file is missing, empty or garbled."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() and int(text) > 1 else None


def is_running(pid: int, expected_cmdline_contains: str) -> bool:
    """Whether PID is alive and is our dnsmasq (its cmdline contains the given conf path)."""
    return pid > 1 and process.is_alive(pid) and process.cmdline_matches(pid, expected_cmdline_contains)


def start(
    conf_path: str,
    *,
    pid_file: str,
    dnsmasq: str = "dnsmasq",
    extra_args: Sequence[str] = (),
    timeout: float = 10.0,
) -> int:
    """Start dnsmasq with ``conf_path`` and return the daemon's PID (read from ``pid_file``).

    Refuses (HostError, EEXIST) when ``pid_file`` names a live dnsmasq using the same conf file;
    a stale pid file is removed first.  On failure the HostError carries dnsmasq's own message.
    """
    from kvmnet.host.run import run_quick, shell_form  # not needed to stop or reload

    argv = [dnsmasq, f"--conf-file={conf_path}", *extra_args]
    command = shell_form(argv)
    old = read_pid_file(pid_file)
    if old is not None and is_running(old, conf_path):
        raise HostError(
            f"dnsmasq for {conf_path} is already running as PID {old}: stop it first",
            command,
            errno_mod.EEXIST,
        )
    try:
        os.unlink(pid_file)
    except FileNotFoundError:
        pass
    returncode, output = run_quick(argv, timeout=timeout)
    if returncode != 0:
        message = " ".join(line.strip() for line in output.splitlines() if line.strip())
        message = message or f"it exited with status {returncode} and printed nothing"
        hint = _EXIT_HINTS.get(returncode, "see dnsmasq's message")
        if "inotify" in message:
            hint = inotify_diagnosis()
        raise HostError(f"dnsmasq failed to start: {message}; {hint}", command, None)
    deadline = time.monotonic() + timeout
    while True:
        pid = read_pid_file(pid_file)
        if pid is not None and is_running(pid, conf_path):
            _mute(pid, conf_path, extra_args)
            return pid
        if time.monotonic() >= deadline:
            break
        time.sleep(0.002)
    raise HostError(
        f"dnsmasq reported success but {pid_file} does not name a running dnsmasq for {conf_path} "
        f"within {timeout} s: check that the configuration sets pid-file={pid_file} and that "
        "dnsmasq did not exit (see the system log)",
        command,
        errno_mod.ESRCH,
    )


# -- who dnsmasq reads its files as --------------------------------------------------------------

#: Keys naming files dnsmasq opens by path after it dropped root: at start-up and on SIGHUP.
_REREAD_KEYS = ("dhcp-hostsfile", "addn-hosts", "servers-file", "dhcp-optsfile")
#: The user dnsmasq drops to when its configuration names none (its compiled-in default).
DEFAULT_USER = "nobody"


def _reads(conf_path: str) -> tuple[list[str], str, str | None, list[str]]:
    """``(conf lines, user, group, files read after dropping root)`` of a configuration."""
    with open(conf_path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    user, group, files = DEFAULT_USER, None, []
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "user":
            user = value
        elif key == "group":
            group = value
        elif key in _REREAD_KEYS and value:
            files.append(value)
    return lines, user, group, files


def settle_user(conf_path: str) -> str | None:
    """Before dnsmasq starts: make sure the user it drops to can read the files it re-reads.

    Under a state root that others cannot search (``mktemp -d`` makes 0700), ``nobody``
    cannot open the hosts files, and dnsmasq then serves no static hosts without a word.
    Then dnsmasq keeps root: the configuration's ``user=`` becomes ``root`` (a command-line
    ``--user`` would not override the file).  Returns a notice saying so and how to let it
    drop privileges, or None when nothing had to change.  Raises HostError when dnsmasq
    still could not read them (kvmnet itself is not root).
    """
    from kvmnet.host.readable import ANYONE, Identity, why_unreadable

    lines, user, group, files = _reads(conf_path)
    if user == "root" or not any(why_unreadable(f, ANYONE) for f in files):
        return None  # the usual case, decided from mode bits alone: no account lookup
    who = Identity.of_user(user, group)
    if who is None:
        raise HostError(f"dnsmasq's user '{user}' (user= in {conf_path}) does not exist: "
                        "create that account or change the network's dnsmasq user", None, None)
    problem = next((p for p in (why_unreadable(f, who) for f in files) if p), None)
    if problem is None:
        return None
    if os.geteuid() != 0:
        raise HostError(f"dnsmasq runs as '{user}', which cannot read the files in {conf_path}: "
                        f"{problem}; let '{user}' search that directory (chmod o+x)", None, None)
    from kvmnet.fileio import atomic_write

    kept = [line for line in lines if not line.startswith("user=")] + ["user=root"]
    atomic_write(conf_path, ("\n".join(kept) + "\n").encode("utf-8"), mode=0o644)
    return (f"dnsmasq keeps running as root, because '{user}' could not read its hosts files: "
            f"{problem}; to let it drop privileges, let others search that directory "
            "(chmod o+x), or use a KVMNET_ROOT they can")


def reload_problem(pid: int, conf_path: str) -> str | None:
    """Why the running dnsmasq ``pid`` could not re-read its files on SIGHUP, or None."""
    from kvmnet.host.readable import Identity, why_unreadable

    who = Identity.of_process(pid)
    if who is None or who.uid == 0:
        return None
    try:
        files = _reads(conf_path)[3]
    except OSError:
        return None
    return next((p for p in (why_unreadable(f, who) for f in files) if p), None)


def _mute(pid: int, conf_path: str, extra_args: Sequence[str] = ()) -> None:
    """Keep other networks' route and address changes from waking this dnsmasq (see
    :mod:`.routemute`); best effort: a dnsmasq that still wakes up is correct, only slower."""
    from kvmnet.host.routemute import mute_route_changes, needs_address_changes

    try:
        with open(conf_path, encoding="utf-8", errors="replace") as f:
            conf = f.read()
    except OSError:
        conf = None  # unknown: leave address notifications alone
    # command-line options count as configuration lines ("--bind-dynamic" as "bind-dynamic")
    args = "".join(f"\n{arg.lstrip('-')}" for arg in extra_args)
    mute_route_changes(pid, addresses=conf is not None and not needs_address_changes(conf + args))


def stop(
    pid: int,
    *,
    expected_cmdline_contains: str,
    timeout: float = 5.0,
    pid_file: str | None = None,
) -> bool:
    """Stop our dnsmasq: SIGTERM, wait ``timeout`` s, then SIGKILL; returns once it is gone.

    False when there was nothing to stop: the process is gone, or PID now belongs to another
    program (not signalled).  ``pid_file`` (if given) is removed when it still names PID.
    """
    stopped = process.terminate(pid, expected_cmdline_contains=expected_cmdline_contains, timeout=timeout)
    if pid_file is not None and read_pid_file(pid_file) == pid:
        try:
            os.unlink(pid_file)
        except FileNotFoundError:
            pass
    return stopped


def reload(pid: int, *, expected_cmdline_contains: str | None = None) -> bool:
    """SIGHUP: dnsmasq re-reads its hosts files (dhcp-hostsfile, addn-hosts), not its config.

    Without ``expected_cmdline_contains`` the process must at least be a dnsmasq.  False when the
    process is gone or not ours.
    """
    if expected_cmdline_contains is None:
        args = process.read_cmdline(pid) or []
        if not args or "dnsmasq" not in os.path.basename(args[0]):
            return False
        expected_cmdline_contains = args[0]
    return process.send_signal(pid, process.SIGHUP, expected_cmdline_contains=expected_cmdline_contains)


def version(dnsmasq: str = "dnsmasq") -> tuple[int, ...]:
    """dnsmasq's version, e.g. ``(2, 90)`` from "Dnsmasq version 2.90  Copyright ..."."""
    from kvmnet.host.run import run, shell_form

    proc = run([dnsmasq, "--version"])
    import re

    m = re.search(r"version\s+(\d+(?:\.\d+)*)", proc.stdout, re.IGNORECASE)
    if m is None:
        raise HostError(
            f"cannot tell the dnsmasq version from its output {proc.stdout[:80]!r}: is {dnsmasq} dnsmasq?",
            shell_form([dnsmasq, "--version"]),
            None,
        )
    return tuple(int(p) for p in m.group(1).split("."))


# -- inotify ------------------------------------------------------------------------------------


class InotifyUsage(NamedTuple):
    max_user_instances: int | None  # fs.inotify.max_user_instances (per user, default 128)
    max_user_watches: int | None
    instances_by_uid: dict[int, int]  # inotify instances held by processes of each real uid


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _real_uid(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def inotify_usage(proc: str = "/proc") -> InotifyUsage:
    """The inotify limits and how many instances each user's processes hold right now.

    Counting reads ``/proc/PID/fd`` of every process, so as non-root it sees only one's own.
    """
    counts: dict[int, int] = {}
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        fd_dir = f"{proc}/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        n = 0
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") == "anon_inode:inotify":
                    n += 1
            except OSError:
                continue
        if n:
            uid = _real_uid(pid)
            if uid is not None:
                counts[uid] = counts.get(uid, 0) + n
    return InotifyUsage(
        _read_int(f"{proc}/sys/fs/inotify/max_user_instances"),
        _read_int(f"{proc}/sys/fs/inotify/max_user_watches"),
        counts,
    )


def inotify_diagnosis() -> str:
    """A sentence explaining inotify exhaustion with the current numbers, and the fix.

    Every uid is listed because dnsmasq drops to its own user (``user=``) after start-up, so the
    instances that count may be charged to root or to that user.
    """
    usage = inotify_usage()
    held = ", ".join(
        f"uid {uid}: {n}" for uid, n in sorted(usage.instances_by_uid.items(), key=lambda kv: -kv[1])
    ) or "none visible"
    limit = usage.max_user_instances
    return (
        "the per-user inotify limit is probably exhausted (instances held: "
        f"{held}; fs.inotify.max_user_instances={limit if limit is not None else 'unknown'}): raise it "
        "(sysctl -w fs.inotify.max_user_instances=512) or run dnsmasq with no-resolv and a "
        "servers-file, which needs no inotify"
    )
