"""What a started network created, persisted step by step under ``run/kvmnet/networks``.

Each step is appended (and the file fsynced) *before* the host change it names
is made, so after a crash at any point the record lists a superset of what
exists.  ``kvmnet.teardown`` removes what a record lists, idempotently: an
object that is already gone is not an error.  The record outlives a lost
process; it is deleted only once everything it lists is gone.
"""
from __future__ import annotations

import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

from kvmnet.fileio import atomic_write

# Record states: 'starting' until start finished, then 'active'.
STARTING = "starting"
ACTIVE = "active"


class Record:
    """A plain class, not a dataclass: ``net-destroy`` should not pay for importing dataclasses."""

    def __init__(self, path: Path, network: str, state: str = STARTING,
                 steps: list[dict[str, Any]] | None = None,
                 info: dict[str, Any] | None = None) -> None:
        self.path = path
        self.network = network
        self.state = state
        self.steps: list[dict[str, Any]] = steps if steps is not None else []
        self.info: dict[str, Any] = info if info is not None else {}

    @classmethod
    def load(cls, path: Path) -> Record | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (ValueError, UnicodeDecodeError):
            # A torn write cannot happen (atomic rename); anything else is hand damage.
            return cls(path=path, network=path.name.removesuffix(".json"), state="corrupt")
        return cls(path=path, network=str(data.get("network", "")), state=str(data.get("state")),
                   steps=list(data.get("steps", [])), info=dict(data.get("info", {})))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {"network": self.network, "state": self.state, "steps": self.steps,
                "info": self.info}
        atomic_write(self.path, json.dumps(body, indent=1).encode("utf-8"), mode=0o600)

    def add(self, kind: str, **fields: Any) -> None:
        """Persist the intent to create something, before creating it."""
        self.steps.append({"kind": kind, **fields})
        self.save()
        fault_point("before", kind)

    def delete(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def find(self, kind: str) -> list[dict[str, Any]]:
        return [s for s in self.steps if s["kind"] == kind]


def fault_point(moment: str, kind: str) -> None:
    """Crash-test hook: ``KVMNET_FAULT_KILL_{BEFORE,AFTER}=<kind>`` kills kvmnet right there.

    Tests use it to prove that a kvmnet process killed midway leaves nothing the
    next command cannot finish or clean up.  Unset in normal use (one getenv).
    """
    if os.environ.get(f"KVMNET_FAULT_KILL_{moment.upper()}") == kind:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
