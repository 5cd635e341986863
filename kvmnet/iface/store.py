"""Host interface definitions and their run-time records, under ``$KVMNET_ROOT``.

Layout::

    etc/kvmnet/interfaces/NAME.xml          persistent definition (libvirt interface XML)
    run/kvmnet/interfaces/created.json      links kvmnet created (only those may be deleted)
    run/kvmnet/interfaces/transaction.json  the open change transaction (iface-begin): saved
                                            definitions and live state to roll back to
    run/kvmnet/interfaces/guard.pid         "PID TOKEN" of a confirm-timeout guard process
    run/kvmnet/interfaces/journal.json      the journal of a live change while it runs (the
                                            engine's one format; see kvmnet.iface.interfaces)

Every write is atomic (:func:`kvmnet.fileio.atomic_write`) and every read-modify-write runs
under the store lock shared with the network store (``etc/kvmnet/.lock``), so that kvmnet
processes -- including a guard rolling back on its own -- never interleave their changes.
The transaction lives under ``run/`` on purpose: it records live state, which a reboot
discards anyway.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kvmnet.config.store import CorruptStoreError, Store, strip_header
from kvmnet.errors import InvalidArgError
from kvmnet.fileio import atomic_write, fsync_dir
from kvmnet.model.interface import InterfaceDef
from kvmnet.paths import Paths

_HEADER_START = "<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE."
_SUFFIX = ".xml"
IFNAMSIZ = 16


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a host interface (Linux's dev_valid_name rules), or None."""
    shown = repr(name)
    if not name:
        return "interface name is empty; give the interface a name='...'"
    if name in (".", ".."):
        return f"interface name {shown} is not allowed; choose another name"
    if name.startswith("."):
        return f"interface name {shown} starts with '.'; choose a name that does not"
    if len(name.encode("utf-8", "surrogateescape")) >= IFNAMSIZ:
        return (f"interface name {shown} is too long: Linux allows at most {IFNAMSIZ - 1} "
                "bytes; choose a shorter name")
    if any(c in name for c in "/:") or any(c.isspace() or ord(c) < 0x20 for c in name):
        return (f"interface name {shown} contains '/', ':', whitespace or a control "
                "character, which Linux forbids in device names; choose another name")
    return None


def check_name(name: str) -> None:
    problem = name_problem(name)
    if problem is not None:
        raise InvalidArgError(problem)


def header_comment(name: str) -> str:
    who = f" {name}" if "--" not in name and not name.endswith("-") else ""
    return (f"{_HEADER_START} CHANGES TO IT ARE LIKELY TO BE\n"
            "OVERWRITTEN AND LOST. Changes to this xml configuration should be made using:\n"
            f"  kvmnet iface-edit{who}\n"
            "or other application using the kvmnet API.\n"
            "-->\n\n")


