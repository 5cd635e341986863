"""Networks on devices kvmnet does not create: host bridges (macvtap: :mod:`.direct`; SR-IOV
VF pools: :mod:`.hostdev`).

Starting such a network changes nothing on the host; the plan names the links
that must exist, and guest ports do the real work when they are plugged.
"""
from __future__ import annotations

from kvmnet.errors import ValidationError
from kvmnet.model.modes import MODES, HostBridgeRules
from kvmnet.model.network import ForwardMode, Network
from kvmnet.network.drivers.base import NetworkDriver, Plan, PlanContext


def _require_device(net: Network) -> None:
    """The rule define applies (kvmnet.config.validate), for a plan made without define."""
    problem = MODES[net.forward_mode.value].device_problem(net)
    if problem is not None:
        raise ValidationError([problem])


class HostBridgeDriver(NetworkDriver):
    """``<forward mode='bridge'>``: guests join an existing Linux or Open vSwitch bridge; with
    no bridge named, macvtap in bridge mode over the forward devices
    (:class:`kvmnet.network.drivers.direct.MacvtapBridgeDriver`).

    Either switch is the user's: the network's start only checks that the bridge exists
    (kvmnet, like libvirt, never creates or deletes it; ``kvmnet ovs add-br`` makes an OVS
    one), guests' ports do the rest (the ``bridge`` and ``bridge/openvswitch`` pluggers)."""

    mode = ForwardMode.BRIDGE
    label = MODES["bridge"].label

    def plan(self, net: Network, ctx: PlanContext) -> Plan:
        _require_device(net)
        if not net.bridge_name:
            from kvmnet.network.drivers.direct import MacvtapBridgeDriver

            return MacvtapBridgeDriver().plan(net, ctx)
        if HostBridgeRules.switch(net) == "openvswitch":
            # an OVS bridge is a row in OVSDB (its kernel device may not even exist, with
            # the kernel datapath it is an internal port): checked there, with a message
            # that says how to create it
            return Plan(network=net.name, mode=net.forward_mode,
                        requires_ovs_bridge=net.bridge_name)
        return Plan(network=net.name, mode=net.forward_mode, requires_links=(net.bridge_name,))

    def live(self, net: Network) -> Network:
        if not net.bridge_name:
            from kvmnet.network.drivers.direct import MacvtapBridgeDriver

            return MacvtapBridgeDriver().live(net)
        return net

    def device_pool(self, net: Network) -> tuple[str, ...]:
        if not net.bridge_name:
            from kvmnet.network.drivers.direct import MacvtapBridgeDriver

            return MacvtapBridgeDriver().device_pool(net)
        return ()

