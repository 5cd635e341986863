"""An undo stack: each step pushes its undo *before* the next step runs.

On failure :meth:`UndoStack.rollback` runs the undos newest first and keeps
going when one of them fails, so a half-made network is taken apart as far as
possible; the failures are returned for the error message.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("kvmnet.undo")


class UndoStack:
    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], object]]] = []

    def push(self, description: str, undo: Callable[[], object]) -> None:
        self._steps.append((description, undo))

    def __len__(self) -> int:
        return len(self._steps)

    def rollback(self) -> list[str]:
        """Run every undo, newest first; return the ones that failed, as messages."""
        failures: list[str] = []
        while self._steps:
            description, undo = self._steps.pop()
            try:
                log.debug("undo: %s", description)
                undo()
            except Exception as exc:  # keep undoing: leave as little behind as possible
                failures.append(f"{description}: {exc}")
        return failures

    def commit(self) -> None:
        """The whole operation succeeded: forget the undos."""
        self._steps.clear()
