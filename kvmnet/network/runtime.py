"""Run-time state of started networks, and taking them down: light enough for ``net-destroy``.

This module imports no model, driver or renderer: destroying a network needs
only its run record (:mod:`kvmnet.engine.record`) and the host adapters, so a cold
``kvmnet net-destroy`` does not pay for parsing or rendering anything.
"""
from __future__ import annotations

import os
from pathlib import Path

TYPE_CHECKING = False  # typing costs ~4.5 ms of a cold start: annotations only

from kvmnet.engine.record import ACTIVE, Record, fault_point
from kvmnet.errors import HostError, OperationInvalidError
from kvmnet.fileio import atomic_write, make_dirs, sweep
from kvmnet.network import leases as leasedb

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from kvmnet.config.store import Store
    from kvmnet.network.drivers.base import PlanContext
    from kvmnet.paths import Paths

# dnsmasq drops root after binding its sockets; 'nobody' exists on every Debian system.
DNSMASQ_USER = "nobody"


class Runtime:
    """Run-time file locations of one network (pure path arithmetic)."""

    def __init__(self, paths: Paths, name: str) -> None:
        self.paths = paths
        self.name = name
        self.dnsmasq_dir = paths.dnsmasq
        self.record = paths.run_networks / f"{name}.json"
        self.pid_file = paths.run_networks / f"{name}.pid"
        self.conf = self.dnsmasq_dir / f"{name}.conf"
        self.servers = self.dnsmasq_dir / f"{name}.servers"
        self.helper = leasedb.helper_path(self.dnsmasq_dir, name)
        self.leases = leasedb.status_path(self.dnsmasq_dir, name)

    def context(self) -> PlanContext:
        from kvmnet.network.drivers.base import PlanContext

        return PlanContext(dnsmasq_dir=str(self.dnsmasq_dir), pid_file=str(self.pid_file),
                           lease_helper=str(self.helper), servers_file=str(self.servers),
                           user=DNSMASQ_USER)