class IfaceStore:
    """Definitions and records of host interfaces under one state root."""

    def __init__(self, paths: Paths | None = None) -> None:
        self.paths = paths if paths is not None else Paths()
        # The network store's lock: one lock for all of kvmnet's read-modify-write cycles.
        self._store = Store(self.paths)

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._store.locked():
            yield

    # -- definitions ------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        check_name(name)
        return self.paths.interfaces / f"{name}{_SUFFIX}"

    def names(self) -> list[str]:
        try:
            files = os.listdir(self.paths.interfaces)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(f[:-4] for f in files
                      if f.endswith(_SUFFIX) and len(f) > 4 and name_problem(f[:-4]) is None)

    def read(self, name: str) -> str | None:
        """A definition's text without the header comment, or None when not defined."""
        if name_problem(name) is not None:
            return None
        path = self.path(name)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            return strip_header(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise CorruptStoreError(f"stored file {path} is not UTF-8; fix it by hand or "
                                    "remove it") from None

    def load(self, name: str) -> InterfaceDef | None:
        from kvmnet.errors import XMLParseError
        from kvmnet.xmlio.interface import parse_interface

        text = self.read(name)
        if text is None:
            return None
        try:
            iface = parse_interface(text, f"stored definition {self.path(name)}")
        except XMLParseError as exc:
            raise CorruptStoreError(f"{exc.message}; fix the file by hand or remove it") from None
        if iface.name != name:
            raise CorruptStoreError(f"stored file {self.path(name)} defines interface "
                                    f"'{iface.name}', not '{name}'; rename or remove the file")
        return iface

    def load_all(self) -> dict[str, InterfaceDef]:
        out: dict[str, InterfaceDef] = {}
        for name in self.names():
            iface = self.load(name)
            if iface is not None:
                out[name] = iface
        return out

    def write(self, iface: InterfaceDef) -> None:
        from kvmnet.xmlio.interface import format_interface

        self.write_text(iface.name, format_interface(iface))

    def write_text(self, name: str, xml: str) -> None:
        path = self.path(name)
        with self.locked():
            self.paths.interfaces.mkdir(parents=True, exist_ok=True)
            atomic_write(path, (header_comment(name) + xml).encode("utf-8"))

    def delete(self, name: str) -> bool:
        path = self.path(name)
        with self.locked():
            try:
                path.unlink()
            except FileNotFoundError:
                return False
            fsync_dir(path.parent)
            return True

    def files(self) -> dict[str, str]:
        """Every definition's text, for a transaction snapshot."""
        out: dict[str, str] = {}
        for name in self.names():
            text = self.read(name)
            if text is not None:
                out[name] = text
        return out

    def restore_files(self, files: dict[str, str]) -> None:
        """Make the definitions exactly ``files`` (name -> text)."""
        with self.locked():
            for name in self.names():
                if name not in files:
                    self.delete(name)
            for name, text in files.items():
                if self.read(name) != text:
                    self.write_text(name, text)

    # -- run-time records -------------------------------------------------------------------
    def _run_file(self, leaf: str) -> Path:
        return self.paths.run_interfaces / leaf

    def _read_json(self, leaf: str) -> Any:
        path = self._run_file(leaf)
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (ValueError, UnicodeDecodeError):
            raise CorruptStoreError(f"run-time file {path} is damaged; remove it") from None

    def _write_json(self, leaf: str, value: Any) -> None:
        with self.locked():
            self.paths.run_interfaces.mkdir(parents=True, exist_ok=True)
            atomic_write(self._run_file(leaf), json.dumps(value, indent=1).encode(), mode=0o600)

    def _delete(self, leaf: str) -> bool:
        path = self._run_file(leaf)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def created(self) -> set[str]:
        """Links kvmnet created (bridges, VLANs, bonds): the only ones it deletes on its own."""
        value = self._read_json("created.json")
        return set(value) if isinstance(value, list) else set()

    def set_created(self, names: set[str]) -> None:
        self._write_json("created.json", sorted(names))

    def transaction(self) -> dict[str, Any] | None:
        value = self._read_json("transaction.json")
        return value if isinstance(value, dict) else None

    def write_transaction(self, value: dict[str, Any]) -> None:
        self._write_json("transaction.json", value)

    def delete_transaction(self) -> bool:
        with self.locked():
            return self._delete("transaction.json")

    def guard(self) -> tuple[int, str] | None:
        """(PID, token) of the confirm-timeout guard, if one was recorded."""
        try:
            words = self._run_file("guard.pid").read_text().split()
        except FileNotFoundError:
            return None
        if len(words) == 2 and words[0].isdigit():
            return int(words[0]), words[1]
        return None

    def write_guard(self, pid: int, token: str) -> None:
        with self.locked():
            self.paths.run_interfaces.mkdir(parents=True, exist_ok=True)
            atomic_write(self._run_file("guard.pid"), f"{pid} {token}\n".encode(), mode=0o600)

    def delete_guard(self) -> bool:
        with self.locked():
            return self._delete("guard.pid")

    @property
    def guard_log(self) -> Path:
        return self._run_file("guard.log")


# -- rules across definitions ---------------------------------------------------------------------
def check_definition(iface: InterfaceDef) -> None:
    """Rules a definition must follow beyond the schema (every name is a host device)."""
    check_name(iface.name)
    seen: set[str] = set()
    for d in iface.walk()[1:]:
        problem = name_problem(d.name)
        if problem is not None:
            raise InvalidArgError(problem)
        if d.name == "lo":
            raise InvalidArgError(f"the loopback device lo cannot be part of {iface.type} "
                                  f"'{iface.name}': it carries only the host's own traffic; "
                                  "remove it from the definition")
        if d.name == iface.name:
            raise InvalidArgError(f"{iface.type} '{iface.name}' cannot contain itself: remove "
                                  "the nested interface of the same name")
        if d.name in seen:
            raise InvalidArgError(f"interface '{d.name}' is listed twice in '{iface.name}': "
                                  "list each device once")
        seen.add(d.name)
    for d in iface.walk():
        if d.vlan is not None and d.vlan.device in ("lo", d.name):
            raise InvalidArgError(f"VLAN '{d.name}' cannot sit on '{d.vlan.device}': name an "
                                  "ethernet device in <vlan><interface name=.../>")


def check_clash(new: InterfaceDef, other: InterfaceDef) -> None:
    """A new definition must not share a MAC or a port with another one."""
    from kvmnet.errors import ConflictError

    for mac in new.macs():
        if mac in other.macs():
            raise ConflictError(f"MAC address {mac} is already used by the definition of "
                                f"interface '{other.name}'; every interface needs its own MAC: "
                                "change the address or undefine the other interface")
    mine = {d.name for d in new.walk()[1:]}
    theirs = {d.name for d in other.walk()[1:]}
    how = (f"'kvmnet iface-unbridge {other.name}'" if other.type == "bridge"
           else f"'kvmnet iface-edit {other.name}'")
    both = sorted(mine & theirs)
    if both:
        raise ConflictError(f"interface '{both[0]}' is already part of {other.type} "
                            f"'{other.name}'; a device can belong to one bridge or bond only: "
                            f"take it out there first ({how})")
    if new.name in theirs:
        raise ConflictError(f"interface '{new.name}' is part of {other.type} '{other.name}', so "
                            f"it cannot have a definition of its own; detach it first ({how})")
