"""One plugger per plug type: the registry (os-vif's plugin shape).

A plugger (:class:`kvmnet.port.plugs.base.Plugger`) makes the host side of a guest port for one
kind of ``<plug type=...>`` (:class:`kvmnet.model.port.PlugType`): ``plug``, ``unplug``,
``describe`` (the shell form of what plugging does), and ``attach``/``detach`` to keep a port
across its network's restart.  :mod:`kvmnet.port.ports` picks the plugger here, from the plug
the network's driver handed out (:meth:`kvmnet.model.modes.ModeRules.plug_for`), or
from a port's run record when unplugging; it never branches on the plug type itself.

Today: the tap on a Linux bridge (:mod:`.tap_bridge`) for ``network`` (a bridge the network
owns) and ``bridge`` (a host bridge); the tap on an Open vSwitch bridge (:mod:`.ovs`: a
``bridge`` plug with ``<virtualport type='openvswitch'/>``, key ``bridge/openvswitch``); a
macvtap (:mod:`.macvtap`) for ``direct``; SR-IOV VFs (:mod:`.hostdev`, ``hostdev-pci``).  A
new plug type is one module and one line in :data:`PLUGGERS`.

Imports nothing heavy at import time, so that a cold command pays only for what it uses.
"""
from __future__ import annotations

from kvmnet.errors import UnsupportedError

TYPE_CHECKING = False  # typing costs ~4.5 ms of a cold start: annotations only
if TYPE_CHECKING:
    from typing import Any

    from kvmnet.model.network import Network
    from kvmnet.model.port import NetworkPort
    from kvmnet.port.plugs.base import Plugger

#: plugger key -> "module:Class" (imported on first use)
PLUGGERS: dict[str, str] = {
    "network": "kvmnet.port.plugs.tap_bridge:TapBridgePlugger",
    "bridge": "kvmnet.port.plugs.tap_bridge:TapBridgePlugger",
    "bridge/openvswitch": "kvmnet.port.plugs.ovs:OvsPlugger",
    "direct": "kvmnet.port.plugs.macvtap:MacvtapPlugger",
    "hostdev-pci": "kvmnet.port.plugs.hostdev:HostdevPlugger",
}

#: plugger keys a network may hand out that have no plugger yet: what is missing
MISSING: dict[str, str] = {
}

_LOADED: dict[str, Plugger] = {}


def key_of(port: NetworkPort) -> str:
    """The plugger key of an allocated port: its plug type, and for a bridge plug the switch
    when it is not a Linux bridge (Open vSwitch is a switch backend, not a plug type)."""
    key = port.plug_type.value
    vport = port.virtualport
    if key == "bridge" and vport is not None and vport.type == "openvswitch":
        key += "/openvswitch"
    return key


def record_key(rec: dict[str, Any]) -> str:
    """The plugger key of a port's run record (records older than pluggers: the plug type)."""
    return str(rec.get("plugger") or rec.get("plug_type") or "network")


def require(net: Network, port: NetworkPort) -> None:
    """Refuse, before anything changes, a port that no plugger can plug (naming what is
    missing)."""
    key = key_of(port)
    if key in PLUGGERS:
        return
    what = MISSING.get(key, f"'{key}'")
    raise UnsupportedError(f"network '{net.name}' (forward mode '{net.forward_mode.value}') "
                           f"hands out {what} devices, which kvmnet's guest ports cannot plug "
                           "yet; use a bridge, NAT, routed, open or isolated network")


def plugger(key: str) -> Plugger:
    """The plugger registered under ``key`` (see :func:`key_of`, :func:`record_key`)."""
    found = _LOADED.get(key)
    if found is not None:
        return found
    target = PLUGGERS.get(key)
    if target is None:
        raise UnsupportedError(f"no plugger for plug type '{key}': kvmnet cannot plug or "
                               f"unplug {MISSING.get(key, key)} ports yet")
    import importlib

    module, _, cls = target.partition(":")
    made: Plugger = getattr(importlib.import_module(module), cls)()
    _LOADED[key] = made
    return made
