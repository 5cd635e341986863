"""``virConnect`` for libvirt-python clients: one kvmnet connection (``kvmnet.open()``) behind
libvirt's method names, return types and error codes.

Networks, ports, host interfaces, node devices and the guest subset go to kvmnet's facade
(:class:`kvmnet.api.Connection`); every other libvirt-python method of ``virConnect``
answers ``VIR_ERR_NO_SUPPORT`` (:class:`kvmnet.compat.errors.Unsupported`).
"""
from __future__ import annotations

import uuid as uuidlib
from typing import TYPE_CHECKING, Any, ClassVar

from kvmnet.api import VIR_CONNECT_LIST_DOMAINS_ACTIVE, VIR_CONNECT_LIST_DOMAINS_INACTIVE
from kvmnet.api.constants import (
    VIR_CONNECT_LIST_INTERFACES_ACTIVE,
    VIR_CONNECT_LIST_INTERFACES_INACTIVE,
    VIR_NETWORK_EVENT_DEFINED,
    VIR_NETWORK_EVENT_ID_LIFECYCLE,
    VIR_NETWORK_EVENT_STARTED,
)
from kvmnet.compat import names
from kvmnet.compat.errors import Unsupported, denied, fail, translated
from kvmnet.compat.events import LOOP
from kvmnet.compat.network import check_flags, virNetwork
from kvmnet.compat.objects import (
    define_interface,
    nodedev_call,
    virDomain,
    virInterface,
    virNodeDevice,
)
from kvmnet.virterror import (
    VIR_ERR_INVALID_ARG,
    VIR_ERR_NO_INTERFACE,
    VIR_FROM_INTERFACE,
    VIR_FROM_NETWORK,
    VIR_FROM_NONE,
    VIR_FROM_QEMU,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from kvmnet.api import Connection
    from kvmnet.iface.interfaces import Interfaces

#: libvirt's version that kvmnet's answers follow (major * 1,000,000 + minor * 1,000 + micro):
#: the libvirt 9.0 of Debian 12, against which the compatible module is compared.
LIBVIRT_VERSION = 9_000_000

_REASONS = {
    **dict.fromkeys(("defineXMLFlags", "createXML", "createXMLWithFiles", "createLinux"),
                    "kvmnet defines guests with defineXML and starts them with create"),
    **dict.fromkeys(("nodeDeviceCreateXML", "nodeDeviceDefineXML",
                     "nodeDeviceLookupSCSIHostByWWN"),
                    "kvmnet reads the host's devices; it creates none (no mediated devices, "
                    "no vHBA)"),
    **dict.fromkeys(("nodeDeviceEventRegisterAny", "nodeDeviceEventDeregisterAny",
                     "domainEventRegister", "domainEventRegisterAny", "domainEventDeregister",
                     "domainEventDeregisterAny"),
                    "kvmnet has no daemon to watch devices and guests; only network events "
                    "are sent"),
}


class virConnect(Unsupported):  # libvirt-python's name
    """A connection (``libvirt.virConnect``) over one kvmnet state root."""

    LIBVIRT_METHODS = names.CONNECT
    C_PREFIX, ERROR_DOMAIN = "virConnect", VIR_FROM_NONE
    REASONS: ClassVar[dict[str, str]] = _REASONS
    WHY = "kvmnet manages networks, ports, host interfaces, node devices and a guest subset"

    def __init__(self, api: Connection, uri: str, readonly: bool = False) -> None:
        self.api = api
        self._uri = uri
        self._readonly = readonly
        self._interfaces: Interfaces | None = None

    def __repr__(self) -> str:
        return f"<libvirt.virConnect {self._uri!r} (kvmnet)>"

    # -- plumbing for the object classes ------------------------------------------------------
    def check_writable(self, call: str, domain: int) -> None:
        if self._readonly:
            denied(call, domain)

    def interfaces(self) -> Interfaces:
        if self._interfaces is None:
            self._interfaces = self.api.interfaces()
        return self._interfaces

    def emit_network(self, net: virNetwork, event: int) -> None:
        LOOP.emit(self, net.UUIDString(), net, event)

    # -- the connection ----------------------------------------------------------------------
    def close(self) -> int:
        LOOP.drop(self)
        self.api.close()
        return 0

    def isAlive(self) -> int:
        return int(self.api.isAlive())

    def isSecure(self) -> int:
        return 1  # no network between the client and kvmnet: nothing to eavesdrop on

    def isEncrypted(self) -> int:
        return 0

    def getURI(self) -> str:
        return self._uri

    def getType(self) -> str:
        return "kvmnet"

    def getHostname(self) -> str:
        import socket

        return socket.gethostname()

    def getLibVersion(self) -> int:
        return LIBVIRT_VERSION

    def getVersion(self) -> int:
        """kvmnet's own version, in libvirt's number form."""
        from kvmnet import __version__

        parts = [int(p) if p.isdigit() else 0 for p in __version__.split(".")[:3]] + [0, 0, 0]
        return parts[0] * 1_000_000 + parts[1] * 1_000 + parts[2]

    def setKeepAlive(self, interval: int, count: int) -> int:
        return 0  # no remote connection to keep alive

    # -- networks ------------------------------------------------------------------------------
    def _network(self, make: Callable[[], Any]) -> virNetwork:
        with translated(VIR_FROM_NETWORK):
            return virNetwork(self, make())

    def networkDefineXML(self, xml: str) -> virNetwork:
        return self.networkDefineXMLFlags(xml, 0)

    def networkDefineXMLFlags(self, xml: str, flags: int = 0) -> virNetwork:
        self.check_writable("virNetworkDefineXML", VIR_FROM_NETWORK)
        net = self._network(lambda: self.api.networkDefineXMLFlags(xml, flags))
        self.emit_network(net, VIR_NETWORK_EVENT_DEFINED)
        return net

    def networkCreateXML(self, xml: str) -> virNetwork:
        return self.networkCreateXMLFlags(xml, 0)

    def networkCreateXMLFlags(self, xml: str, flags: int = 0) -> virNetwork:
        self.check_writable("virNetworkCreateXML", VIR_FROM_NETWORK)
        net = self._network(lambda: self.api.networkCreateXMLFlags(xml, flags))
        self.emit_network(net, VIR_NETWORK_EVENT_STARTED)
        return net

    def networkLookupByName(self, name: str) -> virNetwork:
        return self._network(lambda: self.api.networkLookupByName(name))

    def networkLookupByUUIDString(self, uuidstr: str) -> virNetwork:
        return self._network(lambda: self.api.networkLookupByUUIDString(uuidstr))

    def networkLookupByUUID(self, uuid: bytes) -> virNetwork:
        return self._network(lambda: self.api.networkLookupByUUID(uuid))

    def listAllNetworks(self, flags: int = 0) -> list[virNetwork]:
        with translated(VIR_FROM_NETWORK):
            return [virNetwork(self, n) for n in self.api.listAllNetworks(flags)]

    def listNetworks(self) -> list[str]:
        with translated(VIR_FROM_NETWORK):
            return self.api.listNetworks()

    def listDefinedNetworks(self) -> list[str]:
        with translated(VIR_FROM_NETWORK):
            return self.api.listDefinedNetworks()

    def numOfNetworks(self) -> int:
        return len(self.listNetworks())

    def numOfDefinedNetworks(self) -> int:
        return len(self.listDefinedNetworks())

    def networkEventRegisterAny(self, net: virNetwork | None, eventID: int,
                                cb: Callable[..., Any], opaque: Any) -> int:
        if eventID != VIR_NETWORK_EVENT_ID_LIFECYCLE:
            fail(VIR_ERR_INVALID_ARG, VIR_FROM_NETWORK,
                 f"unsupported event ID {eventID}; networks send VIR_NETWORK_EVENT_ID_LIFECYCLE")
        return LOOP.register(self, None if net is None else net.UUIDString(), cb, opaque)

    def networkEventDeregisterAny(self, callbackID: int) -> int:
        if not LOOP.deregister(self, callbackID):
            fail(VIR_ERR_INVALID_ARG, VIR_FROM_NETWORK,
                 f"callback {callbackID} is not registered on this connection")
        return 0

    # -- host interfaces -----------------------------------------------------------------------
    def _iface_rows(self, flags: int) -> list[tuple[str, bool]]:
        both = VIR_CONNECT_LIST_INTERFACES_ACTIVE | VIR_CONNECT_LIST_INTERFACES_INACTIVE
        check_flags(flags, both, "connectListAllInterfaces", VIR_FROM_INTERFACE)
        with translated(VIR_FROM_INTERFACE):
            rows = [(i.name, i.active) for i in self.interfaces().list_all()]
        want_active = not flags & both or bool(flags & VIR_CONNECT_LIST_INTERFACES_ACTIVE)
        want_inactive = not flags & both or bool(flags & VIR_CONNECT_LIST_INTERFACES_INACTIVE)
        return [(n, a) for n, a in rows if (want_active if a else want_inactive)]

    def listAllInterfaces(self, flags: int = 0) -> list[virInterface]:
        return [virInterface(self, n) for n, _a in self._iface_rows(flags)]

    def listInterfaces(self) -> list[str]:
        return [n for n, _a in self._iface_rows(VIR_CONNECT_LIST_INTERFACES_ACTIVE)]

    def listDefinedInterfaces(self) -> list[str]:
        return [n for n, _a in self._iface_rows(VIR_CONNECT_LIST_INTERFACES_INACTIVE)]

    def numOfInterfaces(self) -> int:
        return len(self.listInterfaces())

    def numOfDefinedInterfaces(self) -> int:
        return len(self.listDefinedInterfaces())

    def interfaceLookupByName(self, name: str) -> virInterface:
        if name not in {n for n, _a in self._iface_rows(0)}:
            fail(VIR_ERR_NO_INTERFACE, VIR_FROM_INTERFACE,
                 f"Interface not found: no interface with matching name '{name}'; "
                 "listAllInterfaces() shows the host's interfaces")
        return virInterface(self, name)

    def interfaceLookupByMACString(self, macstr: str) -> virInterface:
        with translated(VIR_FROM_INTERFACE):
            return virInterface(self, self.interfaces().name_of(macstr))

    def interfaceDefineXML(self, xml: str, flags: int = 0) -> virInterface:
        self.check_writable("virInterfaceDefineXML", VIR_FROM_INTERFACE)
        return define_interface(self, xml, flags)

    def interfaceChangeBegin(self, flags: int = 0) -> int:
        self.check_writable("virInterfaceChangeBegin", VIR_FROM_INTERFACE)
        with translated(VIR_FROM_INTERFACE):
            self.interfaces().begin()
        return 0

    def interfaceChangeCommit(self, flags: int = 0) -> int:
        self.check_writable("virInterfaceChangeCommit", VIR_FROM_INTERFACE)
        with translated(VIR_FROM_INTERFACE):
            self.interfaces().commit()
        return 0

    def interfaceChangeRollback(self, flags: int = 0) -> int:
        self.check_writable("virInterfaceChangeRollback", VIR_FROM_INTERFACE)
        with translated(VIR_FROM_INTERFACE):
            self.interfaces().rollback()
        return 0

    # libvirt-python's names for the three above
    changeBegin = interfaceChangeBegin
    changeCommit = interfaceChangeCommit
    changeRollback = interfaceChangeRollback

    # -- node devices (the facade's calls when present: kvmnet.compat.objects) ------------------
    def listAllDevices(self, flags: int = 0) -> list[virNodeDevice]:
        return [virNodeDevice(self, d) for d in nodedev_call(self, "listAllDevices", flags)]

    def nodeDeviceLookupByName(self, name: str) -> virNodeDevice:
        return virNodeDevice(self, nodedev_call(self, "nodeDeviceLookupByName", name))

    def listDevices(self, cap: str | None, flags: int = 0) -> list[str]:
        return [str(n) for n in nodedev_call(self, "listDevices", cap, flags)]

    def numOfDevices(self, cap: str | None, flags: int = 0) -> int:
        return len(self.listDevices(cap, flags))

    # -- guests (kvmnet's QEMU runner) -------------------------------------------------------
    def _guests(self) -> Any:
        with translated(VIR_FROM_QEMU):
            return self.api.guests()

    def _domain(self, call: str, *args: Any) -> virDomain:
        guests = self._guests()
        with translated(VIR_FROM_QEMU):
            return virDomain(self, getattr(guests, call)(*args))

    def lookupByName(self, name: str) -> virDomain:
        return self._domain("lookupByName", name)

    def lookupByUUIDString(self, uuidstr: str) -> virDomain:
        return self._domain("lookupByUUIDString", uuidstr)

    def lookupByUUID(self, uuid: bytes) -> virDomain:
        return self._domain("lookupByUUIDString", str(uuidlib.UUID(bytes=uuid)))

    def lookupByID(self, id: int) -> virDomain:
        return self._domain("lookupByID", id)

    def defineXML(self, xml: str) -> virDomain:
        self.check_writable("virDomainDefineXML", VIR_FROM_QEMU)
        return self._domain("defineXML", xml)

    def listAllDomains(self, flags: int = 0) -> list[virDomain]:
        guests = self._guests()
        with translated(VIR_FROM_QEMU):
            return [virDomain(self, d) for d in guests.listAllDomains(flags)]

    def listDomainsID(self) -> list[int]:
        return [d.ID() for d in self.listAllDomains(VIR_CONNECT_LIST_DOMAINS_ACTIVE)]

    def listDefinedDomains(self) -> list[str]:
        return [d.name() for d in self.listAllDomains(VIR_CONNECT_LIST_DOMAINS_INACTIVE)]

    def numOfDomains(self) -> int:
        return len(self.listDomainsID())

    def numOfDefinedDomains(self) -> int:
        return len(self.listDefinedDomains())
