"""nftables: one atomic transaction to add a network's rules, one to remove them."""
from __future__ import annotations

from kvmnet.engine.step import BACKGROUND, Step, Undo, register, register_undo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from kvmnet.engine.executor import Context


def heredoc(command: str, text: str) -> str:
    """``command <<'EOF' ... EOF``: a document as a person would pass it in a shell."""
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{command} <<'EOF'\n{body}EOF"


@register
class NftTransaction(Step):
    kind = "nft"
    section = "nftables"
    fields = ("document", "fast", "destroy")
    defaults: ClassVar[dict[str, Any]] = {"fast": None, "destroy": None}
    document: str  # the whole transaction, kvmnet's base table included
    fast: str | None  # the same without the base, for when the base is in place (faster)
    destroy: str | None  # the transaction that removes exactly this network's rules

    def describe(self) -> str:
        return heredoc("nft -f -", self.document)

    def undo_record(self, ctx: Context) -> dict[str, Any] | None:
        return {"kind": "nft", "destroy": self.destroy}

    def apply(self, ctx: Context) -> None:
        from kvmnet.errors import KvmnetError

        if self.fast:
            try:
                # the common case: kvmnet's base is in place, add just this network
                ctx.host.nft_apply(self.fast)
                return
            except KvmnetError:
                pass  # first network here, or a stale base: all of it
        ctx.host.nft_apply(self.document)


@register_undo
class NftUndo(Undo):
    kind = "nft"
    phase = BACKGROUND

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        if entry.get("destroy"):
            ctx.host.nft_apply(entry["destroy"])

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return heredoc("nft -f -", entry.get("destroy") or "")
