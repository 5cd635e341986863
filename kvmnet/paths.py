"""Where kvmnet keeps its files: everything lives under ``$KVMNET_ROOT`` (default ``/``).

A plain class (no dataclass): every kvmnet command builds one, and start-up
time matters for a CLI.
"""
from __future__ import annotations

import os
from pathlib import Path


class Paths:
    __slots__ = ("root", "etc", "networks", "autostart", "lock", "run", "run_networks", "lib",
                 "dnsmasq", "programs")

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        value = root if root is not None else os.environ.get("KVMNET_ROOT") or "/"
        self.root = Path(value)
        self.etc = self.root / "etc" / "kvmnet"
        #: Persistent network definitions, one ``NAME.xml`` each.
        self.networks = self.etc / "networks"
        #: Autostart links ``NAME.xml -> ../NAME.xml``, as libvirt lays them out.
        self.autostart = self.networks / "autostart"
        self.lock = self.etc / ".lock"
        self.run = self.root / "run" / "kvmnet"
        #: Live state of active networks: status XML, run records, dnsmasq pid files.
        self.run_networks = self.run / "networks"
        self.lib = self.root / "var" / "lib" / "kvmnet"
        #: dnsmasq configuration, hosts files, lease database and helper per network.
        self.dnsmasq = self.lib / "dnsmasq"
        #: Compiled start programs (kvmnet.program), a cache.
        self.programs = self.lib / "programs"

    @classmethod
    def from_env(cls, root: str | os.PathLike[str] | None = None) -> Paths:
        return cls(root)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Paths) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def __repr__(self) -> str:
        return f"Paths({str(self.root)!r})"
