"""ovs-vsctl's command language over :class:`kvmnet.ovs.client.Switch` (being written)."""
from __future__ import annotations

from kvmnet.errors import UnsupportedError


def run(words: list[str], *, db: str | None = None, json: bool = False) -> tuple[str, int]:
    raise UnsupportedError(f"kvmnet ovs {' '.join(words[:1])}: not written yet")
