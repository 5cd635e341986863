"""Where kvmnet keeps its files: everything lives under ``$KVMNET_ROOT`` (default ``/``)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    root: Path

    @classmethod
    def from_env(cls, root: str | os.PathLike[str] | None = None) -> Paths:
        value = root if root is not None else os.environ.get("KVMNET_ROOT") or "/"
        return cls(Path(value))

    @property
    def etc(self) -> Path:
        return self.root / "etc" / "kvmnet"

    @property
    def networks(self) -> Path:
        """Persistent network definitions, one ``NAME.xml`` each."""
        return self.etc / "networks"

    @property
    def autostart(self) -> Path:
        """Autostart links ``NAME.xml -> ../NAME.xml``, as libvirt lays them out."""
        return self.networks / "autostart"

    @property
    def run(self) -> Path:
        return self.root / "run" / "kvmnet"

    @property
    def run_networks(self) -> Path:
        """Live state of active networks (status XML and what start created)."""
        return self.run / "networks"

    @property
    def lib(self) -> Path:
        return self.root / "var" / "lib" / "kvmnet"

    @property
    def dnsmasq(self) -> Path:
        return self.lib / "dnsmasq"

    @property
    def lock(self) -> Path:
        return self.etc / ".lock"
