"""Open vSwitch for the command line and Python callers: the private daemons and a switch.

``ovs_start/ovs_stop/ovs_status`` run the private Open vSwitch of :mod:`kvmnet.ovs.daemon`
under a state root; :func:`open_switch` opens :class:`kvmnet.ovs.client.Switch` on the
database :func:`kvmnet.ovs.locate.db_remote` picks (``db``: ``unix:PATH`` to choose).
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from kvmnet.ovs.client import Switch


def ovs_start(root: str | None = None) -> dict[str, Any]:
    from kvmnet.ovs import daemon

    return daemon.start(root)


def ovs_stop(root: str | None = None) -> dict[str, Any]:
    from kvmnet.ovs import daemon

    return daemon.stop(root)


def ovs_status(root: str | None = None) -> dict[str, Any]:
    from kvmnet.ovs import daemon

    return daemon.status(root)


def open_switch(db: str | None = None, *, full: bool = False, wait: bool = True) -> Switch:
    """A connected switch; ``full``: every column of every table (the printing verbs)."""
    from kvmnet.ovs.client import FULL, LEAN, Switch

    return Switch.open(db, columns=FULL if full else LEAN, wait=wait)  # type: ignore[no-any-return]


def run_vsctl(words: list[str], *, db: str | None = None, json: bool = False) -> tuple[str, int]:
    """Run one ovs-vsctl command line (``["add-port", "br0", "p1", "tag=5"]``): its output
    text and exit status (``br-exists``: 2 when missing).  Errors raise kvmnet errors."""
    from kvmnet.ovs import vsctl

    return vsctl.run(words, db=db, json=json)


def ovs_reconcile(root: str | None = None, *, db: str | None = None,
                  dry_run: bool = False) -> list[dict[str, Any]]:
    """Remove the Open vSwitch ports kvmnet (state root ``root``) made whose tap or port record
    is gone (:mod:`kvmnet.ovs.reconcile`); returns them (port, bridge, port_uuid, why)."""
    from kvmnet.model.frozen import fields
    from kvmnet.ovs.reconcile import reconcile

    return [{f: getattr(s, f) for f in fields(s)}
            for s in reconcile(root, remote=db, dry_run=dry_run)]
