"""A guest's port on a virtual network: libvirt's ``<networkport>`` as frozen data, no I/O.

Mirrors libvirt's ``virNetworkPortDef`` (src/conf/virnetworkportdef.h), as ``@frozen``
records like the network model (:func:`kvmnet.model.frozen.replace` makes changed copies).  The
pieces a port shares with a network definition (bandwidth, VLAN, virtualport,
PCI address, hostdev driver) reuse :mod:`kvmnet.model.network`'s classes, so a
portgroup's settings can be copied onto a port unchanged.  Optional values are
``None`` when absent, which keeps a parse/format round trip exact.
"""
from __future__ import annotations

import enum

from kvmnet.model.frozen import frozen
from kvmnet.model.network import Bandwidth, HostdevDriver, PciAddress, VirtualPort, Vlan


class PlugType(str, enum.Enum):
    """``<plug type=...>``: how the port reaches the network (``NONE``: not plugged yet)."""

    NONE = "none"
    NETWORK = "network"  # a bridge that the network itself owns (nat, route, open, isolated)
    BRIDGE = "bridge"  # an existing host bridge (<forward mode='bridge'>)
    DIRECT = "direct"  # macvtap on a host device
    HOSTDEV_PCI = "hostdev-pci"  # an SR-IOV VF given to the guest


#: ``<plug type='direct' mode=...>``: libvirt's virNetDevMacVLanMode (vepa is its 0, the default).
DIRECT_MODES = ("vepa", "private", "bridge", "passthrough")

#: ``macTableManager`` values that may be written (libvirt refuses its 'default').
MAC_TABLE_MANAGERS = ("kernel", "libvirt")


@frozen
class Plug:
    """The ``<plug>`` element; which fields apply depends on ``type``.

    network/bridge: ``bridge`` (required), ``mac_table_manager``;
    direct: ``dev`` (required), ``mode`` (one of :data:`DIRECT_MODES`);
    hostdev-pci: ``address`` (required), ``managed``, ``driver``.
    """

    type: PlugType
    bridge: str | None = None
    mac_table_manager: str | None = None
    dev: str | None = None
    mode: str | None = None
    managed: bool | None = None
    driver: HostdevDriver | None = None
    address: PciAddress | None = None


@frozen
class NetworkPort:
    """One ``<networkport>`` document.

    ``uuid``, ``owner_uuid`` are canonical (lower-case, dashed); ``mac`` is
    lower-case with two digits per byte.  ``class_id`` is the ``classID`` of
    ``<bandwidth>`` (libvirt's QoS class for a guaranteed ``floor``).
    """

    uuid: str
    owner_name: str
    owner_uuid: str
    mac: str
    group: str | None = None
    virtualport: VirtualPort | None = None
    bandwidth: Bandwidth | None = None
    class_id: int | None = None
    vlan: Vlan | None = None
    isolated: bool | None = None
    trust_guest_rx_filters: bool | None = None
    plug: Plug | None = None

    @property
    def plug_type(self) -> PlugType:
        return self.plug.type if self.plug is not None else PlugType.NONE
