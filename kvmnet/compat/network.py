"""``virNetwork`` and ``virNetworkPort`` for libvirt-python clients, over kvmnet's handles.

Each method calls :class:`kvmnet.api.Network` (or the connection's port calls) and returns
what libvirt-python returns: ints where libvirt gives ints (``isActive()`` is 0 or 1), bytes
for ``UUID()``, lists of dicts for ``DHCPLeases``.  Errors leave as ``libvirtError`` with
libvirt's code (:func:`kvmnet.compat.errors.translated`); a read-only connection refuses
every change with ``VIR_ERR_OPERATION_DENIED``.  Lifecycle events are queued for the
connection's callbacks (:mod:`kvmnet.compat.events`).
"""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, ClassVar

from kvmnet.api.constants import (
    VIR_NETWORK_EVENT_STARTED,
    VIR_NETWORK_EVENT_STOPPED,
    VIR_NETWORK_EVENT_UNDEFINED,
    VIR_NETWORK_PORT_CREATE_VALIDATE,
)
from kvmnet.compat import names
from kvmnet.compat.errors import Unsupported, fail, translated
from kvmnet.virterror import VIR_ERR_INVALID_ARG, VIR_FROM_NETWORK

if TYPE_CHECKING:
    from kvmnet.api import Network
    from kvmnet.compat.connect import virConnect


def check_flags(flags: int, allowed: int, call: str, domain: int = VIR_FROM_NETWORK) -> None:
    """libvirt's refusal of a flag the call does not know (``VIR_ERR_INVALID_ARG``)."""
    if flags & ~allowed:
        fail(VIR_ERR_INVALID_ARG, domain,
             f"unsupported flags (0x{flags & ~allowed:x}) in function {call}")


