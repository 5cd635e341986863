"""``virInterface``, ``virNodeDevice`` and ``virDomain`` for libvirt-python clients.

Host interfaces go to the connection's :meth:`kvmnet.api.Connection.interfaces`, guests to
:meth:`kvmnet.api.Connection.guests` (kvmnet's QEMU runner: the domain subset of lookups,
XML, start/stop and NICs).  Node devices go to the facade's libvirt-named calls
(``listAllDevices``, ``nodeDeviceLookupByName``) when this build of kvmnet has them, and
otherwise answer ``VIR_ERR_NO_SUPPORT``; a device handle forwards libvirt's method names to
kvmnet's device object, so the calls it offers work as soon as it offers them.
"""
from __future__ import annotations

import uuid as uuidlib
from typing import TYPE_CHECKING, Any, NoReturn

from kvmnet.api.constants import VIR_INTERFACE_DEFINE_VALIDATE, VIR_INTERFACE_XML_INACTIVE
from kvmnet.compat import names
from kvmnet.compat.errors import Unsupported, translated, unsupported
from kvmnet.compat.network import check_flags
from kvmnet.virterror import VIR_FROM_INTERFACE, VIR_FROM_NODEDEV, VIR_FROM_QEMU

if TYPE_CHECKING:
    from kvmnet.compat.connect import virConnect


class virInterface(Unsupported):  # libvirt-python's name
    """A host interface (``libvirt.virInterface``), defined or present on the host."""

    LIBVIRT_METHODS = names.INTERFACE
    C_PREFIX, ERROR_DOMAIN = "virInterface", VIR_FROM_INTERFACE

    def __init__(self, conn: virConnect, name: str) -> None:
        self._conn = conn
        self._name = name

    def __repr__(self) -> str:
        return f"<libvirt.virInterface {self._name!r} (kvmnet)>"

    def connect(self) -> virConnect:
        return self._conn

    def name(self) -> str:
        return self._name

    def MACString(self) -> str:
        with translated(VIR_FROM_INTERFACE):
            return self._conn.interfaces().mac_of(self._name)

    def XMLDesc(self, flags: int = 0) -> str:
        check_flags(flags, VIR_INTERFACE_XML_INACTIVE, "interfaceGetXMLDesc", VIR_FROM_INTERFACE)
        with translated(VIR_FROM_INTERFACE):
            return self._conn.interfaces().xml(self._name, bool(flags & VIR_INTERFACE_XML_INACTIVE))

    def isActive(self) -> int:
        with translated(VIR_FROM_INTERFACE):
            infos = self._conn.interfaces().list_all()
        return int(any(i.name == self._name and i.active for i in infos))

    def create(self, flags: int = 0) -> int:
        self._conn.check_writable("virInterfaceCreate", VIR_FROM_INTERFACE)
        check_flags(flags, 0, "interfaceCreate", VIR_FROM_INTERFACE)
        with translated(VIR_FROM_INTERFACE):
            self._conn.interfaces().start(self._name)
        return 0

    def destroy(self, flags: int = 0) -> int:
        self._conn.check_writable("virInterfaceDestroy", VIR_FROM_INTERFACE)
        check_flags(flags, 0, "interfaceDestroy", VIR_FROM_INTERFACE)
        with translated(VIR_FROM_INTERFACE):
            self._conn.interfaces().destroy(self._name)
        return 0

    def undefine(self) -> int:
        self._conn.check_writable("virInterfaceUndefine", VIR_FROM_INTERFACE)
        with translated(VIR_FROM_INTERFACE):
            self._conn.interfaces().undefine(self._name)
        return 0


def define_interface(conn: virConnect, xml: str, flags: int) -> virInterface:
    check_flags(flags, VIR_INTERFACE_DEFINE_VALIDATE, "interfaceDefineXML", VIR_FROM_INTERFACE)
    with translated(VIR_FROM_INTERFACE):
        iface = conn.interfaces().define_xml(xml, strict=bool(flags & VIR_INTERFACE_DEFINE_VALIDATE))
    return virInterface(conn, iface.name)


