"""A minimal synchronous QMP client (QEMU Machine Protocol over a unix socket).

One JSON object per line each way.  After the greeting, ``qmp_capabilities`` leaves
negotiation mode; then every ``execute`` is answered by one ``return`` or ``error`` object,
with asynchronous ``event`` objects possibly in between (they are kept, for
:meth:`Qmp.wait_event`).  A command may carry a file descriptor (``SCM_RIGHTS``, as
``getfd`` wants it).

:func:`add_nic` and :func:`remove_nic` are a NIC's hot-plug and hot-unplug as QEMU wants
them (the guest runner's ``qemu.nic``/``qemu.unplug`` steps), :func:`devices` and
:func:`drop_backend` what finishing or taking back an interrupted hot-plug needs.
"""
from __future__ import annotations

import json
import os
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

    def execute(self, command: str, arguments: dict[str, Any] | None = None,
                fd: int | None = None) -> Any:
        """Run one command; returns its ``return`` value or raises :class:`QmpError`.
        ``fd``: a descriptor sent along (QEMU keeps it for ``getfd``'s name)."""
        msg: dict[str, Any] = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self._sock.settimeout(self.timeout)
        data = json.dumps(msg).encode() + b"\n"
        if fd is None:
            self._sock.sendall(data)
        else:  # QEMU takes the descriptor with the command's first bytes
            import array

            sent = self._sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                                array.array("i", [fd]))])
            self._sock.sendall(data[sent:])
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


def fd_name(device_id: str) -> str:
    """The name a NIC's descriptor has in QEMU (``getfd``), from its device's id."""
    return f"fd-{device_id}"


def add_nic(path: str, netdev: dict[str, Any], device: dict[str, Any],
            node: str | None = None) -> None:
    """Hot-plug a NIC into the QEMU whose monitor is ``path``: its backend (``netdev_add``),
    then its device (``device_add``).  ``node``: a device node (a macvtap's) opened here and
    handed to QEMU first (``getfd``), which the backend then names (``fd``); QEMU cannot open
    it itself.  What QEMU took is given back when a later command fails."""
    with Qmp(path) as mon:
        named = None
        if node is not None:
            named = fd_name(str(device["id"]))
            fd = os.open(node, os.O_RDWR | os.O_CLOEXEC)
            try:
                mon.execute("getfd", {"fdname": named}, fd=fd)
            finally:
                os.close(fd)  # QEMU has its own copy now
            netdev = dict(netdev, fd=named)
        try:
            mon.execute("netdev_add", netdev)
        except BaseException:
            if named is not None:
                _quietly(mon, "closefd", {"fdname": named})
            raise
        # the backend took the descriptor (QEMU closes it with the backend)
        try:
            mon.execute("device_add", device)
        except BaseException:
            _quietly(mon, "netdev_del", {"id": netdev["id"]})
            raise


def remove_nic(path: str, device_id: str, netdev_id: str | None, timeout: float) -> bool:
    """Hot-unplug a NIC: ``device_del``, the guest's release (``DEVICE_DELETED``), then its
    backend (none for a VFIO device).  False when the guest did not release it in time."""
    with Qmp(path) as mon:
        mon.execute("device_del", {"id": device_id})
        if mon.wait_event("DEVICE_DELETED", {"device": device_id}, timeout) is None:
            return False
        if netdev_id is not None:
            mon.execute("netdev_del", {"id": netdev_id})
    return True


def devices(path: str) -> set[str]:
    """The ids of the devices added by id (``-device ...,id=`` or ``device_add``)."""
    with Qmp(path) as mon:
        found = mon.execute("qom-list", {"path": "/machine/peripheral"})
    return {str(p["name"]) for p in found if str(p.get("type", "")).startswith("child<")}


def drop_backend(path: str, netdev_id: str, fdname: str | None) -> None:
    """Take back a backend (and a descriptor) whose device never came: "not there" is fine."""
    with Qmp(path) as mon:
        _quietly(mon, "netdev_del", {"id": netdev_id})
        if fdname is not None:
            _quietly(mon, "closefd", {"fdname": fdname})


def _quietly(mon: Qmp, command: str, arguments: dict[str, Any]) -> None:
    """A clean-up command whose failure (already gone) must not hide the first error."""
    try:
        mon.execute(command, arguments)
    except (QmpError, OSError):
        pass
