"""Node devices in libvirt-python's shape: ``virNodeDevice`` and the ``virConnect`` calls.

:class:`NodeDevice` mirrors ``libvirt.virNodeDevice`` (``name``, ``parent``, ``XMLDesc``,
``listCaps``, ``dettach``/``detachFlags``, ``reAttach``, ``isActive``...); the connection's
``listAllDevices``, ``listDevices``, ``numOfDevices`` and ``nodeDeviceLookupByName`` call
:func:`list_all` and :func:`lookup_by_name`.  Devices are read from sysfs at each call (``$KVMNET_SYSFS``), as
libvirt's udev backend keeps its list current; the host's devices are found, never defined,
so every device is active, transient and not autostarted, as udev devices are in libvirt.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from kvmnet.model.nodedev import NodeDevice as NodeDeviceDef
    from kvmnet.paths import Paths

from kvmnet.errors import InvalidArgError, quote
from kvmnet.model.nodedev import CAP_TYPES

#: ``VIR_CONNECT_LIST_NODE_DEVICES_CAP_*``: bit i is CAP_TYPES[i] (libvirt's virNodeDevCapType).
CAP_FLAGS = {cap: 1 << i for i, cap in enumerate(CAP_TYPES)}
VIR_CONNECT_LIST_NODE_DEVICES_CAP_SYSTEM = CAP_FLAGS["system"]
VIR_CONNECT_LIST_NODE_DEVICES_CAP_PCI_DEV = CAP_FLAGS["pci"]
VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET = CAP_FLAGS["net"]
VIR_CONNECT_LIST_NODE_DEVICES_INACTIVE = 1 << 30
VIR_CONNECT_LIST_NODE_DEVICES_ACTIVE = 1 << 31
VIR_NODE_DEVICE_XML_INACTIVE = 1


def _addresses_of(ifname: str, mac: str | None) -> list[str]:
    """The IP addresses of an interface of this namespace with that name *and* MAC (so that a
    fake sysfs tree's eth1 is never confused with a real eth1)."""
    from kvmnet.host.netlink import Netlink

    with Netlink() as nl:
        link = nl.link_info(ifname)
        if link is None or (mac is not None and (link.mac or "").lower() != mac.lower()):
            return []
        return [f"{a.address}/{a.prefixlen}" for a in nl.list_addresses() if a.ifname == ifname]


def node_device_cap_flags(caps: list[str] | None) -> int:
    """``--cap net,pci`` words (checked) as ``VIR_CONNECT_LIST_NODE_DEVICES_CAP_*`` flags;
    0 (every device) for none."""
    chosen = {c.strip() for c in caps or [] for c in c.split(",") if c.strip()}
    unknown = sorted(chosen - set(CAP_TYPES))
    if unknown:
        raise InvalidArgError(f"unknown node device capability {quote(unknown[0])}; use one "
                              f"of: {', '.join(CAP_TYPES)}")
    flags = 0
    for cap in chosen:
        flags |= CAP_FLAGS[cap]
    return flags


class NodeDevice:
    """A handle on one host device (``libvirt.virNodeDevice``)."""

    def __init__(self, paths: Paths, definition: NodeDeviceDef) -> None:
        self._paths = paths
        self._def = definition

    def name(self) -> str:
        return self._def.name

    def parent(self) -> str | None:
        return self._def.parent

    def definition(self) -> NodeDeviceDef:
        return self._def

    def XMLDesc(self, flags: int = 0) -> str:
        from kvmnet.xmlio.nodedev_format import format_nodedev

        return format_nodedev(self._def, inactive=bool(flags & VIR_NODE_DEVICE_XML_INACTIVE))

    def listCaps(self) -> list[str]:
        return list(self._def.cap_types())

    def numOfCaps(self) -> int:
        return len(self.listCaps())

    def isActive(self) -> int:
        return 1

    def isPersistent(self) -> int:
        return 0

    def autostart(self) -> int:
        return 0

    def detachFlags(self, driverName: str | None = None, flags: int = 0) -> int:
        """Hand the PCI device to vfio-pci (``nodedev-detach --driver``)."""
        from kvmnet.nodedev.detach import detach

        detach(self._paths, self._def.name, driverName, _addresses_of)
        return 0

    def dettach(self) -> int:  # libvirt's spelling
        return self.detachFlags()

    def reAttach(self) -> int:
        from kvmnet.nodedev.detach import reattach

        reattach(self._paths, self._def.name)
        return 0


def list_all(paths: Paths, flags: int = 0) -> list[NodeDevice]:
    """``virConnectListAllNodeDevices``: every device, or those with a capability in
    ``flags`` (``VIR_CONNECT_LIST_NODE_DEVICES_CAP_*``), sorted by name."""
    from kvmnet.nodedev.devices import all_devices

    wanted = {cap for cap, bit in CAP_FLAGS.items() if flags & bit}
    return [NodeDevice(paths, d) for d in all_devices()
            if not wanted or wanted & set(d.cap_types())]


def lookup_by_name(paths: Paths, name: str) -> NodeDevice:
    from kvmnet.nodedev.devices import lookup

    return NodeDevice(paths, lookup(name))