class virNodeDevice(Unsupported):  # libvirt-python's name
    """A host device (``libvirt.virNodeDevice``): libvirt's calls, forwarded to kvmnet's
    device object; the ones it lacks answer ``VIR_ERR_NO_SUPPORT``."""

    LIBVIRT_METHODS = names.NODE_DEVICE
    C_PREFIX, ERROR_DOMAIN = "virNodeDevice", VIR_FROM_NODEDEV
    WHY = "kvmnet reads the host's devices and detaches PCI devices; it defines none"

    def __init__(self, conn: virConnect, dev: Any) -> None:
        self._conn = conn
        self._dev = dev

    def __repr__(self) -> str:
        return f"<libvirt.virNodeDevice {self.name()!r} (kvmnet)>"

    def connect(self) -> virConnect:
        return self._conn

    def __getattr__(self, name: str) -> Any:
        if name in names.NODE_DEVICE and hasattr(self._dev, name):
            method = getattr(self._dev, name)
            writes = name in ("dettach", "detachFlags", "reAttach", "reset")

            def call(*args: Any, **kwargs: Any) -> Any:
                if writes:
                    self._conn.check_writable(f"virNodeDevice{name[:1].upper()}{name[1:]}",
                                              VIR_FROM_NODEDEV)
                with translated(VIR_FROM_NODEDEV):
                    return method(*args, **kwargs)

            return call
        return super().__getattr__(name)


def nodedev_call(conn: virConnect, call: str, *args: Any) -> Any:
    """Call the facade's node-device method ``call``, or answer NO_SUPPORT without it."""
    method = getattr(conn.api, call, None)
    if method is None:
        no_nodedev(call)
    with translated(VIR_FROM_NODEDEV):
        return method(*args)


def no_nodedev(call: str) -> NoReturn:
    unsupported(f"virConnect{call[:1].upper()}{call[1:]}",
                "this build of kvmnet's API has no node-device calls", VIR_FROM_NODEDEV)


class virDomain(Unsupported):  # libvirt-python's name
    """A guest (``libvirt.virDomain``), run by kvmnet's QEMU runner: lookups, XML,
    start/stop, NICs and their addresses."""

    LIBVIRT_METHODS = names.DOMAIN
    C_PREFIX, ERROR_DOMAIN = "virDomain", VIR_FROM_QEMU
    WHY = "kvmnet's guest runner covers lookups, XML, start/stop and network interfaces only"

    def __init__(self, conn: virConnect, dom: Any) -> None:
        self._conn = conn
        self._dom = dom

    def __repr__(self) -> str:
        return f"<libvirt.virDomain {self._dom.name()!r} (kvmnet)>"

    def connect(self) -> virConnect:
        return self._conn

    def _write(self, call: str) -> None:
        self._conn.check_writable(call, VIR_FROM_QEMU)

    def name(self) -> str:
        return str(self._dom.name())

    def UUIDString(self) -> str:
        with translated(VIR_FROM_QEMU):
            return str(self._dom.UUIDString())

    def UUID(self) -> bytes:
        return uuidlib.UUID(self.UUIDString()).bytes

    def ID(self) -> int:
        with translated(VIR_FROM_QEMU):
            return int(self._dom.ID())

    def isActive(self) -> int:
        with translated(VIR_FROM_QEMU):
            return int(self._dom.isActive())

    def isPersistent(self) -> int:
        with translated(VIR_FROM_QEMU):
            return int(self._dom.isPersistent())

    def state(self, flags: int = 0) -> list[int]:
        check_flags(flags, 0, "domainGetState", VIR_FROM_QEMU)
        with translated(VIR_FROM_QEMU):
            return list(self._dom.state())

    def XMLDesc(self, flags: int = 0) -> str:
        with translated(VIR_FROM_QEMU):
            return str(self._dom.XMLDesc(flags))

    def create(self) -> int:
        self._write("virDomainCreate")
        with translated(VIR_FROM_QEMU):
            return int(self._dom.create())

    def destroy(self) -> int:
        self._write("virDomainDestroy")
        with translated(VIR_FROM_QEMU):
            return int(self._dom.destroy())

    def undefine(self) -> int:
        self._write("virDomainUndefine")
        with translated(VIR_FROM_QEMU):
            return int(self._dom.undefine())

    def attachDeviceFlags(self, xml: str, flags: int = 0) -> int:
        self._write("virDomainAttachDeviceFlags")
        with translated(VIR_FROM_QEMU):
            return int(self._dom.attachDeviceFlags(xml, flags))

    def detachDeviceFlags(self, xml: str, flags: int = 0) -> int:
        self._write("virDomainDetachDeviceFlags")
        with translated(VIR_FROM_QEMU):
            return int(self._dom.detachDeviceFlags(xml, flags))

    def attachDevice(self, xml: str) -> int:
        """libvirt: the live guest (``VIR_DOMAIN_AFFECT_LIVE``)."""
        return self.attachDeviceFlags(xml, 1)

    def detachDevice(self, xml: str) -> int:
        return self.detachDeviceFlags(xml, 1)

    def interfaceAddresses(self, source: int, flags: int = 0) -> dict[str, Any]:
        with translated(VIR_FROM_QEMU):
            return dict(self._dom.interfaceAddresses(source, flags))