class Host:
    """The adapters start, destroy and live updates use; replaceable as a whole in tests."""

    def netlink(self) -> Any:
        from kvmnet.host.netlink import Netlink

        return Netlink()

    def nft_apply(self, document: str) -> None:
        from kvmnet.host import nftables

        nftables.apply(document)

    def sysctl_read(self, key: str) -> str | None:
        from kvmnet.host import sysctl

        return sysctl.read(key)

    def sysctl_write(self, key: str, value: str) -> str | None:
        from kvmnet.host import sysctl

        return sysctl.write(key, value, missing_ok=True)

    def dnsmasq_start(self, conf: str, pid_file: str,
                      say: Callable[[str], None] | None = None) -> int:
        from kvmnet.host import dnsmasq

        notice = dnsmasq.settle_user(conf)  # it must be able to read its hosts files
        if notice is not None and say is not None:
            say(notice)
        return dnsmasq.start(conf, pid_file=pid_file)

    def dnsmasq_stop(self, pid_file: str, conf: str) -> None:
        from kvmnet.host import dnsmasq

        pid = dnsmasq.read_pid_file(pid_file)
        if pid is not None:
            dnsmasq.stop(pid, expected_cmdline_contains=conf, pid_file=pid_file)
        unlink(pid_file)

    def dnsmasq_reload(self, pid_file: str, conf: str) -> bool:
        from kvmnet.host import dnsmasq

        pid = dnsmasq.read_pid_file(pid_file)
        return pid is not None and dnsmasq.reload(pid, expected_cmdline_contains=conf)

    def dnsmasq_reload_problem(self, pid_file: str, conf: str) -> str | None:
        """Why the running dnsmasq would not see its files re-read on SIGHUP, or None."""
        from kvmnet.host import dnsmasq

        pid = dnsmasq.read_pid_file(pid_file)
        if pid is None or not dnsmasq.is_running(pid, conf):
            return None
        return dnsmasq.reload_problem(pid, conf)


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Write a file dnsmasq reads: missing directories are made searchable by others
    (dnsmasq drops to 'nobody'), whatever the umask."""
    make_dirs(os.fspath(path.parent), 0o755)
    atomic_write(path, text.encode("utf-8"), mode=mode)


def unlink(path: str | Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def teardown(rec: Record, host: Host, store: Store, nl: Any = None) -> list[str]:
    """Remove everything ``rec`` lists; returns what could not be removed.

    The order makes a kill at any instant converge.  The live status goes first: readers
    (net-list, net-info) see the network inactive as soon as its teardown began, and the
    next net-start or net-destroy of the name finds the record without a status, a
    leftover (:func:`kvmnet.network.start.leftover`), and finishes the teardown.  The record
    goes last, once everything it lists is gone; it stays when something could not be
    removed, so that a later command can try again.

    Every step is idempotent (an object already gone is fine), so a teardown that was
    itself interrupted can simply be run again.  The independent parts run at once --
    dnsmasq stopping and the nft transaction in threads while the kernel deletes the
    bridge (its ~35 ms are mostly RCU grace periods) -- and files go last, once dnsmasq
    no longer uses them.
    """
    failures: list[str] = []
    store.delete_status(rec.network)
    fault_point("after", "status")

    def attempt(step: dict[str, Any], action: Any) -> None:
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - keep going: remove as much as possible
            failures.append(f"{step['kind']}: {exc}")

    steps = list(reversed(rec.steps))
    background = [s for s in steps if s["kind"] in ("dnsmasq", "nft")]
    threads = []
    if background:
        import threading

        for step in background:
            t = threading.Thread(target=attempt, args=(step, lambda s=step: _undo(s, host, nl)))
            t.start()
            threads.append(t)
    links = [s for s in steps if s["kind"] == "link"]
    if links:
        own = nl is None
        link_nl = host.netlink().__enter__() if own else nl
        try:
            for step in links:
                attempt(step, lambda s=step: _undo(s, host, link_nl))
        finally:
            if own:
                link_nl.__exit__(None, None, None)
    for t in threads:
        t.join()
    fault_point("after", "undo")
    # A start that did not finish may have been killed in the middle of writing a file: its
    # temporary file is named by no record.  Sweeping costs a directory listing (~1 ms per
    # 1,000 networks), so a clean destroy leaves it to the next write there.
    interrupted = rec.state != ACTIVE
    for step in steps:
        if step["kind"] == "files":
            attempt(step, lambda s=step: _undo(s, host, nl))
            if interrupted:
                for directory in {os.path.dirname(p) for p in step["paths"]}:
                    sweep(directory)
    if not failures:
        rec.delete()
        if interrupted:
            sweep(os.fspath(rec.path.parent))
    return failures


def _undo(step: dict[str, Any], host: Host, nl: Any) -> None:
    kind = step["kind"]
    if kind == "dnsmasq":
        host.dnsmasq_stop(step["pid_file"], step["conf"])
    elif kind == "files":
        for p in step["paths"]:
            unlink(p)
    elif kind == "nft":
        if step.get("destroy"):
            host.nft_apply(step["destroy"])
    elif kind == "link":
        nl.delete_link(step["name"])
    # 'sysctl' steps record shared settings (forwarding) that other networks and the
    # host may rely on; like libvirt, kvmnet leaves them set.


def destroy(store: Store, paths: Paths, name: str, host: Host | None = None) -> None:
    """Take network ``name`` down: exactly what its run record lists, even after a crash.

    A record without a live status is a teardown (or a start) that was interrupted: this
    finishes it, so that ``net-destroy`` run again after a failure or a kill converges.
    """
    rec = Record.load(Runtime(paths, name).record)
    if rec is None and not store.is_active(name):
        raise OperationInvalidError(f"network '{name}' is not active")
    if rec is not None:
        failures = teardown(rec, host or Host(), store)
        if failures:
            raise HostError(f"network '{name}' was only partly taken down: "
                            + "; ".join(failures) + f"; run 'kvmnet net-destroy {name}' "
                            "again to finish")
    else:
        store.delete_status(name)  # a live status without a record: nothing to take down
