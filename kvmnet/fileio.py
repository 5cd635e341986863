"""Crash-safe file writes (stdlib ``os`` only: the DHCP lease helper imports this too)."""
from __future__ import annotations

import _thread  # not threading: that costs a millisecond of CLI start-up for one RLock
import fcntl
import os
from time import monotonic as _monotonic

TYPE_CHECKING = False
if TYPE_CHECKING:
    from os import PathLike
    from typing import Self

#: The longest prefix :func:`temp_name` puts before a file's name: ``.tmp-PID-12HEX-``, with
#: the longest PID Linux hands out (pid_max is at most 2**22 = 4194304, seven digits).
TMP_PREFIX = ".tmp-"
TEMP_PREFIX_MAX_BYTES = len(f"{TMP_PREFIX}4194304-") + 12 + 1


class FileLock:
    """An exclusive ``flock`` on one file, re-entrant within the process (threads included).

    ``with lock:`` blocks until no other process holds it; nested ``with`` blocks in the same
    process take it once.  The lock file (and its directory) are created on first use.
    """

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._mutex = _thread.RLock()
        self._depth = 0
        self._fd: int | None = None

    def __enter__(self) -> Self:
        self._mutex.acquire()
        try:
            if self._depth == 0:
                self._fd = lock_file(self.path)
            self._depth += 1
        except BaseException:
            self._mutex.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._depth -= 1
            if self._depth == 0 and self._fd is not None:
                fd, self._fd = self._fd, None
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        finally:
            self._mutex.release()


def lock_file(path: str | PathLike[str]) -> int:
    """A descriptor holding an exclusive ``flock`` on ``path`` (created, with its directory, if
    missing; blocks while another holds it).  The lock goes when every copy of the
    descriptor is closed: a forked child keeps it after the parent ends
    (:func:`kvmnet.tasks.afterwards`)."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_dirs(path: str, mode: int) -> None:
    """``mkdir -p`` whose new directories get ``mode`` whatever the umask; existing ones are
    left as they are (they may be the user's)."""
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        return
    except FileNotFoundError:
        make_dirs(os.path.dirname(path), mode)
        try:
            os.mkdir(path, mode)
        except FileExistsError:
            return
    os.chmod(path, mode)


def fsync_dir(path: str | PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: When this process last swept each directory for stale temporary files (time.monotonic()):
#: a command lists a directory once; a long-lived process (an API user) again after a while.
_swept: dict[str, float] = {}
SWEEP_AGAIN_AFTER = 60.0


def temp_name(directory: str, name: str) -> str:
    """A temporary file's path beside ``name``: ``.tmp-PID-RANDOM-NAME`` (hidden: listings
    skip dot files).  The writer's PID in it tells :func:`sweep` whether the file is stale;
    the prefix is at most :data:`TEMP_PREFIX_MAX_BYTES` long."""
    return os.path.join(directory, f"{TMP_PREFIX}{os.getpid()}-{os.urandom(6).hex()}-{name}")


def sweep(directory: str) -> list[str]:
    """Remove the temporary files that killed writers left in ``directory``; once per process.

    A writer killed between creating its ``.tmp-PID-...`` file and renaming it leaves the
    file behind.  Whoever writes into the directory next removes those whose PID is no
    longer alive: a live writer's file is never touched (a PID reused since only keeps a
    stale file a while longer).  One listing per directory and process, made on the first
    write there (and again a minute later in a long-lived process); returns the names removed.
    """
    now = _monotonic()
    if now - _swept.get(directory, -SWEEP_AGAIN_AFTER) < SWEEP_AGAIN_AFTER:
        return []
    _swept[directory] = now
    try:
        names = [n for n in os.listdir(directory) if n.startswith(TMP_PREFIX)]
    except OSError:
        return []
    removed = []
    for name in names:
        pid = name[len(TMP_PREFIX):].partition("-")[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            os.unlink(os.path.join(directory, name))
        except FileNotFoundError:
            continue
        except OSError:
            continue  # not ours to remove (read-only, another owner): harmless
        removed.append(name)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def atomic_write(path: str | PathLike[str], data: bytes, mode: int = 0o644, *,
                 durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file only.

    Temp file in the same directory (a dot file, which listings skip), fsync,
    rename over the target, fsync the directory: after a crash the file is
    either complete or unchanged, and the temp file a kill left is removed by the
    next write into the directory (:func:`sweep`).  ``durable=False`` skips both fsyncs, for caches
    whose loss costs only time: readers still never see a partial file.
    """
    target = os.fspath(path)
    directory = os.path.dirname(target) or "."
    sweep(directory)
    tmp = temp_name(directory, os.path.basename(target))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fchmod(fd, mode)  # umask must not change what we promise
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_dir(directory)
