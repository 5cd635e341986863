"""Throwaway network namespaces for functional tests (root only).

Every namespace is named ``kvh-<tag>-<random>`` so parallel runs never collide, and every test
acts only inside namespaces it created: the machine's own namespace is never touched (even
veth pairs are created from inside a test namespace, straight into their peers).

Typical use::

    from tests.functional.netns import NetNS, requires_root, veth

    pytestmark = requires_root

    def test_something():
        with NetNS("srv") as srv, NetNS("cli") as cli:
            veth(srv, "vsrv", cli, "vcli")
            srv.ip("addr", "add", "192.0.2.1/24", "dev", "vsrv")
            print(srv.ip_json("addr", "show", "vsrv"))
            assert srv.call(os.getpid) != os.getpid()   # any callable, run inside srv

or the ``netns`` fixture (import it into the test module: ``from tests.functional.netns import
netns``) which returns a factory ``netns(tag) -> NetNS`` and deletes them all afterwards.

Cleanup (``delete()``, also on failure): every process still inside the namespace is stopped by
its PID (SIGTERM, then SIGKILL), then the namespace is deleted.  Such processes can only have
been started by the test, since nothing else knows the namespace's name.
"""
from __future__ import annotations

import ctypes
import json
import os
import pickle
import select
import shutil
import signal
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Self, TypeVar

import pytest

T = TypeVar("T")

PREFIX = "kvh-"
NETNS_RUN_DIR = "/run/netns"
CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_SLAVE = 1 << 19
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)


def have_root() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


requires_root = pytest.mark.skipif(
    not have_root(), reason="needs root and iproute2 to create network namespaces"
)


class RemoteError(Exception):
    """An exception raised inside :meth:`NetNS.call` that could not be sent back as itself."""


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _setns(fd: int, nstype: int) -> None:
    if hasattr(os, "setns"):  # Python >= 3.12
        os.setns(fd, nstype)
    else:
        _check(_libc.setns(fd, nstype), "setns")


def _private_sysfs(ns_name: str) -> None:
    """Give the calling process its own /sys for the current network namespace.

    Like ``ip netns exec``: a private mount namespace (mounts do not propagate back), then a
    fresh sysfs, so that /sys/class/net shows the namespace's links.
    """
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_SLAVE, None), "mount --make-rslave /")
    _libc.umount2(b"/sys", MNT_DETACH)  # may fail harmlessly if /sys was not mounted
    _check(_libc.mount(ns_name.encode(), b"/sys", b"sysfs", 0, None), "mount -t sysfs")


def _read_all(fd: int, deadline: float) -> bytes | None:
    """Read until EOF; None on timeout."""
    chunks: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


