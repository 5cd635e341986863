"""The one registry that maps a forward mode to its driver."""
from __future__ import annotations

from kvmnet.model.network import ForwardMode, Network
from kvmnet.network.drivers.base import NetworkDriver
from kvmnet.network.drivers.passive import (
    HostBridgeDriver,
    HostdevDriver,
    PassthroughDriver,
    PrivateDriver,
    VepaDriver,
)
from kvmnet.network.drivers.virtual import IsolatedDriver, NatDriver, OpenDriver, RouteDriver

_DRIVERS: dict[ForwardMode, NetworkDriver] = {
    d.mode: d
    for d in (
        NatDriver(), RouteDriver(), OpenDriver(), IsolatedDriver(), HostBridgeDriver(),
        PrivateDriver(), VepaDriver(), PassthroughDriver(), HostdevDriver(),
    )
}


def driver_for(net: Network) -> NetworkDriver:
    return _DRIVERS[net.forward_mode]
