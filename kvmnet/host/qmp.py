"""A minimal synchronous QMP client (QEMU Machine Protocol over a unix socket).

One JSON object per line each way.  After the greeting, ``qmp_capabilities`` leaves
negotiation mode; then every ``execute`` is answered by one ``return`` or ``error`` object,
with asynchronous ``event`` objects possibly in between (they are kept, for
:meth:`Qmp.wait_event`).
"""
from __future__ import annotations

import json
import socket
import time
from types import TracebackType
from typing import Any, Self

from kvmnet.errors import HostError


class QmpError(HostError):
    """QEMU answered a command with an error."""

    def __init__(self, command: str, klass: str, desc: str) -> None:
        self.klass = klass
        self.desc = desc
        super().__init__(f"QEMU refused {command}: {desc} ({klass})")


class Qmp:
    def __init__(self, path: str, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout
        self.events: list[dict[str, Any]] = []
        self._buf = b""
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(path)
            greeting = self._read()
            if "QMP" not in greeting:
                raise HostError(f"{path} does not speak QMP (greeting {greeting!r})")
            self.execute("qmp_capabilities")
        except (OSError, ValueError, TypeError) as exc:
            self._sock.close()
            raise HostError(f"cannot talk to QEMU's monitor at {path}: {exc}") from None
        except BaseException:
            self._sock.close()
            raise

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _read(self, deadline: float | None = None) -> dict[str, Any]:
        while b"\n" not in self._buf:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no message from QEMU in time")
                self._sock.settimeout(left)
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("QEMU closed its monitor connection")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        msg = json.loads(line)
        if not isinstance(msg, dict):
            raise TypeError(f"unexpected QMP message {line!r}")
        return msg

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        """Run one command; returns its ``return`` value or raises :class:`QmpError`."""
        msg: dict[str, Any] = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self._sock.settimeout(self.timeout)
        self._sock.sendall(json.dumps(msg).encode() + b"\n")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read(deadline)
            if "event" in reply:
                self.events.append(reply)
            elif "return" in reply:
                return reply["return"]
            elif "error" in reply:
                err = reply["error"] if isinstance(reply["error"], dict) else {}
                raise QmpError(command, str(err.get("class", "?")), str(err.get("desc", "?")))

    def wait_event(self, name: str, data: dict[str, Any] | None = None,
                   timeout: float = 10.0) -> dict[str, Any] | None:
        """The first event ``name`` whose data contains ``data``; None after ``timeout``."""

        def matches(ev: dict[str, Any]) -> bool:
            raw_data = ev.get("data")
            got: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
            return ev.get("event") == name and all(got.get(k) == val
                                                   for k, val in (data or {}).items())

        for ev in self.events:
            if matches(ev):
                self.events.remove(ev)
                return ev
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self._read(deadline)
            except TimeoutError:  # socket.timeout is TimeoutError too
                return None
            if "event" in msg:
                if matches(msg):
                    return msg
                self.events.append(msg)
