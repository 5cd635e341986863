"""A libvirt-python shaped API over kvmnet's store.

``kvmnet.open()`` gives a :class:`Connection`; its methods and the
:class:`Network` handles mirror ``libvirt.virConnect`` and
``libvirt.virNetwork`` (same names, same numeric flags and enums), so code
written for libvirt-python reads the same.  Errors are
:class:`~kvmnet.errors.KvmnetError` subclasses with ``get_error_code()``.

The package: :mod:`~kvmnet.api.connection` (``virConnect``),
:mod:`~kvmnet.api.network` (``virNetwork``), :mod:`~kvmnet.api.constants` (the ``VIR_*``
numbers) and :mod:`~kvmnet.api.documents` (size cap, net-validate); every public name is
importable from ``kvmnet.api`` itself.  Starting (``create``, ``networkCreateXML``),
stopping (``destroy``) and live updates go to :mod:`kvmnet.network.start`,
:mod:`kvmnet.network.runtime` and :mod:`kvmnet.network.compile`, imported only when used.
Nothing here imports an XML reader until a document must be parsed (and network documents
never need lxml: :mod:`kvmnet.xmlio.expat_tree`), which keeps ``kvmnet net-list``
quick to start.  The connection also hands out the other objects, as ``virConnect`` does: guest
ports (``networkPort*``), bridges (:meth:`Connection.bridges`), host interfaces
(:meth:`Connection.interfaces`) and guests (:meth:`Connection.guests`, with the
``VIR_DOMAIN_*`` constants loaded from :mod:`kvmnet.guests` on first use).  This is the
one facade: the command line uses nothing else that acts (see :mod:`kvmnet.cli`).
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from kvmnet.api.doctor import diagnoseHost as diagnoseHost  # lazy: see __getattr__
    from kvmnet.api.doctor import watchHost as watchHost

from kvmnet.api.connection import Connection, sort_key
from kvmnet.api.constants import (
    MAX_XML_BYTES,
    VIR_CONNECT_LIST_NETWORKS_ACTIVE,
    VIR_CONNECT_LIST_NETWORKS_AUTOSTART,
    VIR_CONNECT_LIST_NETWORKS_INACTIVE,
    VIR_CONNECT_LIST_NETWORKS_NO_AUTOSTART,
    VIR_CONNECT_LIST_NETWORKS_PERSISTENT,
    VIR_CONNECT_LIST_NETWORKS_TRANSIENT,
    VIR_NETWORK_CREATE_VALIDATE,
    VIR_NETWORK_DEFINE_VALIDATE,
    VIR_NETWORK_SECTION_BRIDGE,
    VIR_NETWORK_SECTION_DNS_HOST,
    VIR_NETWORK_SECTION_DNS_SRV,
    VIR_NETWORK_SECTION_DNS_TXT,
    VIR_NETWORK_SECTION_DOMAIN,
    VIR_NETWORK_SECTION_FORWARD,
    VIR_NETWORK_SECTION_FORWARD_INTERFACE,
    VIR_NETWORK_SECTION_FORWARD_PF,
    VIR_NETWORK_SECTION_IP,
    VIR_NETWORK_SECTION_IP_DHCP_HOST,
    VIR_NETWORK_SECTION_IP_DHCP_RANGE,
    VIR_NETWORK_SECTION_NONE,
    VIR_NETWORK_SECTION_PORTGROUP,
    VIR_NETWORK_UPDATE_AFFECT_CONFIG,
    VIR_NETWORK_UPDATE_AFFECT_CURRENT,
    VIR_NETWORK_UPDATE_AFFECT_LIVE,
    VIR_NETWORK_UPDATE_COMMAND_ADD_FIRST,
    VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
    VIR_NETWORK_UPDATE_COMMAND_DELETE,
    VIR_NETWORK_UPDATE_COMMAND_MODIFY,
    VIR_NETWORK_UPDATE_COMMAND_NONE,
    VIR_NETWORK_XML_INACTIVE,
)
from kvmnet.api.documents import canonicalNetworkXML, check_size
from kvmnet.api.network import SNAPSHOT_SECONDS, Network
from kvmnet.api.ovs import open_switch, ovs_reconcile, ovs_start, ovs_status, ovs_stop, run_vsctl

TYPE_CHECKING = False
if TYPE_CHECKING:  # loaded on first use by __getattr__: the net-forward-* verbs need the
    # forward functions; net-update's tables load kvmnet.model.update's enums
    from typing import Any

    from kvmnet.api.constants import UPDATE_COMMANDS, UPDATE_SECTIONS
    from kvmnet.api.forward import addForward, listForwards, makeForward, removeForward

__all__ = [
    "MAX_XML_BYTES",
    "SNAPSHOT_SECONDS",
    "UPDATE_COMMANDS",
    "UPDATE_SECTIONS",
    "VIR_CONNECT_LIST_NETWORKS_ACTIVE",
    "VIR_CONNECT_LIST_NETWORKS_AUTOSTART",
    "VIR_CONNECT_LIST_NETWORKS_INACTIVE",
    "VIR_CONNECT_LIST_NETWORKS_NO_AUTOSTART",
    "VIR_CONNECT_LIST_NETWORKS_PERSISTENT",
    "VIR_CONNECT_LIST_NETWORKS_TRANSIENT",
    "VIR_NETWORK_CREATE_VALIDATE",
    "VIR_NETWORK_DEFINE_VALIDATE",
    "VIR_NETWORK_SECTION_BRIDGE",
    "VIR_NETWORK_SECTION_DNS_HOST",
    "VIR_NETWORK_SECTION_DNS_SRV",
    "VIR_NETWORK_SECTION_DNS_TXT",
    "VIR_NETWORK_SECTION_DOMAIN",
    "VIR_NETWORK_SECTION_FORWARD",
    "VIR_NETWORK_SECTION_FORWARD_INTERFACE",
    "VIR_NETWORK_SECTION_FORWARD_PF",
    "VIR_NETWORK_SECTION_IP",
    "VIR_NETWORK_SECTION_IP_DHCP_HOST",
    "VIR_NETWORK_SECTION_IP_DHCP_RANGE",
    "VIR_NETWORK_SECTION_NONE",
    "VIR_NETWORK_SECTION_PORTGROUP",
    "VIR_NETWORK_UPDATE_AFFECT_CONFIG",
    "VIR_NETWORK_UPDATE_AFFECT_CURRENT",
    "VIR_NETWORK_UPDATE_AFFECT_LIVE",
    "VIR_NETWORK_UPDATE_COMMAND_ADD_FIRST",
    "VIR_NETWORK_UPDATE_COMMAND_ADD_LAST",
    "VIR_NETWORK_UPDATE_COMMAND_DELETE",
    "VIR_NETWORK_UPDATE_COMMAND_MODIFY",
    "VIR_NETWORK_UPDATE_COMMAND_NONE",
    "VIR_NETWORK_XML_INACTIVE",
    "Connection",
    "Network",
    "addForward",
    "canonicalNetworkXML",
    "check_size",
    "listForwards",
    "makeForward",
    "open_switch",
    "ovs_reconcile",
    "ovs_start",
    "ovs_status",
    "ovs_stop",
    "removeForward",
    "run_vsctl",
    "sort_key",
]


#: Names of :mod:`kvmnet.api.doctor` (kvmnet doctor, kvmnet watch), loaded on first use.
_DOCTOR_NAMES = ("diagnoseHost", "watchHost")

_GUEST_CONSTANTS = ("VIR_DOMAIN_", "VIR_CONNECT_LIST_DOMAINS_", "VIR_IP_ADDR_TYPE_")
_FORWARD_NAMES = ("addForward", "listForwards", "makeForward", "removeForward")


#: Names of :mod:`kvmnet.api.nodedev`, loaded on first use (the network verbs need none).
_NODEDEV_NAMES = ("NodeDevice", "node_device_cap_flags", "VIR_CONNECT_LIST_NODE_DEVICES_",
                  "VIR_NODE_DEVICE_")


def __getattr__(name: str) -> Any:
    """libvirt's domain constants (``VIR_DOMAIN_AFFECT_LIVE``, ...), defined beside the guests
    in :mod:`kvmnet.guests` and loaded from there on first use (the network verbs need none);
    the node-device names of :mod:`kvmnet.api.nodedev`, the port forward functions of
    :mod:`kvmnet.api.forward` and doctor's of :mod:`kvmnet.api.doctor`, likewise; net-update's
    name tables (``UPDATE_COMMANDS``, ``UPDATE_SECTIONS``), from :mod:`kvmnet.api.constants`
    on first use too."""
    if name in ("UPDATE_COMMANDS", "UPDATE_SECTIONS"):
        from kvmnet.api import constants

        return getattr(constants, name)
    if name in _FORWARD_NAMES:
        from kvmnet.api import forward

        return getattr(forward, name)
    if name in _DOCTOR_NAMES:
        from kvmnet.api import doctor

        return getattr(doctor, name)
    if name.startswith(_NODEDEV_NAMES):
        from kvmnet.api import nodedev

        if hasattr(nodedev, name):
            return getattr(nodedev, name)
    if name.startswith(_GUEST_CONSTANTS):
        from kvmnet import guests

        value = getattr(guests, name, None)
        if isinstance(value, int):
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
