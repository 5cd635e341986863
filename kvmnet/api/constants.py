"""libvirt-python's numeric flags and enums for networks, ports, interfaces and node devices.

Only plain numbers (and net-update's name tables, from :mod:`kvmnet.model.update`, looked
up when first asked for: that module's enums would load ``enum``, and with it ``functools``
and ``collections``, on every cold verb): the package :mod:`kvmnet.api` re-exports all of them.
"""
from __future__ import annotations

TYPE_CHECKING = False

# virConnectListAllNetworksFlags
VIR_CONNECT_LIST_NETWORKS_INACTIVE = 1
VIR_CONNECT_LIST_NETWORKS_ACTIVE = 2
VIR_CONNECT_LIST_NETWORKS_PERSISTENT = 4
VIR_CONNECT_LIST_NETWORKS_TRANSIENT = 8
VIR_CONNECT_LIST_NETWORKS_AUTOSTART = 16
VIR_CONNECT_LIST_NETWORKS_NO_AUTOSTART = 32

# virNetworkXMLFlags
VIR_NETWORK_XML_INACTIVE = 1

# virNetworkDefineFlags, virNetworkCreateFlags: refuse unknown elements and attributes
# (libvirt: validate against the RelaxNG schema) instead of ignoring them.
VIR_NETWORK_DEFINE_VALIDATE = 1
VIR_NETWORK_CREATE_VALIDATE = 1

# virNetworkUpdateCommand (libvirt-python's names for kvmnet.model.update's numbers)
VIR_NETWORK_UPDATE_COMMAND_NONE = 0
VIR_NETWORK_UPDATE_COMMAND_MODIFY = 1
VIR_NETWORK_UPDATE_COMMAND_DELETE = 2
VIR_NETWORK_UPDATE_COMMAND_ADD_LAST = 3
VIR_NETWORK_UPDATE_COMMAND_ADD_FIRST = 4

# virNetworkUpdateSection (libvirt-python's names for kvmnet.model.update's numbers)
VIR_NETWORK_SECTION_NONE = 0
VIR_NETWORK_SECTION_BRIDGE = 1
VIR_NETWORK_SECTION_DOMAIN = 2
VIR_NETWORK_SECTION_IP = 3
VIR_NETWORK_SECTION_IP_DHCP_HOST = 4
VIR_NETWORK_SECTION_IP_DHCP_RANGE = 5
VIR_NETWORK_SECTION_FORWARD = 6
VIR_NETWORK_SECTION_FORWARD_INTERFACE = 7
VIR_NETWORK_SECTION_FORWARD_PF = 8
VIR_NETWORK_SECTION_PORTGROUP = 9
VIR_NETWORK_SECTION_DNS_HOST = 10
VIR_NETWORK_SECTION_DNS_TXT = 11
VIR_NETWORK_SECTION_DNS_SRV = 12

# virNetworkUpdateFlags
VIR_NETWORK_UPDATE_AFFECT_CURRENT = 0
VIR_NETWORK_UPDATE_AFFECT_LIVE = 1
VIR_NETWORK_UPDATE_AFFECT_CONFIG = 2

# -- the rest of libvirt-network.h, libvirt-interface.h and libvirt-nodedev.h (libvirt 9.0):
# kvmnet's API takes few of them, the libvirt-python compatible module (kvmnet.compat)
# exports all; VIR_IP_ADDR_TYPE_* are kvmnet.guests' (kvmnet.api's __getattr__).

# virNetworkEventLifecycleType
VIR_NETWORK_EVENT_DEFINED = 0
VIR_NETWORK_EVENT_UNDEFINED = 1
VIR_NETWORK_EVENT_STARTED = 2
VIR_NETWORK_EVENT_STOPPED = 3

# virNetworkEventID
VIR_NETWORK_EVENT_ID_LIFECYCLE = 0

# virNetworkPortCreateFlags
VIR_NETWORK_PORT_CREATE_RECLAIM = 1
VIR_NETWORK_PORT_CREATE_VALIDATE = 2

# virNetworkPortSetParameters / GetParameters: typed parameter names
VIR_NETWORK_PORT_BANDWIDTH_IN_AVERAGE = "inbound.average"
VIR_NETWORK_PORT_BANDWIDTH_IN_PEAK = "inbound.peak"
VIR_NETWORK_PORT_BANDWIDTH_IN_BURST = "inbound.burst"
VIR_NETWORK_PORT_BANDWIDTH_IN_FLOOR = "inbound.floor"
VIR_NETWORK_PORT_BANDWIDTH_OUT_AVERAGE = "outbound.average"
VIR_NETWORK_PORT_BANDWIDTH_OUT_PEAK = "outbound.peak"
VIR_NETWORK_PORT_BANDWIDTH_OUT_BURST = "outbound.burst"

