"""A private Open vSwitch in a throwaway namespace, for the functional OVS tests (root).

``ovs`` fixture: a namespace with a temporary ``KVMNET_ROOT`` in which ``kvmnet ovs start`` ran
(ovsdb-server + ovs-vswitchd, userspace datapath); yields an :class:`OvsEnv`.  Teardown runs
``kvmnet ovs stop``, checks by PID that neither daemon is left and that the socket is gone,
then deletes the namespace and the root.

The database socket is a path in the file system, so the test process itself can talk to it
(``env.switch()``) and so can the real ``ovs-vsctl`` (``env.vsctl(...)``, for comparisons);
anything that makes devices runs inside the namespace (``env.ns``).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.kvmnet_env import KVMNET
from tests.functional.netns import NetNS

VSCTL = shutil.which("ovs-vsctl") or "/usr/bin/ovs-vsctl"


class OvsEnv:
    def __init__(self, ns: NetNS, root: Path) -> None:
        self.ns = ns
        self.root = root
        self.socket = root / "run" / "openvswitch" / "db.sock"
        self.db = f"unix:{self.socket}"

    def kvmnet(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``kvmnet ARGS`` inside the namespace with this root."""
        return self.ns.run(["env", f"KVMNET_ROOT={self.root}", KVMNET, *args], check=check)

    def vsctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The real ovs-vsctl on the same database (``--no-wait`` unless given otherwise)."""
        proc = subprocess.run([VSCTL, f"--db={self.db}", "--timeout=20", *args],
                              capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"ovs-vsctl {' '.join(args)}: {proc.returncode}: {proc.stderr}")
        return proc

    def switch(self, **kwargs: Any) -> Any:
        from kvmnet.ovs.client import Switch

        return Switch.open(self.db, **kwargs)

    def pids(self) -> dict[str, int | None]:
        from kvmnet.ovs import daemon

        state = daemon.status(str(self.root))
        return {d: state[d] for d in daemon.DAEMONS}

    def tap(self, name: str) -> None:
        self.ns.ip("tuntap", "add", "dev", name, "mode", "tap")
        self.ns.ip("link", "set", name, "up")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.fixture
def ovs() -> Iterator[OvsEnv]:
    if shutil.which("ovsdb-server", path=os.environ.get("PATH", "") + ":/usr/sbin") is None:
        pytest.skip("Open vSwitch is not installed (scripts/setup.sh installs openvswitch-switch)")
    root = Path(tempfile.mkdtemp(prefix="kvmnet-ovs-"))
    ns = NetNS("ovs").create()
    env = OvsEnv(ns, root)
    try:
        env.kvmnet("ovs", "start")
        started = env.pids()
        assert all(started.values()), started
        yield env
    finally:
        pids = [p for p in env.pids().values() if p]
        env.kvmnet("ovs", "stop", check=False)
        left = [p for p in pids if _alive(p)]
        socket_left = env.socket.exists()
        ns.delete()
        shutil.rmtree(root, ignore_errors=True)
        assert not left, f"Open vSwitch daemons left running after kvmnet ovs stop: {left}"
        assert not socket_left, "kvmnet ovs stop left the database socket"