class NetNS:
    """A named network namespace that exists from :meth:`create` to :meth:`delete`."""

    def __init__(self, tag: str = "t") -> None:
        safe = "".join(c for c in tag if c.isalnum())[:12] or "t"
        self.name = f"{PREFIX}{safe}-{uuid.uuid4().hex[:8]}"
        self.created = False
        self._popens: list[subprocess.Popen[str]] = []

    # -- life cycle ----------------------------------------------------------------------------

    def create(self) -> Self:
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True, text=True)
        self.created = True
        self.ip("link", "set", "lo", "up")
        return self

    def delete(self) -> None:
        """Stop every process inside (by PID), then delete the namespace; safe to call twice."""
        if not self.created:
            return
        for p in self._popens:
            if p.poll() is None:
                p.kill()
            p.wait()
        self._popens.clear()
        self.kill_processes()
        subprocess.run(["ip", "netns", "del", self.name], check=False, capture_output=True)
        self.created = False

    def __enter__(self) -> Self:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.delete()

    def __repr__(self) -> str:
        return f"NetNS({self.name!r})"

    # -- processes -----------------------------------------------------------------------------

    def pids(self) -> list[int]:
        """PIDs of the processes whose network namespace is this one."""
        out = subprocess.run(["ip", "netns", "pids", self.name], check=False, capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def kill_processes(self, timeout: float = 5.0) -> None:
        pids = self.pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pids():
            time.sleep(0.05)
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        input: str | None = None,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run a program inside the namespace (``ip netns exec``: its own /sys too)."""
        proc = subprocess.run(
            ["ip", "netns", "exec", self.name, *argv],
            check=False, capture_output=True, text=True, input=input, timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} in {self.name} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
            )
        return proc

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[str]:
        """Start a long-running program inside; it is killed by :meth:`delete` at the latest."""
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(["ip", "netns", "exec", self.name, *argv], text=True, **kwargs)
        self._popens.append(p)
        return p

    def ip(self, *args: str) -> str:
        """``ip ARGS`` inside the namespace; returns stdout."""
        return self.run(["ip", *args]).stdout

    def ip_json(self, *args: str) -> Any:
        """``ip -j ARGS`` inside the namespace, decoded (``ip_json("-d", "link", "show", "br0")``)."""
        return json.loads(self.run(["ip", "-j", *args]).stdout or "null")

    def call(self, func: Callable[..., T], *args: Any, timeout: float = 60.0,
             sysfs: bool = True, **kwargs: Any) -> T:
        """Run ``func(*args, **kwargs)`` in a forked child that joined this namespace.

        The return value (or the exception) is pickled back, so it must be picklable; ``func``
        itself need not be (a lambda or closure works).  With ``sysfs`` the child also gets a
        private /sys of the namespace, like ``ip netns exec``.  Processes the callable starts
        (e.g. a daemon) stay in the namespace and are stopped by :meth:`delete`.  The child
        exits with ``os._exit`` and so runs no atexit handlers or fixture finalisers.
        """
        nsfd = os.open(os.path.join(NETNS_RUN_DIR, self.name), os.O_RDONLY | os.O_CLOEXEC)
        r, w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # child: never return into the caller's code
            try:
                os.close(r)
                with os.fdopen(w, "wb") as f:
                    f.write(_run_in_child(nsfd, self.name if sysfs else None, func, args, kwargs))
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(0)
        os.close(w)
        os.close(nsfd)
        try:
            data = _read_all(r, time.monotonic() + timeout)
        finally:
            os.close(r)
        if data is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            what = getattr(func, "__name__", repr(func))
            raise TimeoutError(f"{what} did not finish in {self.name} within {timeout} s")
        _, status = os.waitpid(pid, 0)
        if not data:
            raise RemoteError(f"the child in {self.name} died without a result (wait status {status})")
        kind, payload, text = pickle.loads(data)
        if kind == "ok":
            return pickle.loads(payload)  # type: ignore[no-any-return]
        try:
            exc = pickle.loads(payload) if payload is not None else None
        except Exception:  # noqa: BLE001 - an exception class that does not unpickle
            exc = None
        if not isinstance(exc, BaseException):
            raise RemoteError(f"raised inside network namespace {self.name}:\n{text}")
        exc.add_note(f"raised inside network namespace {self.name}:\n{text}")
        raise exc


def _run_in_child(nsfd: int, sysfs_for: str | None, func: Callable[..., Any],
                  args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """Join the namespace, run ``func`` and encode ("ok"|"err", pickled value, traceback text)."""
    try:
        _setns(nsfd, CLONE_NEWNET)
        if sysfs_for is not None:
            _private_sysfs(sysfs_for)
        value = func(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        text = traceback.format_exc()
        try:
            payload: bytes | None = pickle.dumps(exc)
        except Exception:  # noqa: BLE001
            payload = None
        return pickle.dumps(("err", payload, text))
    try:
        return pickle.dumps(("ok", pickle.dumps(value), ""))
    except Exception:  # noqa: BLE001
        text = f"the result {value!r} cannot be pickled:\n{traceback.format_exc()}"
        return pickle.dumps(("err", None, text))


def veth(a: NetNS, a_name: str, b: NetNS, b_name: str, *, up: bool = True) -> None:
    """A veth pair with ``a_name`` in ``a`` and ``b_name`` in ``b`` (created inside ``a``)."""
    a.ip("link", "add", a_name, "type", "veth", "peer", "name", b_name, "netns", b.name)
    if up:
        a.ip("link", "set", a_name, "up")
        b.ip("link", "set", b_name, "up")


@pytest.fixture
def netns() -> Iterator[Callable[[str], NetNS]]:
    """Factory fixture: ``netns("tag")`` creates a namespace; all are deleted at teardown."""
    if not have_root():
        pytest.skip("needs root and iproute2 to create network namespaces")
    made: list[NetNS] = []

    def make(tag: str = "t") -> NetNS:
        ns = NetNS(tag)
        made.append(ns)
        return ns.create()

    try:
        yield make
    finally:
        for ns in reversed(made):
            ns.delete()
