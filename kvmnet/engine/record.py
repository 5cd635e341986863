"""Transitional: the network run record as it was before the engine (removed next commit)."""
from __future__ import annotations

from kvmnet.engine.executor import fault_point
from kvmnet.engine.journal import ACTIVE, STARTING, Journal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ACTIVE", "STARTING", "Record", "fault_point"]


class Record(Journal):
    def add(self, kind: str, **fields: Any) -> None:  # type: ignore[override]
        super().add({"kind": kind, **fields})
        fault_point("before", kind)
