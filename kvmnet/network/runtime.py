"""Run-time state of started networks, and taking them down: light enough for ``net-destroy``.

This module imports no model, driver or renderer: destroying a network needs only its
journal (:mod:`kvmnet.engine.journal`), the undo kinds it names (:mod:`kvmnet.engine.steps`)
and the host adapters, so a cold ``kvmnet net-destroy`` does not pay for parsing or
rendering anything.
"""
from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing costs ~4.5 ms of a cold start: annotations only

from kvmnet.engine.executor import Context, fault_point, undo
from kvmnet.engine.host import Host, unlink
from kvmnet.engine.journal import ACTIVE, Journal
from kvmnet.errors import HostError, OperationInvalidError
from kvmnet.fileio import sweep
from kvmnet.network import leases as leasedb

if TYPE_CHECKING:
    from typing import Any

    from kvmnet.config.store import Store
    from kvmnet.network.drivers.base import PlanContext
    from kvmnet.paths import Paths

__all__ = ["DNSMASQ_USER", "Host", "Runtime", "destroy", "teardown", "unlink"]

# dnsmasq drops root after binding its sockets; 'nobody' exists on every Debian system.
DNSMASQ_USER = "nobody"


class Runtime:
    """Run-time file locations of one network (pure path arithmetic, plain strings: pathlib
    would cost net-start and net-destroy ~3 ms of start-up)."""

    def __init__(self, paths: Paths, name: str) -> None:
        self.paths = paths
        self.name = name
        self.dnsmasq_dir = dnsmasq_dir = paths.text("dnsmasq")
        run_networks = paths.text("run_networks")
        self.record = os.path.join(run_networks, f"{name}.json")
        self.pid_file = os.path.join(run_networks, f"{name}.pid")
        self.conf = os.path.join(dnsmasq_dir, f"{name}.conf")
        self.servers = os.path.join(dnsmasq_dir, f"{name}.servers")
        self.helper = leasedb.helper_path(dnsmasq_dir, name)
        self.leases = leasedb.status_path(dnsmasq_dir, name)

    def context(self) -> PlanContext:
        from kvmnet.network.drivers.base import PlanContext

        return PlanContext(dnsmasq_dir=self.dnsmasq_dir, pid_file=self.pid_file,
                           lease_helper=self.helper, servers_file=self.servers,
                           conf_file=self.conf, leases_file=self.leases,
                           root=str(self.paths.root), python=os.path.realpath(sys.executable),
                           user=DNSMASQ_USER)


def teardown(rec: Journal, host: Host, store: Store, nl: Any = None) -> list[str]:
    """Remove everything network journal ``rec`` lists; returns what could not be removed.

    The order makes a kill at any instant converge.  The live status goes first: readers
    (net-list, net-info) see the network inactive as soon as its teardown began, and the
    next net-start or net-destroy of the name finds the journal without a status, a
    leftover (:func:`kvmnet.network.start.leftover`), and finishes the teardown.  The journal
    goes last, once everything it lists is gone; it stays when something could not be
    removed, so that a later command can try again.  The undo itself
    (:func:`kvmnet.engine.executor.undo`) is idempotent and runs dnsmasq's stop and the nft
    transaction in threads while the kernel deletes the bridge.
    """
    store.delete_status(rec.owner)
    fault_point("after", "status")
    with Context(host, nl=nl) as ctx:
        failures = undo(rec, ctx)
    if not failures:
        rec.delete()
        if rec.state != ACTIVE:
            sweep(os.path.dirname(os.fspath(rec.path)))
    return failures


def destroy(store: Store, paths: Paths, name: str, host: Host | None = None) -> None:
    """Take network ``name`` down: exactly what its journal lists, even after a crash.

    A journal without a live status is a teardown (or a start) that was interrupted: this
    finishes it, so that ``net-destroy`` run again after a failure or a kill converges.
    """
    rec = Journal.load(Runtime(paths, name).record)
    if rec is None and not store.is_active(name):
        raise OperationInvalidError(f"network '{name}' is not active")
    if rec is not None:
        failures = teardown(rec, host or Host(), store)
        if failures:
            raise HostError(f"network '{name}' was only partly taken down: "
                            + "; ".join(failures) + f"; run 'kvmnet net-destroy {name}' "
                            "again to finish")
    else:
        store.delete_status(name)  # a live status without a journal: nothing to take down
