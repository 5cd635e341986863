"""Guest definitions and live state on disk, under ``$KVMNET_ROOT``.

Layout (as libvirt lays out ``/etc/libvirt/qemu`` and ``/run/libvirt/qemu``)::

    etc/kvmnet/guests/NAME.xml          persistent definition
    etc/kvmnet/guests/.lock             flock() held around every change
    run/kvmnet/guests/NAME.json         the guest's journal (the engine's one format): the
                                        undo of each start step, written before the step
                                        runs; its "info" is the run record (QEMU's pid, id,
                                        accelerator, sockets, ports)
    run/kvmnet/guests/NAME.xml          live definition (tap names, aliases, port ids)
    run/kvmnet/guests/NAME.pid          QEMU's own pid file
    run/kvmnet/guests/UUID.qmp          QMP socket
    run/kvmnet/guests/UUID.serialN      serial console sockets
    run/kvmnet/guests/.next-id          the next domain id
    var/log/kvmnet/guests/NAME.log      serial console log (kept after the guest stops)

A guest is running exactly when its journal exists *and* its QEMU is alive; a journal whose
QEMU is gone is stale and is undone (QEMU stopped if a start was interrupted, ports unplugged,
files removed) by the next command that looks at it (:mod:`kvmnet.guests.runner`).  Sockets are named by UUID so that the path
stays under the 107-byte limit of a unix socket whatever the guest's name.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kvmnet.config.store import name_problem as _name_problem
from kvmnet.engine.journal import ACTIVE, STARTING, Journal
from kvmnet.errors import InvalidArgError, KvmnetError
from kvmnet.fileio import FileLock, atomic_write
from kvmnet.paths import MAX_NAME_BYTES, Paths

#: What a run record holds: see runner.Runtime for the keys.
Record = dict[str, Any]


class CorruptGuestFile(KvmnetError):
    """A stored guest file cannot be read back (edited or damaged by hand)."""


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a guest (it is a file name and a QEMU -name), or None."""
    return _name_problem(name, "guest", MAX_NAME_BYTES)


def check_name(name: str) -> None:
    problem = name_problem(name)
    if problem is not None:
        raise InvalidArgError(problem)


class GuestStore:
    """Files of the guests under one state root."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.etc = paths.guests_etc
        self.run = paths.guests_run
        self.log = paths.guests_log
        self._lock = FileLock(self.etc / ".lock")

    def locked(self) -> FileLock:
        """Exclusive lock over all guests (``with store.locked():``); re-entrant."""
        return self._lock

    # -- paths -------------------------------------------------------------------------------
    def config_path(self, name: str) -> Path:
        return self.etc / f"{name}.xml"

    def status_path(self, name: str) -> Path:
        return self.run / f"{name}.xml"

    def record_path(self, name: str) -> Path:
        return self.run / f"{name}.json"

    def pid_path(self, name: str) -> Path:
        return self.run / f"{name}.pid"

    def qmp_path(self, uuid: str) -> Path:
        return self.run / f"{uuid}.qmp"

    def serial_path(self, uuid: str, port: int) -> Path:
        return self.run / f"{uuid}.serial{port}"

    def log_path(self, name: str, port: int = 0) -> Path:
        return self.log / (f"{name}.log" if port == 0 else f"{name}.serial{port}.log")

    # -- listing -----------------------------------------------------------------------------
    def defined_names(self) -> set[str]:
        return _names(self.etc, ".xml")

    def recorded_names(self) -> set[str]:
        """Guests with a run record (running, starting, or dead and not yet cleaned up)."""
        return _names(self.run, ".json")

    # -- definitions --------------------------------------------------------------------------
    def read_config(self, name: str) -> str | None:
        return _read(self.config_path(name))

    def write_config(self, name: str, text: str) -> None:
        self.etc.mkdir(parents=True, exist_ok=True)
        atomic_write(self.config_path(name), text.encode("utf-8"), 0o600)

    def delete_config(self, name: str) -> None:
        _unlink(self.config_path(name))

    # -- live state ---------------------------------------------------------------------------
    def read_status(self, name: str) -> str | None:
        return _read(self.status_path(name))

    def write_status(self, name: str, text: str) -> None:
        self.run.mkdir(parents=True, exist_ok=True)
        atomic_write(self.status_path(name), text.encode("utf-8"), 0o600)

    def journal(self, name: str) -> Journal | None:
        """The guest's journal (its run record is the ``info``), or None when it has none.

        A record written before guests had journals (a guest started by an older kvmnet) is
        read as the journal of the same changes, so that it is undone the same way."""
        path = self.record_path(name)
        text = _read(path)
        if text is None:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise CorruptGuestFile(f"run record {path} is damaged; stop the guest's QEMU by "
                                   "hand if it runs, then remove the file")
        if isinstance(data.get("info"), dict) and isinstance(data.get("steps"), list):
            return Journal(path, str(data.get("owner") or name), str(data.get("state")),
                           data["steps"], data["info"])
        info = {k: v for k, v in data.items() if k != "state"}
        return Journal(path, name, ACTIVE if data.get("state") == "running" else STARTING,
                       self.legacy_steps(name, info), info)

    def legacy_steps(self, name: str, info: Record) -> list[dict[str, Any]]:
        """The undo records of what an older kvmnet's start made, from its run record."""
        steps: list[dict[str, Any]] = []
        if isinstance(info.get("uuid"), str):
            steps.append({"kind": "port.owner", "owner_uuid": info["uuid"], "owner_name": name})
        steps += [{"kind": "port", "uuid": str(p), "network": None, "bridge": None}
                  for p in info.get("ports") or ()]
        paths = [str(self.status_path(name)), str(self.pid_path(name))]
        if isinstance(info.get("qmp"), str):
            paths.append(info["qmp"])
        paths += [s["socket"] for s in info.get("serials") or ()
                  if isinstance(s, dict) and isinstance(s.get("socket"), str)]
        steps.append({"kind": "qemu.files", "paths": paths})
        if isinstance(info.get("qmp"), str):
            steps.append({"kind": "qemu", "pid": info.get("pid"),
                          "pidfile": info.get("pidfile"), "qmp": info["qmp"]})
        return steps

    def read_record(self, name: str) -> Record | None:
        """The run record of the guest (its journal's info), or None."""
        journal = self.journal(name)
        return journal.info if journal is not None else None

    def next_id(self) -> int:
        """The next domain id (libvirt counts from 1 and never reuses one while it runs)."""
        path = self.run / ".next-id"
        text = _read(path)
        current = int(text) if text is not None and text.strip().isdigit() else 1
        self.run.mkdir(parents=True, exist_ok=True)
        atomic_write(path, f"{current + 1}\n".encode(), 0o600)
        return current


def _names(directory: Path, suffix: str) -> set[str]:
    try:
        entries = os.listdir(directory)
    except FileNotFoundError:
        return set()
    return {e[: -len(suffix)] for e in entries
            if e.endswith(suffix) and not e.startswith(".") and len(e) > len(suffix)}


def _read(path: Path) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
