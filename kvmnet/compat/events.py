"""Network lifecycle events for libvirt-python clients, and the default event loop they run.

libvirt sends an event when a network is defined, undefined, started or stopped, and calls
the client's callbacks from its event loop (``virEventRunDefaultImpl``), never from inside the
API call that caused it.  kvmnet has no daemon, so it knows of the changes made in this
process: each connection's calls queue their events here, and ``virEventRunDefaultImpl``
delivers them to the callbacks registered with ``networkEventRegisterAny``.  Changes made by
other processes (the ``kvmnet`` command, another program) are not seen.
"""
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: How long one ``virEventRunDefaultImpl`` waits for an event before it returns (libvirt's
#: waits for its next timer or file handle; clients call it in a loop either way).
IDLE_SECONDS = 0.5


@dataclass
class _Callback:
    conn: Any  # the virConnect the callback was registered on
    uuid: str | None  # only this network's events; None: every network's
    func: Callable[..., Any]
    opaque: Any


class Loop:
    """The process's one event loop: registered callbacks and the events waiting for them."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._callbacks: dict[int, _Callback] = {}
        self._queue: deque[tuple[Any, str, Any, int, int]] = deque()
        self._next_id = 0

    def register(self, conn: Any, uuid: str | None, func: Callable[..., Any], opaque: Any) -> int:
        with self._lock:
            cb_id = self._next_id
            self._next_id += 1
            self._callbacks[cb_id] = _Callback(conn, uuid, func, opaque)
            return cb_id

    def deregister(self, conn: Any, cb_id: int) -> bool:
        with self._lock:
            cb = self._callbacks.get(cb_id)
            if cb is None or cb.conn is not conn:
                return False
            del self._callbacks[cb_id]
            return True

    def drop(self, conn: Any) -> None:
        """A connection closed: its callbacks go with it."""
        with self._lock:
            for cb_id in [i for i, cb in self._callbacks.items() if cb.conn is conn]:
                del self._callbacks[cb_id]

    def emit(self, conn: Any, uuid: str, net: Any, event: int, detail: int = 0) -> None:
        """Queue one lifecycle event of network ``net`` (a virNetwork)."""
        with self._lock:
            if not any(cb.conn is conn for cb in self._callbacks.values()):
                return  # nobody listens: nothing piles up
            self._queue.append((conn, uuid, net, event, detail))
            self._lock.notify_all()

    def run_once(self, timeout: float = IDLE_SECONDS) -> int:
        """Deliver the waiting events (waiting up to ``timeout`` for one); 0, as libvirt."""
        with self._lock:
            if not self._queue:
                self._lock.wait(timeout)
            events = list(self._queue)
            self._queue.clear()
            callbacks = list(self._callbacks.values())
        for conn, uuid, net, event, detail in events:
            for cb in callbacks:
                if cb.conn is conn and cb.uuid in (None, uuid):
                    cb.func(conn, net, event, detail, cb.opaque)
        return 0


LOOP = Loop()
