"""Networks on devices kvmnet does not create: host bridges and macvtap parents (SR-IOV VF
pools: :mod:`.hostdev`).

Starting such a network changes nothing on the host; the plan names the links
that must exist, and guest ports do the real work when they are plugged.
"""
from __future__ import annotations

from kvmnet.errors import ValidationError
from kvmnet.model.modes import MODES
from kvmnet.model.network import ForwardMode, Network
from kvmnet.network.drivers.base import NetworkDriver, Plan, PlanContext


def _require_device(net: Network) -> None:
    """The rule define applies (kvmnet.config.validate), for a plan made without define."""
    problem = MODES[net.forward_mode.value].device_problem(net)
    if problem is not None:
        raise ValidationError([problem])


class HostBridgeDriver(NetworkDriver):
    """``<forward mode='bridge'>``: guests join an existing Linux or Open vSwitch bridge."""

    mode = ForwardMode.BRIDGE
    label = MODES["bridge"].label

    def plan(self, net: Network, ctx: PlanContext) -> Plan:
        fwd = net.forward
        _require_device(net)
        links: tuple[str, ...] = ()
        if net.bridge_name:
            links = (net.bridge_name,)
        elif fwd is not None:
            # macvtap in bridge mode over these devices
            links = tuple(i.dev for i in fwd.interfaces) or ((fwd.dev,) if fwd.dev else ())
        return Plan(network=net.name, mode=net.forward_mode, requires_links=links)


class DirectDriver(NetworkDriver):
    """macvtap modes: guests get a macvtap on one of the forward devices."""

    label = MODES["vepa"].label

    def plan(self, net: Network, ctx: PlanContext) -> Plan:
        fwd = net.forward
        _require_device(net)
        devs: tuple[str, ...] = ()
        if fwd is not None:
            devs = tuple(i.dev for i in fwd.interfaces) or ((fwd.dev,) if fwd.dev else ())
            if fwd.pf:
                devs = (fwd.pf,)
        return Plan(network=net.name, mode=net.forward_mode, requires_links=devs)


class PrivateDriver(DirectDriver):
    mode = ForwardMode.PRIVATE


class VepaDriver(DirectDriver):
    mode = ForwardMode.VEPA


class PassthroughDriver(DirectDriver):
    mode = ForwardMode.PASSTHROUGH
