"""A private Open vSwitch in a test's host namespace, for the OVS network and guest tests.

``kvmnet ovs start`` runs ovsdb-server and ovs-vswitchd (userspace datapath) in the
:class:`~tests.functional.kvmnet_env.KvEnv` host namespace with their files under its
``KVMNET_ROOT``; the real ``ovs-vsctl`` reads the same database to check what kvmnet wrote.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from typing import Any

import pytest

from tests.functional.kvmnet_env import KvEnv, describe
from tests.functional.netns import NetNS, veth

requires_ovs = [
    pytest.mark.skipif(shutil.which("ovsdb-server") is None or shutil.which("ovs-vswitchd") is None
                       or shutil.which("ovs-vsctl") is None,
                       reason="needs Open vSwitch (Debian package openvswitch-switch)"),
]


class Ovs:
    """The private Open vSwitch of ``env``'s host namespace."""

    def __init__(self, env: KvEnv) -> None:
        self.env = env
        self.sock = env.root / "run" / "openvswitch" / "db.sock"

    def start(self, *bridges: str) -> None:
        self.env.ok("ovs", "start")
        for br in bridges:
            self.add_br(br)

    def add_br(self, name: str) -> None:
        self.env.ok("ovs", "add-br", name)

    def add_port(self, bridge: str, name: str, *columns: str) -> None:
        """``kvmnet ovs add-port BRIDGE NAME COLUMNS...`` (ovs-vsctl's words)."""
        self.env.ok("ovs", "add-port", bridge, name, *columns)

    def stop(self) -> None:
        """Stop it; no ovsdb-server or ovs-vswitchd may be left in the namespace."""
        self.env.kv("ovs", "stop")
        deadline = time.monotonic() + 10
        while self.daemons() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.daemons() == [], f"OVS daemons left: {self.daemons()}"

    def daemons(self) -> list[str]:
        out = []
        for pid in self.env.host.pids():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm in ("ovsdb-server", "ovs-vswitchd"):
                out.append(f"{comm}[{pid}]")
        return out

    def vsctl(self, *args: str, check: bool = True) -> str:
        """The real ovs-vsctl on the same database (for checks, never for changes)."""
        proc = self.env.host.run(["ovs-vsctl", f"--db=unix:{self.sock}", "--timeout=10", *args],
                                 check=False)
        if check:
            assert proc.returncode == 0, f"ovs-vsctl {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    def ports(self, bridge: str) -> list[str]:
        return self.vsctl("list-ports", bridge).split()

    def columns(self, table: str, record: str, *cols: str) -> dict[str, Any]:
        """``ovs-vsctl --format=json list TABLE RECORD``'s columns, decoded to Python."""
        data = json.loads(self.vsctl("--format=json", f"--columns={','.join(cols)}", "list",
                                     table, record))
        row = data["data"][0]
        return {name: _datum(value) for name, value in zip(data["headings"], row, strict=True)}

    def count(self, table: str) -> int:
        data = json.loads(self.vsctl("--format=json", "--columns=_uuid", "list", table))
        return len(data["data"])

    def access_port(self, name: str, peer: NetNS, tag: int, address: str) -> None:
        """A veth from the host namespace into ``peer`` (eth0, ``address``), its host end an
        access port of VLAN ``tag``: a host on that VLAN."""
        veth(self.env.host, name, peer, "eth0")
        peer.ip("addr", "add", address, "dev", "eth0")
        self.add_port("ovsbr0", name, f"tag={tag}")


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
