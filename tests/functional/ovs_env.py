"""A private Open vSwitch for the functional OVS tests (root): one helper for every use.

:class:`OvsEnv` is ``kvmnet ovs start``'s ovsdb-server and ovs-vswitchd (userspace datapath)
in one network namespace, with their files under one ``KVMNET_ROOT``:

* the ``ovs`` fixture makes a throwaway namespace and root for it (the verb and client tests);
* :meth:`OvsEnv.of` runs it in a :class:`~tests.functional.kvmnet_env.KvEnv`'s host namespace
  and root (the network and guest tests, whose networks and guests it serves).

:meth:`OvsEnv.stop` runs ``kvmnet ovs stop`` and checks, by the daemons' PIDs, that neither is
left and that the database socket is gone.  The socket is a path in the file system, so the
test process itself talks to it (:meth:`OvsEnv.switch`) and so does the real ``ovs-vsctl``
(:meth:`OvsEnv.vsctl`, for comparisons and checks, never for changes); anything that makes
devices runs inside the namespace (``env.ns``).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.kvmnet_env import KVMNET, KvEnv, describe
from tests.functional.netns import NetNS, veth

VSCTL = shutil.which("ovs-vsctl") or "/usr/bin/ovs-vsctl"

requires_ovs = [
    pytest.mark.skipif(shutil.which("ovsdb-server") is None or shutil.which("ovs-vswitchd") is None
                       or shutil.which("ovs-vsctl") is None,
                       reason="needs Open vSwitch (Debian package openvswitch-switch)"),
]


class OvsEnv:
    """The private Open vSwitch of namespace ``ns`` and state root ``root``."""

    def __init__(self, ns: NetNS, root: Path) -> None:
        self.ns = ns
        self.root = root
        self.socket = root / "run" / "openvswitch" / "db.sock"
        self.db = f"unix:{self.socket}"

    @classmethod
    def of(cls, env: KvEnv) -> OvsEnv:
        """The Open vSwitch of ``env``'s host namespace, under its root."""
        return cls(env.host, env.root)

    # -- kvmnet's side --------------------------------------------------------------------------
    def kvmnet(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``kvmnet ARGS`` inside the namespace with this root."""
        proc = self.ns.run(["env", f"KVMNET_ROOT={self.root}", KVMNET, *args], check=False)
        if check:
            assert proc.returncode == 0, describe(proc)
        return proc

    def start(self, *bridges: str) -> None:
        self.kvmnet("ovs", "start")
        started = self.pids()
        assert all(started.values()), started
        for br in bridges:
            self.add_br(br)

    def add_br(self, name: str) -> None:
        self.kvmnet("ovs", "add-br", name)

    def add_port(self, bridge: str, name: str, *columns: str) -> None:
        """``kvmnet ovs add-port BRIDGE NAME COLUMNS...`` (ovs-vsctl's words)."""
        self.kvmnet("ovs", "add-port", bridge, name, *columns)

    def stop(self) -> None:
        """Stop it; no ovsdb-server or ovs-vswitchd may be left, nor the socket."""
        pids = [p for p in self.pids().values() if p]
        self.kvmnet("ovs", "stop", check=False)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [p for p in pids if _alive(p)]
        assert not left, f"Open vSwitch daemons left running after kvmnet ovs stop: {left}"
        assert not self.socket.exists(), "kvmnet ovs stop left the database socket"

    def switch(self, **kwargs: Any) -> Any:
        from kvmnet.ovs.client import Switch

        return Switch.open(self.db, **kwargs)

    def pids(self) -> dict[str, int | None]:
        from kvmnet.ovs import daemon

        state = daemon.status(str(self.root))
        return {d: state[d] for d in daemon.DAEMONS}

    def pid(self, daemon: str) -> int:
        pid = self.pids()[daemon]
        assert pid is not None, f"{daemon} does not run"
        return pid

    # -- devices ---------------------------------------------------------------------------------
    def tap(self, name: str) -> None:
        self.ns.ip("tuntap", "add", "dev", name, "mode", "tap")
        self.ns.ip("link", "set", name, "up")

    def access_port(self, name: str, peer: NetNS, tag: int, address: str,
                    bridge: str = "ovsbr0") -> None:
        """A veth from this namespace into ``peer`` (eth0, ``address``), its near end an
        access port of VLAN ``tag``: a host on that VLAN."""
        veth(self.ns, name, peer, "eth0")
        peer.ip("addr", "add", address, "dev", "eth0")
        self.add_port(bridge, name, f"tag={tag}")

    # -- what ovs-vsctl sees ----------------------------------------------------------------------
    def vsctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The real ovs-vsctl on the same database."""
        proc = subprocess.run([VSCTL, f"--db={self.db}", "--timeout=20", *args],
                              capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"ovs-vsctl {' '.join(args)}: {proc.returncode}: {proc.stderr}")
        return proc

    def out(self, *args: str) -> str:
        """What ovs-vsctl prints (it must succeed)."""
        return self.vsctl(*args).stdout

    def ports(self, bridge: str) -> list[str]:
        return self.out("list-ports", bridge).split()

    def columns(self, table: str, record: str, *cols: str) -> dict[str, Any]:
        """``ovs-vsctl --format=json list TABLE RECORD``'s columns, decoded to Python."""
        data = json.loads(self.out("--format=json", f"--columns={','.join(cols)}", "list",
                                   table, record))
        row = data["data"][0]
        return {name: _datum(value) for name, value in zip(data["headings"], row, strict=True)}

    def count(self, table: str) -> int:
        data = json.loads(self.out("--format=json", "--columns=_uuid", "list", table))
        return len(data["data"])


def _datum(value: Any) -> Any:
    """OVSDB's JSON datum as Python: maps to dicts, sets to lists, atoms as they are."""
    if isinstance(value, list) and len(value) == 2 and value[0] in ("map", "set", "uuid"):
        kind, inner = value
        if kind == "map":
            return {k: _datum(v) for k, v in inner}
        if kind == "set":
            return [_datum(v) for v in inner]
        return inner
    return value


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
        env.start()
        yield env
    finally:
        try:
            env.stop()
        finally:
            ns.delete()
            shutil.rmtree(root, ignore_errors=True)


def dnsmasq(ns: NetNS, first: str, last: str, *hosts: str) -> subprocess.Popen[str]:
    """A DHCP server on ``ns``'s eth0 (libvirt's bridge-mode networks have none: the LAN's
    does the job), handing out ``first``-``last`` and the ``hosts`` (MAC,IP) reservations."""
    argv = ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
            "--interface=eth0", "--bind-interfaces", "--user=root", "--leasefile-ro",
            f"--dhcp-range={first},{last},255.255.255.0,1h", "--log-dhcp"]
    argv += [f"--dhcp-host={h}" for h in hosts]
    proc = ns.popen(argv)
    time.sleep(0.3)
    assert proc.poll() is None, proc.communicate()
    return proc


def ok(env: KvEnv, *args: str) -> str:
    proc = env.kv(*args)
    assert proc.returncode == 0, describe(proc)
    return proc.stdout