class virNetwork(Unsupported):  # libvirt-python's name
    """A network (``libvirt.virNetwork``)."""

    LIBVIRT_METHODS = names.NETWORK
    C_PREFIX, ERROR_DOMAIN = "virNetwork", VIR_FROM_NETWORK

    def __init__(self, conn: virConnect, net: Network) -> None:
        self._conn = conn
        self._net = net

    def __repr__(self) -> str:
        return f"<libvirt.virNetwork {self._net.name()!r} (kvmnet)>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, virNetwork) and other._net.name() == self._net.name()

    def __hash__(self) -> int:
        return hash(self._net.name())

    def _write(self, call: str) -> None:
        self._conn.check_writable(call, VIR_FROM_NETWORK)

    def _emit(self, event: int) -> None:
        self._conn.emit_network(self, event)

    # -- identity ---------------------------------------------------------------------------
    def connect(self) -> virConnect:
        return self._conn

    def name(self) -> str:
        return self._net.name()

    def UUID(self) -> bytes:
        with translated(VIR_FROM_NETWORK):
            return self._net.UUID()

    def UUIDString(self) -> str:
        with translated(VIR_FROM_NETWORK):
            return self._net.UUIDString()

    # -- state: ints, as libvirt returns them ------------------------------------------------
    def isActive(self) -> int:
        with translated(VIR_FROM_NETWORK):
            return int(self._net.isActive())

    def isPersistent(self) -> int:
        with translated(VIR_FROM_NETWORK):
            return int(self._net.isPersistent())

    def autostart(self) -> int:
        with translated(VIR_FROM_NETWORK):
            return int(self._net.autostart())

    def setAutostart(self, autostart: int) -> int:
        self._write("virNetworkSetAutostart")
        with translated(VIR_FROM_NETWORK):
            return self._net.setAutostart(bool(autostart))

    def XMLDesc(self, flags: int = 0) -> str:
        with translated(VIR_FROM_NETWORK):
            return self._net.XMLDesc(flags)

    def bridgeName(self) -> str:
        with translated(VIR_FROM_NETWORK):
            return self._net.bridgeName()

    # -- lifecycle ---------------------------------------------------------------------------
    def create(self) -> int:
        self._write("virNetworkCreate")
        with translated(VIR_FROM_NETWORK):
            self._net.create()
        self._emit(VIR_NETWORK_EVENT_STARTED)
        return 0

    def destroy(self) -> int:
        self._write("virNetworkDestroy")
        with translated(VIR_FROM_NETWORK):
            self._net.UUIDString()  # known before a transient network goes
            self._net.destroy()
        self._emit(VIR_NETWORK_EVENT_STOPPED)
        return 0

    def undefine(self) -> int:
        self._write("virNetworkUndefine")
        with translated(VIR_FROM_NETWORK):
            self._net.UUIDString()
            self._net.undefine()
        self._emit(VIR_NETWORK_EVENT_UNDEFINED)
        return 0

    def update(self, command: int, section: int, parentIndex: int, xml: str,
               flags: int = 0) -> int:
        self._write("virNetworkUpdate")
        with translated(VIR_FROM_NETWORK):
            return self._net.update(command, section, parentIndex, xml, flags)

    def DHCPLeases(self, mac: str | None = None, flags: int = 0) -> list[dict[str, Any]]:
        check_flags(flags, 0, "networkGetDHCPLeases")
        with translated(VIR_FROM_NETWORK):
            return self._net.DHCPLeases(mac, flags)

    # -- ports ---------------------------------------------------------------------------------
    def listAllPorts(self, flags: int = 0) -> list[virNetworkPort]:
        check_flags(flags, 0, "networkListAllPorts")
        api = self._conn.api
        with translated(VIR_FROM_NETWORK):
            return [virNetworkPort(self, p.uuid) for p in api.listNetworkPorts(self.name())]

    def portLookupByUUIDString(self, uuidstr: str) -> virNetworkPort:
        with translated(VIR_FROM_NETWORK):
            self._conn.api.networkPortXMLDesc(self.name(), uuidstr)  # raises: no such port
        return virNetworkPort(self, str(uuid.UUID(uuidstr)))

    def portLookupByUUID(self, raw: bytes) -> virNetworkPort:
        if len(raw) != 16:
            fail(VIR_ERR_INVALID_ARG, VIR_FROM_NETWORK, f"a raw UUID is 16 bytes, got {len(raw)}")
        return self.portLookupByUUIDString(raw.hex())

    def portCreateXML(self, xmldesc: str, flags: int = 0) -> virNetworkPort:
        """Unlike libvirt's (a reservation only), kvmnet's port is plugged: it makes the tap."""
        self._write("virNetworkPortCreateXML")
        check_flags(flags, VIR_NETWORK_PORT_CREATE_VALIDATE, "networkPortCreateXML")
        with translated(VIR_FROM_NETWORK):
            info = self._conn.api.networkPortCreateXML(self.name(), xmldesc)
        return virNetworkPort(self, info.uuid)


class virNetworkPort(Unsupported):  # libvirt-python's name
    """A guest's port on a network (``libvirt.virNetworkPort``)."""

    LIBVIRT_METHODS = names.NETWORK_PORT
    C_PREFIX, ERROR_DOMAIN = "virNetworkPort", VIR_FROM_NETWORK
    REASONS: ClassVar[dict[str, str]] = {
        "parameters": "kvmnet sets a port's bandwidth from its XML at creation only",
        "setParameters": "kvmnet sets a port's bandwidth from its XML at creation only",
    }

    def __init__(self, net: virNetwork, uuid: str) -> None:
        self._net = net
        self._uuid = uuid

    def __repr__(self) -> str:
        return f"<libvirt.virNetworkPort {self._uuid} (kvmnet)>"

    def network(self) -> virNetwork:
        return self._net

    def connect(self) -> virConnect:
        return self._net.connect()

    def UUIDString(self) -> str:
        return self._uuid

    def UUID(self) -> bytes:
        return bytes.fromhex(self._uuid.replace("-", ""))

    def XMLDesc(self, flags: int = 0) -> str:
        check_flags(flags, 0, "networkPortGetXMLDesc")
        with translated(VIR_FROM_NETWORK):
            return self.connect().api.networkPortXMLDesc(self._net.name(), self._uuid)

    def delete(self, flags: int = 0) -> int:
        self.connect().check_writable("virNetworkPortDelete", VIR_FROM_NETWORK)
        check_flags(flags, 0, "networkPortDelete")
        with translated(VIR_FROM_NETWORK):
            self.connect().api.networkPortDelete(self._uuid, self._net.name())
        return 0
