"""Changing a running network's port forwards (``net-forward-add/-remove --live``).

A start installs a network's forwards with its ``forwards`` step (:class:`~kvmnet.engine.
steps.forwards.ForwardsTransaction`, in the plan of :mod:`.drivers.virtual`).  A live change
is one more such step: one nft transaction that adds the new map elements and deletes the
removed ones (no rule changes, so the per-packet cost stays one lookup), run by the executor
with the network's journal.  Its undo record removes *every* forward the network then has,
so the step replaces the network's earlier ``forwards`` records: ``net-destroy`` removes
exactly the forwards that exist when it runs.  Until the transaction has applied, the record
covers the old forwards too (a superset, as every journal), and is narrowed afterwards.
"""
from __future__ import annotations

from kvmnet.engine.executor import Context, apply_steps
from kvmnet.engine.journal import Journal
from kvmnet.engine.steps.forwards import KIND, ForwardsTransaction
from kvmnet.errors import OperationInvalidError
from kvmnet.model.forward import subnets
from kvmnet.model.network import Network
from kvmnet.network.firewall.forwards import render_add, render_remove
from kvmnet.network.runtime import Host, Runtime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from kvmnet.config.store import Store
    from kvmnet.model.forward import PortForward
    from kvmnet.paths import Paths


def change_step(bridge: str, subnets: list[str], old: tuple[PortForward, ...],
                new: tuple[PortForward, ...]) -> ForwardsTransaction:
    """The one transaction that turns forwards ``old`` into ``new`` on ``bridge`` (whose
    IPv4 and IPv6 subnets are ``subnets``)."""
    added = [f for f in new if f not in old]
    removed = [f for f in old if f not in new]

    def document(base: bool) -> str:
        text = (render_remove(bridge, subnets, removed, hairpin=not new)
                if removed or not new else "")
        # removals first: a forward replaced by one on the same key is a delete then an add
        return text + (render_add(bridge, subnets, added, base=base) if added else "")

    union = tuple(old) + tuple(f for f in new if f not in old)
    return ForwardsTransaction(document=document(True), fast=document(False) if added else None,
                               destroy=render_remove(bridge, subnets, union, hairpin=True))


def apply_live(store: Store, paths: Paths, old: Network, new: Network,
               host: Host | None = None) -> None:
    """Make running network ``old`` have ``new``'s forwards, and ``new`` its live status."""
    from kvmnet.xmlio.network import format_network

    bridge = new.bridge_name
    rt = Runtime(paths, new.name)
    journal = Journal.load(rt.record)
    if journal is None or bridge is None or not store.is_active(new.name):
        raise OperationInvalidError(
            f"network '{new.name}' has no live state to change (it is not running); use "
            "--config to change its definition")
    nets = [str(s) for s in subnets(new)]
    if old.forwards != new.forwards:
        step = change_step(bridge, nets, old.forwards, new.forwards)
        earlier = [e for e in journal.steps if e.get("kind") == KIND]
        journal.steps = [e for e in journal.steps if e.get("kind") != KIND]
        try:
            with Context(host or Host()) as ctx:
                apply_steps([step], journal, ctx)
        except BaseException:
            # nothing changed (one transaction): the earlier records stand
            journal.steps = [e for e in journal.steps if e.get("kind") != KIND] + earlier
            journal.save()
            raise
        journal.steps[-1] = {"kind": KIND, "destroy": render_remove(bridge, nets, new.forwards,
                                                                   hairpin=True)}
        journal.save(durable=False)  # losing the narrowing is harmless: the superset stays
    store.write_status(new.name, format_network(new))
