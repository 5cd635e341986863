"""Where kvmnet keeps its files: everything lives under ``$KVMNET_ROOT`` (default ``/``).

A plain class (no dataclass): every kvmnet command builds one, and start-up
time matters for a CLI.  Its attributes are :class:`pathlib.Path` objects, made on first
use: ``net-undefine`` and the store's other cold paths name their files with
:meth:`Paths.text` (plain strings), so that they need not import pathlib, which pulls in
``re``, ``fnmatch`` and ``urllib.parse`` (~6 ms of a ~30 ms cold undefine, measured).
"""
from __future__ import annotations

import os

from kvmnet.fileio import TEMP_PREFIX_MAX_BYTES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

#: Every suffix kvmnet adds to a network's (or guest's) name to make a file name: stored and
#: live definitions, journals and pid files, the start program, dnsmasq's files, the
#: lease database and its lock, guest logs.  A new kind of file named after the network
#: belongs here, so that the name limit below keeps it within a file name.
NAME_FILE_SUFFIXES = (".xml", ".json", ".json.lock", ".pid", ".conf", ".servers", ".hostsfile",
                      ".addnhosts", ".status", ".status.lock", ".helper", ".log", ".serial3.log")
#: Linux's limit on one file name (NAME_MAX).
FILE_NAME_MAX_BYTES = 255
#: The one limit on a network name (validation, the store, guests): the longest name whose
#: every file, also while it is written atomically under its temporary name
#: (``.tmp-PID-RAND-NAME.hostsfile``), fits one file name.  217 bytes.
MAX_NAME_BYTES = FILE_NAME_MAX_BYTES - TEMP_PREFIX_MAX_BYTES - max(map(len, NAME_FILE_SUFFIXES))


#: Each location, as the folders below the root that lead to it (one table: the Path attributes
#: of :class:`Paths` and :meth:`Paths.text` both read it).
LAYOUT: dict[str, tuple[str, ...]] = {
    "etc": ("etc", "kvmnet"),
    # Persistent network definitions, one ``NAME.xml`` each.
    "networks": ("etc", "kvmnet", "networks"),
    # Autostart links ``NAME.xml -> ../NAME.xml``, as libvirt lays them out.
    "autostart": ("etc", "kvmnet", "networks", "autostart"),
    "lock": ("etc", "kvmnet", ".lock"),
    "run": ("run", "kvmnet"),
    # Live state of active networks: status XML, journals (kvmnet.engine.journal), dnsmasq pid
    # files.
    "run_networks": ("run", "kvmnet", "networks"),
    # Guest ports of networks: ``NETWORK/UUID.xml`` (libvirt's networkport status) and
    # ``NETWORK/UUID.json`` (what kvmnet made on the host for it); see kvmnet.port.ports.
    "ports": ("run", "kvmnet", "ports"),
    "lib": ("var", "lib", "kvmnet"),
    # dnsmasq configuration, hosts files, lease database and helper per network.
    "dnsmasq": ("var", "lib", "kvmnet", "dnsmasq"),
    # Compiled start programs (kvmnet.network.program), a cache.
    "programs": ("var", "lib", "kvmnet", "programs"),
    # Guest (domain) definitions, one ``NAME.xml`` each (kvmnet.guests).
    "guests_etc": ("etc", "kvmnet", "guests"),
    # Running guests: live XML, run record, QEMU pid file, QMP and console sockets.
    "guests_run": ("run", "kvmnet", "guests"),
    # Guests' serial console logs (kept after the guest stops, as libvirt keeps its logs).
    "guests_log": ("var", "log", "kvmnet", "guests"),
    # Host interface definitions (libvirt's interface XML), one ``NAME.xml`` each.
    "interfaces": ("etc", "kvmnet", "interfaces"),
    # Live state of host interfaces: links kvmnet created, the open change transaction
    # (``iface-begin``) and the PID of a confirm-timeout guard.
    "run_interfaces": ("run", "kvmnet", "interfaces"),
}


class Paths:
    __slots__ = ("_made", "_root")

    # the locations of LAYOUT, as Path objects (made on first use by __getattr__)
    root: Path
    etc: Path
    networks: Path
    autostart: Path
    lock: Path
    run: Path
    run_networks: Path
    ports: Path
    lib: Path
    dnsmasq: Path
    programs: Path
    guests_etc: Path
    guests_run: Path
    guests_log: Path
    interfaces: Path
    run_interfaces: Path

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        value = root if root is not None else os.environ.get("KVMNET_ROOT") or "/"
        self._root = os.fspath(value)
        self._made: dict[str, Path] = {}

    def __getattr__(self, name: str) -> Path:
        if name.startswith("_") or (name != "root" and name not in LAYOUT):
            raise AttributeError(name)
        made = self._made.get(name)
        if made is None:
            from pathlib import Path

            made = self._made[name] = Path(self.text(name))
        return made

    def text(self, name: str) -> str:
        """Location ``name`` (``"root"`` or a key of :data:`LAYOUT`) as a plain string."""
        if name == "root":
            return self._root
        return os.path.join(self._root, *LAYOUT[name])

    @classmethod
    def from_env(cls, root: str | os.PathLike[str] | None = None) -> Paths:
        return cls(root)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Paths) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def __repr__(self) -> str:
        return f"Paths({self._root!r})"
