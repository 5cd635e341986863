"""Crash-safe file writes (stdlib ``os`` only: the DHCP lease helper imports this too)."""
from __future__ import annotations

import _thread  # not threading: that costs a millisecond of CLI start-up for one RLock
import fcntl
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from os import PathLike

#: The longest prefix :func:`temp_name` puts before a file's name: ``.tmp-PID-12HEX-``, with
#: the longest PID Linux hands out (pid_max is at most 2**22 = 4194304, seven digits).
TEMP_PREFIX_MAX_BYTES = len(".tmp-4194304-") + 12 + 1


def temp_name(basename: str) -> str:
    """A hidden, unique temporary name for writing ``basename`` atomically (listings skip
    dot files); its prefix is at most :data:`TEMP_PREFIX_MAX_BYTES` long."""
    return f".tmp-{os.getpid()}-{os.urandom(6).hex()}-{basename}"


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

    def __enter__(self) -> FileLock:
        self._mutex.acquire()
        try:
            if self._depth == 0:
                os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
                self._fd = fd
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


def fsync_dir(path: str | PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | PathLike[str], data: bytes, mode: int = 0o644, *,
                 durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file only.

    Temp file in the same directory (a dot file, which listings skip), fsync,
    rename over the target, fsync the directory: after a crash the file is
    either complete or unchanged.  ``durable=False`` skips both fsyncs, for caches
    whose loss costs only time: readers still never see a partial file.
    """
    target = os.fspath(path)
    directory = os.path.dirname(target) or "."
    tmp = os.path.join(directory, temp_name(os.path.basename(target)))
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
