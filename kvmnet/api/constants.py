"""libvirt-python's numeric flags and enums for networks, under the same names.

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
