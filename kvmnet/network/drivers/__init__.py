"""The one registry of forward-mode drivers.

A mode's facts and define-time rules are :mod:`kvmnet.model.modes` (cheap to import:
define, validate and the store read them); its planning driver (:mod:`.virtual`,
:mod:`.passive`, which import the renderers) is imported here only when a network is planned.
A new kind of network is one entry in ``modes.MODES`` and one driver class.

Imports nothing heavy at import time, so that a cold command pays only for what it uses.
"""
from __future__ import annotations

from kvmnet.model.modes import MODES, ModeRules, mode_of

TYPE_CHECKING = False  # typing costs ~4.5 ms of a cold start: annotations only
if TYPE_CHECKING:
    from kvmnet.model.network import Network
    from kvmnet.network.drivers.base import NetworkDriver

__all__ = ["MODES", "ModeRules", "driver_for", "mode_of"]

_DRIVERS: dict[str, NetworkDriver] = {}


def driver_for(net: Network) -> NetworkDriver:
    """The planning driver of ``net``'s forward mode (imported on first use)."""
    rules = mode_of(net)
    driver = _DRIVERS.get(rules.name)
    if driver is None:
        import importlib

        module, _, cls = rules.driver.partition(":")
        driver = _DRIVERS[rules.name] = getattr(importlib.import_module(module), cls)()
    return driver