# virConnectListAllInterfacesFlags
VIR_CONNECT_LIST_INTERFACES_INACTIVE = 1
VIR_CONNECT_LIST_INTERFACES_ACTIVE = 2

# virInterfaceXMLFlags
VIR_INTERFACE_XML_INACTIVE = 1

# virInterfaceDefineFlags
VIR_INTERFACE_DEFINE_VALIDATE = 1

# virConnectListAllNodeDeviceFlags
VIR_CONNECT_LIST_NODE_DEVICES_CAP_SYSTEM = 1
VIR_CONNECT_LIST_NODE_DEVICES_CAP_PCI_DEV = 2
VIR_CONNECT_LIST_NODE_DEVICES_CAP_USB_DEV = 4
VIR_CONNECT_LIST_NODE_DEVICES_CAP_USB_INTERFACE = 8
VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET = 16
VIR_CONNECT_LIST_NODE_DEVICES_CAP_SCSI_HOST = 32
VIR_CONNECT_LIST_NODE_DEVICES_CAP_SCSI_TARGET = 64
VIR_CONNECT_LIST_NODE_DEVICES_CAP_SCSI = 128
VIR_CONNECT_LIST_NODE_DEVICES_CAP_STORAGE = 256
VIR_CONNECT_LIST_NODE_DEVICES_CAP_FC_HOST = 512
VIR_CONNECT_LIST_NODE_DEVICES_CAP_VPORTS = 1024
VIR_CONNECT_LIST_NODE_DEVICES_CAP_SCSI_GENERIC = 2048
VIR_CONNECT_LIST_NODE_DEVICES_CAP_DRM = 4096
VIR_CONNECT_LIST_NODE_DEVICES_CAP_MDEV_TYPES = 8192
VIR_CONNECT_LIST_NODE_DEVICES_CAP_MDEV = 16384
VIR_CONNECT_LIST_NODE_DEVICES_CAP_CCW_DEV = 32768
VIR_CONNECT_LIST_NODE_DEVICES_CAP_CSS_DEV = 65536
VIR_CONNECT_LIST_NODE_DEVICES_CAP_VDPA = 131072
VIR_CONNECT_LIST_NODE_DEVICES_CAP_AP_CARD = 262144
VIR_CONNECT_LIST_NODE_DEVICES_CAP_AP_QUEUE = 524288
VIR_CONNECT_LIST_NODE_DEVICES_CAP_AP_MATRIX = 1048576
VIR_CONNECT_LIST_NODE_DEVICES_CAP_VPD = 2097152
VIR_CONNECT_LIST_NODE_DEVICES_INACTIVE = 1073741824
VIR_CONNECT_LIST_NODE_DEVICES_ACTIVE = 2147483648

# virNodeDeviceCreateXMLFlags
VIR_NODE_DEVICE_CREATE_XML_VALIDATE = 1

# virNodeDeviceDefineXMLFlags
VIR_NODE_DEVICE_DEFINE_XML_VALIDATE = 1

# virNodeDeviceEventID
VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE = 0
VIR_NODE_DEVICE_EVENT_ID_UPDATE = 1

# virNodeDeviceEventLifecycleType
VIR_NODE_DEVICE_EVENT_CREATED = 0
VIR_NODE_DEVICE_EVENT_DELETED = 1
VIR_NODE_DEVICE_EVENT_DEFINED = 2
VIR_NODE_DEVICE_EVENT_UNDEFINED = 3

#: ``UPDATE_COMMANDS`` and ``UPDATE_SECTIONS``: the names of the update commands and sections, as
#: virsh spells them (index = enum value), from net-update's one table (kvmnet.model.update).
_UPDATE_NAMES = {"UPDATE_COMMANDS": "COMMAND_NAMES", "UPDATE_SECTIONS": "SECTION_NAMES"}


def __getattr__(name: str) -> tuple[str, ...]:
    if name not in _UPDATE_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from kvmnet.model import update

    names: tuple[str, ...] = getattr(update, _UPDATE_NAMES[name])
    return names

#: Largest network document accepted, the same as the XML parser (xmlio.safe) allows:
#: virsh reads up to 10 MiB, but no sane network definition comes near 1 MiB, and the
#: cap keeps a hostile file from eating memory.
MAX_XML_BYTES = 1024 * 1024

#: Every listAllNetworks flag kvmnet knows (any other bit is refused).
LIST_ALL = (VIR_CONNECT_LIST_NETWORKS_INACTIVE | VIR_CONNECT_LIST_NETWORKS_ACTIVE
            | VIR_CONNECT_LIST_NETWORKS_PERSISTENT | VIR_CONNECT_LIST_NETWORKS_TRANSIENT
            | VIR_CONNECT_LIST_NETWORKS_AUTOSTART | VIR_CONNECT_LIST_NETWORKS_NO_AUTOSTART)
