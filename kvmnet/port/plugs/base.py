"""The plugger interface: the host side of a guest port for one plug type.

os-vif's plugin shape: a plugger is stateless; what it made on the host is the port's run
record (a JSON-able dict, ``run/kvmnet/ports/NETWORK/UUID.json``), which it writes as soon as
there is something to undo and reads back to unplug, so that a crash mid-plug leaves
something to clean up with.  Pluggers are registered in :mod:`kvmnet.port.plugs`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from kvmnet.engine.journal import Journal
from kvmnet.model.frozen import frozen

if TYPE_CHECKING:
    from kvmnet.engine.executor import Context
    from kvmnet.engine.host import Host
    from kvmnet.host.netlink import Netlink
    from kvmnet.model.port import NetworkPort


# -- run records (shared by every plugger) ------------------------------------------------------
def write(path: Path, text: str) -> None:
    """Replace ``path`` atomically (temp file + rename); see the module docstring for no fsync."""
    tmp = path.with_name(f".tmp-{os.getpid()}-{os.urandom(4).hex()}-{path.name}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        unlink(tmp)
        raise


def unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def save(record: Path, rec: dict[str, Any]) -> None:
    """Write a port's run record: its journal (see :class:`PortJournal`)."""
    if "undo" not in rec:  # written by a kvmnet older than port journals
        write(record, json.dumps(rec))
        return
    info = {k: v for k, v in rec.items() if k not in ("undo", "state")}
    write(record, json.dumps({"owner": rec.get("uuid"), "state": rec.get("state", "active"),
                              "steps": rec["undo"], "info": info}))


def load_record(directory: Path, port_uuid: str) -> dict[str, Any] | None:
    """A port's run record (``info``, with its journal's steps under ``"undo"`` and state under
    ``"state"``), or None when it is missing or damaged (a port without host state: its files
    still go)."""
    try:
        data = json.loads((directory / f"{port_uuid}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and isinstance(data.get("info"), dict):
        rec = data["info"]
        rec["undo"] = list(data.get("steps") or [])
        rec["state"] = str(data.get("state"))
        data = rec
    return data if isinstance(data, dict) and "tap" in data else None


class PortJournal(Journal):
    """A port's journal in the engine's one format, kept in the port's record ``rec`` (which
    the rest of the port code reads): its undo records are ``rec["undo"]``, its state
    ``rec["state"]``.  Saved without fsync (run-time state; plugging must be fast)."""

    path: Path

    def __init__(self, path: Path, rec: dict[str, Any]) -> None:
        self.rec = rec
        super().__init__(path, str(rec.get("uuid")), str(rec.get("state") or "starting"),
                         rec.setdefault("undo", []), rec)

    @property  # type: ignore[override]
    def state(self) -> str:
        return str(self.rec.get("state"))

    @state.setter
    def state(self, value: str) -> None:
        self.rec["state"] = value

    def save(self, durable: bool = True) -> None:
        # Never fsynced, whatever ``durable`` says: run-time state that does not outlive a
        # reboot (see write).  Nothing journalled yet, nothing to undo: the executor's first write is not needed
        # (~0.15 ms of every plug, bench/bench_ports.py).
        if self.steps:
            save(self.path, self.rec)


def context(nl: Netlink | None, host: Host | None = None) -> Context:
    """The executor's context for a port's steps: the real host adapters, or ``host`` (a
    recording host in golden tests)."""
    from kvmnet.engine.executor import Context

    if host is None:
        from kvmnet.engine.host import Host as RealHost

        host = RealHost()
    return Context(host, nl=nl)


def undo_journal(rec: dict[str, Any], ctx: Context, quiet: bool = False) -> None:
    """Undo what a port's journal (its record ``rec``) lists; what is already gone is fine.
    Raises HostError naming what could not be undone, unless ``quiet``."""
    from kvmnet.engine.executor import undo
    from kvmnet.errors import HostError

    with ctx:
        failures = undo(PortJournal(Path(f"{rec['uuid']}.json"), rec), ctx)
    if failures and not quiet:
        raise HostError("; ".join(failures))


@frozen
class PlugOptions:
    """How to plug, beyond the port itself (the caller's choices, see ``ports.plug``)."""

    mtu: int | None = None
    tap_name: str | None = None
    device: str | None = None  # adopt this existing link instead of making one
    multi_queue: bool = False
    vlan_filtering: bool = False  # turn VLAN filtering on on the bridge if a VLAN needs it
    owned_bridge: bool = False  # the network made this bridge (no need to check its kind)
    pool: tuple[str, ...] = ()  # the network's devices a port may go on (ModeRules.device_pool)
    # where a plugger may make run-time files such as device nodes: run/kvmnet, var/lib/kvmnet
    state_dirs: tuple[str, ...] = ()
    #: the kvmnet state root ($KVMNET_ROOT) making the port: marks what it made on a switch
    #: shared with others (Open vSwitch), so that reconcile touches only its own
    state_root: str = ""


class Plugger:
    """One plug type's host side; subclasses are registered in :mod:`kvmnet.port.plugs`."""

    #: what it plugs into, for messages
    label: ClassVar[str] = "plugger"

    def plug(self, nl: Netlink, directory: Path, port: NetworkPort, network: str | None,
             opts: PlugOptions, host: Host | None = None) -> dict[str, Any]:
        """Make the host side of ``port`` (allocated: it has its ``<plug>``) as engine steps
        run by the executor through ``host`` (default: the real one; a recording host in
        golden tests); returns its run record, the journal ``directory/UUID.json``.  On
        failure everything is undone."""
        raise NotImplementedError

    def plugged(self, port: NetworkPort, rec: dict[str, Any]) -> NetworkPort:
        """``port`` as plugged, for its ``<networkport>`` status (e.g. the VF it was given)."""
        return port

    def unplug(self, nl: Netlink, rec: dict[str, Any], quiet: bool = False,
               host: Host | None = None) -> None:
        """Undo what ``rec``'s journal lists; what is already gone is fine (``quiet``: no
        errors)."""
        undo_journal(rec, context(nl, host), quiet)

    def attach(self, nl: Netlink, rec: dict[str, Any], port: NetworkPort, *,
               vlan_filtering: bool) -> None:
        """Put a kept port back on its network's (new) switch (``net-start``)."""
        raise NotImplementedError

    def detach(self, nl: Netlink, rec: dict[str, Any]) -> None:
        """Take a port off its switch and keep it (``net-destroy``)."""
        raise NotImplementedError

    def is_ours(self, rec: dict[str, Any]) -> bool:
        """Whether the device ``rec`` names is still the one this plugger made."""
        raise NotImplementedError

    def settle(self, recs: list[dict[str, Any]]) -> None:
        """Wait until the switch behind these plugged ports has taken them, and raise
        (naming each port and why) when it could not.  :meth:`plug` does not wait for a
        switch that applies changes behind it (it is the hot path); a guest start settles
        its ports once, after plugging them all.  Default: nothing to wait for (the kernel
        applied everything when plug returned)."""

    def describe(self, port: NetworkPort, opts: PlugOptions) -> list[str]:
        """What :meth:`plug` does, as the shell commands a person would type (pure)."""
        raise NotImplementedError
