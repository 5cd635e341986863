"""Networks on devices kvmnet does not create: host bridges (macvtap: :mod:`.direct`; SR-IOV
VF pools: :mod:`.hostdev`).

Starting such a network changes nothing on the host; the plan names the links
that must exist, and guest ports do the real work when they are plugged.
"""
from __future__ import annotations

from kvmnet.model.modes import MODES, HostBridgeRules
from kvmnet.model.network import ForwardMode, Network
from kvmnet.network.drivers.base import NetworkDriver, Plan, PlanContext


class HostBridgeDriver(NetworkDriver):
    """``<forward mode='bridge'>`` with a ``<bridge>``: guests join an existing Linux or Open
    vSwitch bridge.  (With no bridge named, the registry hands the network to the macvtap
    driver instead: ``HostBridgeRules.variant``.)

    Either switch is the user's: the network's start only checks that the bridge exists
    (kvmnet, like libvirt, never creates or deletes it; ``kvmnet ovs add-br`` makes an OVS
    one), guests' ports do the rest (the ``bridge`` and ``bridge/openvswitch`` pluggers)."""

    mode = ForwardMode.BRIDGE
    label = MODES["bridge"].label

    def plan(self, net: Network, ctx: PlanContext) -> Plan:
        bridge = net.bridge_name
        assert bridge, "bridge mode without a <bridge> is planned by MacvtapBridgeDriver"
        if HostBridgeRules.switch(net) == "openvswitch":
            # an OVS bridge is a row in OVSDB (its kernel device may not even exist, with
            # the kernel datapath it is an internal port): checked there, with a message
            # that says how to create it
            return Plan(network=net.name, mode=net.forward_mode, requires_ovs_bridge=bridge)
        return Plan(network=net.name, mode=net.forward_mode, requires_links=(bridge,))
