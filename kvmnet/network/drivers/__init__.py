"""The one registry of forward-mode drivers.

A mode's facts and define-time rules are :mod:`kvmnet.model.modes` (cheap to import:
define, validate and the store read them); its planning driver (:mod:`.virtual`,
:mod:`.passive`, which import the renderers) is imported here only when a network is planned.
A new kind of network is one entry in ``modes.MODES`` and one driver class.  What the live
XML of an active network adds from the host (:func:`live_view`) is the mode's
``ModeRules.live_view`` hook, a function beside its driver.

Imports nothing heavy at import time, so that a cold command pays only for what it uses.
"""
from __future__ import annotations

from kvmnet.model.modes import MODES, ModeRules, mode_of

TYPE_CHECKING = False  # typing costs ~4.5 ms of a cold start: annotations only
if TYPE_CHECKING:
    from collections.abc import Mapping

    from kvmnet.api import Connection
    from kvmnet.model.network import Network
    from kvmnet.network.drivers.base import NetworkDriver

__all__ = ["MODES", "ModeRules", "driver_for", "live_view", "mode_of"]

_DRIVERS: dict[str, NetworkDriver] = {}


def driver_for(net: Network) -> NetworkDriver:
    """The planning driver of ``net`` (imported on first use): its forward mode's, picked once
    here where a mode is two kinds of network (:meth:`ModeRules.variant`: bridge mode on a
    host bridge, or macvtap over devices), so that no driver needs to know another."""
    spec = mode_of(net).variant(net).driver
    driver = _DRIVERS.get(spec)
    if driver is None:
        import importlib

        module, _, cls = spec.partition(":")
        driver = _DRIVERS[spec] = getattr(importlib.import_module(module), cls)()
    return driver


def live_view(conn: Connection, net: Network, used: Mapping[str, int]) -> Network:
    """Active network ``net`` as its live XML shows it: what its driver's ``live_view`` hook
    (:attr:`ModeRules.live_view`) adds from the host, e.g. a macvtap pool's devices with their
    ``connections`` (``used``: plugged ports per pool device, from the port records) or a
    hostdev network's VFs.  Only a mode with a hook imports anything (a virtual network's
    driver pulls in the renderers, which net-dumpxml does not need)."""
    spec = mode_of(net).variant(net).live_view
    if not spec:
        return net
    from kvmnet.model.modes import hook

    view: Network = hook(spec)(conn, net, used)
    return view
