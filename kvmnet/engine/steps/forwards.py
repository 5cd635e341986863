"""Port forwards: one nftables transaction that adds a network's forwards, journalled with the
transaction that removes them (see :mod:`kvmnet.network.firewall.forwards`).

Its own kind, apart from the network's ``nft`` step, because its undo record changes while
the network runs: a live ``net-forward-add``/``-remove`` rewrites the record's ``destroy``
document in the network's journal (:mod:`kvmnet.network.forwards`), so that ``net-destroy``
removes the forwards there are then, not the ones there were at start.
"""
from __future__ import annotations

from kvmnet.engine.step import register, register_undo
from kvmnet.engine.steps.nft import NftTransaction, NftUndo, heredoc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from kvmnet.engine.executor import Context

KIND = "forwards"


@register
class ForwardsTransaction(NftTransaction):
    """``document`` (kvmnet_forwards' base and the elements), ``fast`` (the elements alone,
    for when the base is in place), ``destroy`` (the elements' removal)."""

    kind = KIND

    def undo_record(self, ctx: Context) -> dict[str, Any] | None:
        return {"kind": KIND, "destroy": self.destroy}


@register_undo
class ForwardsUndo(NftUndo):
    kind = KIND

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return heredoc("nft -f -", entry.get("destroy") or "")
