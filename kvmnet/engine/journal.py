"""The journal: what an owner (a network, a port, a guest, an interface) changed on the host.

Persisted under ``run/kvmnet/...`` as JSON::

    {"owner": "net1", "state": "starting"|"active", "steps": [UNDO RECORD, ...], "info": {...}}

Each undo record (``{"kind": ..., fields}``, see :mod:`kvmnet.engine.step`) is appended and
the file fsynced *before* the change it names is made, so after a crash at any point the
journal lists a superset of what exists.  :func:`kvmnet.engine.executor.undo` removes what a
journal lists, idempotently; the journal outlives a lost process and is deleted only once
everything it lists is gone.  (Journals written before issue 12 name their owner
``"network"``; they load the same.)
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Self

    #: a journal's file: the hot verbs pass plain strings (pathlib is ~3 ms of their start-up)
    JournalPath = str | os.PathLike[str]

from kvmnet import jsontext
from kvmnet.fileio import atomic_write

# Journal states: 'starting' until the run finished, then 'active'.
STARTING = "starting"
ACTIVE = "active"


class Journal:
    """A plain class, not a dataclass: ``net-destroy`` should not pay for importing dataclasses."""

    def __init__(self, path: JournalPath, owner: str, state: str = STARTING,
                 steps: list[dict[str, Any]] | None = None,
                 info: dict[str, Any] | None = None) -> None:
        self.path = path
        self.owner = owner
        self.state = state
        self.steps: list[dict[str, Any]] = steps if steps is not None else []
        self.info: dict[str, Any] = info if info is not None else {}

    @property
    def network(self) -> str:
        """The owner, under the name the network code knows it by."""
        return self.owner

    @classmethod
    def load(cls, path: JournalPath) -> Self | None:
        try:
            with open(path, encoding="utf-8") as f:
                data = jsontext.loads(f.read())
        except FileNotFoundError:
            return None
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            # A torn write cannot happen (atomic rename); anything else is hand damage.
            return cls(path, os.path.basename(path).removesuffix(".json"), "corrupt")
        owner = data.get("owner", data.get("network", ""))
        return cls(path, str(owner), str(data.get("state")), list(data.get("steps", [])),
                   dict(data.get("info", {})))

    def save(self, durable: bool = True) -> None:
        """Write the journal (atomically; fsynced unless ``durable=False``, for changes whose
        loss is harmless, such as the final 'active' state: a 'starting' journal only makes
        a later teardown look for temporary files too)."""
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        body = {"owner": self.owner, "state": self.state, "steps": self.steps,
                "info": self.info}
        atomic_write(self.path, jsontext.dumps(body).encode("utf-8"), mode=0o600,
                     durable=durable)

    def add(self, entry: dict[str, Any]) -> None:
        """Persist the intent to make a change (its undo record), before making it."""
        self.steps.append(entry)
        self.save()

    def delete(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def find(self, kind: str) -> list[dict[str, Any]]:
        return [s for s in self.steps if s["kind"] == kind]
