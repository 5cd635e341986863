"""Where kvmnet keeps its files: everything lives under ``$KVMNET_ROOT`` (default ``/``).

A plain class (no dataclass): every kvmnet command builds one, and start-up
time matters for a CLI.
"""
from __future__ import annotations

import os
from pathlib import Path

from kvmnet.fileio import TEMP_PREFIX_MAX_BYTES

#: Every suffix kvmnet adds to a network's (or guest's) name to make a file name: stored and
#: live definitions, journals and pid files, the start program, dnsmasq's files, the
#: lease database and its lock, guest logs.  A new kind of file named after the network
#: belongs here, so that the name limit below keeps it within a file name.
NAME_FILE_SUFFIXES = (".xml", ".json", ".pid", ".conf", ".servers", ".hostsfile", ".addnhosts",
                      ".status", ".status.lock", ".helper", ".log", ".serial3.log")
#: Linux's limit on one file name (NAME_MAX).
FILE_NAME_MAX_BYTES = 255
#: The one limit on a network name (validation, the store, guests): the longest name whose
#: every file, also while it is written atomically under its temporary name
#: (``.tmp-PID-RAND-NAME.hostsfile``), fits one file name.  217 bytes.
MAX_NAME_BYTES = FILE_NAME_MAX_BYTES - TEMP_PREFIX_MAX_BYTES - max(map(len, NAME_FILE_SUFFIXES))


class Paths:
    __slots__ = ("autostart", "dnsmasq", "etc", "guests_etc", "guests_log", "guests_run",
                 "interfaces", "lib", "lock", "networks", "ports", "programs", "root", "run",
                 "run_interfaces", "run_networks")

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
        #: Live state of active networks: status XML, journals (kvmnet.engine.journal), dnsmasq pid
        #: files.
        self.run_networks = self.run / "networks"
        #: Guest ports of networks: ``NETWORK/UUID.xml`` (libvirt's networkport status) and
        #: ``NETWORK/UUID.json`` (what kvmnet made on the host for it); see kvmnet.port.ports.
        self.ports = self.run / "ports"
        self.lib = self.root / "var" / "lib" / "kvmnet"
        #: dnsmasq configuration, hosts files, lease database and helper per network.
        self.dnsmasq = self.lib / "dnsmasq"
        #: Compiled start programs (kvmnet.network.program), a cache.
        self.programs = self.lib / "programs"
        #: Guest (domain) definitions, one ``NAME.xml`` each (kvmnet.guests).
        self.guests_etc = self.etc / "guests"
        #: Running guests: live XML, run record, QEMU pid file, QMP and console sockets.
        self.guests_run = self.run / "guests"
        #: Guests' serial console logs (kept after the guest stops, as libvirt keeps its logs).
        self.guests_log = self.root / "var" / "log" / "kvmnet" / "guests"
        #: Host interface definitions (libvirt's interface XML), one ``NAME.xml`` each.
        self.interfaces = self.etc / "interfaces"
        #: Live state of host interfaces: links kvmnet created, the open change transaction
        #: (``iface-begin``) and the PID of a confirm-timeout guard.
        self.run_interfaces = self.run / "interfaces"

    @classmethod
    def from_env(cls, root: str | os.PathLike[str] | None = None) -> Paths:
        return cls(root)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Paths) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def __repr__(self) -> str:
        return f"Paths({str(self.root)!r})"
