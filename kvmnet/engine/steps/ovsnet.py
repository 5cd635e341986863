"""Open vSwitch networks: the bridge a network's start needs, and what a guest port becomes.

* ``ovsnet.bridge`` (:class:`NeedOvsBridge`): a bridge-mode network on an Open vSwitch bridge
  starts only when the bridge exists.  kvmnet never creates it (as libvirt never does: the user
  makes it once, ``kvmnet ovs add-br``), so the check is a step of the network's start, printed
  by ``net-plan`` and answered by OVSDB (the bridge is a row there; its kernel device may not
  exist at all).
* :func:`ovs_steps`: a guest port on an OVS bridge as the ``ovsdb.port`` step of
  :mod:`kvmnet.engine.steps.ovsdb` (one OVSDB transaction), filled in as libvirt's
  virNetDevOpenvswitchAddPort and virNetDevOpenvswitchInterfaceSetQos fill in theirs (see
  :mod:`kvmnet.port.plugs.ovs` for the rules).  Pure; the Open vSwitch plugger runs these
  steps, a guest start's ``port.plug`` describes itself with them.
"""
from __future__ import annotations

from kvmnet.engine.step import Step, register
from kvmnet.host.ovsmarks import OWNER_KEY, PORT_KEY

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from kvmnet.engine.executor import Context
    from kvmnet.model.port import NetworkPort


@register
class NeedOvsBridge(Step):
    """Open vSwitch bridge ``name`` must exist for network ``network`` to start."""

    kind = "ovsnet.bridge"
    section = "links"
    fields = ("name", "network")
    name: str
    network: str

    def describe(self) -> str:
        return f"ovs-vsctl br-exists {self.name}  # network {self.network} needs it"

    def apply(self, ctx: Context) -> None:
        from kvmnet.errors import OperationInvalidError, OvsError

        try:
            found = ctx.host.ovsdb(None).bridge_exists(self.name)
        except OvsError as exc:
            raise OperationInvalidError(
                f"network '{self.network}' is on Open vSwitch bridge {self.name}, but "
                f"{exc.message}") from None
        if not found:
            raise OperationInvalidError(
                f"network '{self.network}' needs Open vSwitch bridge {self.name}, which does "
                f"not exist: create it with `kvmnet ovs add-br {self.name}` (kvmnet, like "
                "libvirt, does not create the bridge of a bridge-mode network)")


# -- what a guest port becomes on OVS (pure) ----------------------------------------------------
def vlan_columns(port: NetworkPort) -> dict[str, Any]:
    """The Port's VLAN columns for ``port``'s ``<vlan>`` (libvirt's
    virNetDevOpenvswitchConstructVlans): ``tag``, ``trunks``, ``vlan_mode``."""
    vlan = port.vlan
    out: dict[str, Any] = {"tag": None, "trunks": [], "vlan_mode": None}
    if vlan is None or not vlan.tags:
        return out
    native = next((t for t in vlan.tags if t.native_mode), None)
    if native is not None:
        out["vlan_mode"] = f"native-{native.native_mode}"
        out["tag"] = native.id
    if vlan.trunk:
        out["trunks"] = [t.id for t in vlan.tags]
    elif native is None:
        out["tag"] = vlan.tags[0].id
    return out


def iface_ids(port: NetworkPort, tap: str) -> dict[str, str]:
    """libvirt's external_ids of the Interface.  An allocated port (or a defined guest's
    bridge interface) always has its ``interfaceid`` (:mod:`kvmnet.model.precedence`); the
    port's UUID stands in only where a plan shows a port before that."""
    vport = port.virtualport
    ids = {"attached-mac": port.mac,
           "iface-id": (vport.param("interfaceid") if vport is not None else None) or port.uuid,
           "vm-id": port.owner_uuid, "iface-status": "active"}
    profile = vport.param("profileid") if vport is not None else None
    if profile:
        ids["port-profile"] = profile
        ids["ifname"] = tap  # libvirt sets it only with a profile
    return ids


def ovs_steps(port: NetworkPort, tap: str, owner: str) -> list[Step]:
    """The ``ovsdb.port`` step that makes tap ``tap`` the OVS port of ``port`` (allocated: its
    plug names the bridge), marked as ``owner``'s (the state root, :mod:`kvmnet.host.ovsmarks`).

    Bandwidth with libvirt's directions for a tap: ``<outbound>`` (what the guest sends) is
    policed on the Interface in kbit/s and kbit; ``<inbound>`` (what it receives) is shaped by
    a linux-htb QoS and Queue in bit/s: min-rate the average, max-rate the peak (the average
    when there is none: libvirt then sets no ceiling, so ``average`` would limit nothing),
    burst in bits."""
    from kvmnet.engine.steps.ovsdb import AddOvsPort

    assert port.plug is not None and port.plug.bridge is not None
    bw = port.bandwidth
    out_rate = bw.outbound if bw is not None else None
    in_rate = bw.inbound if bw is not None else None
    policing: dict[str, int] = {}
    if out_rate is not None and out_rate.average:
        policing["ingress_policing_rate"] = out_rate.average * 8
        if out_rate.burst:
            policing["ingress_policing_burst"] = out_rate.burst * 8
    qos = None
    if in_rate is not None and in_rate.average:
        qos = {"min_rate": in_rate.average * 8000,
               "max_rate": (in_rate.peak or in_rate.average) * 8000}
        if in_rate.burst:
            qos["burst"] = in_rate.burst * 8192
    # no wait for ovs-vswitchd (ovs-vsctl --no-wait): a plug is a hot path; whether it could
    # open the tap is checked once for many ports afterwards (OvsPlugger.settle)
    # libvirt's virNetDevOpenvswitchInterfaceSetTxQos marks the QoS, its queue and the port
    # with the guest and the tap, so that its clean-up finds them
    qos_ids = {"vm-id": port.owner_uuid, "ifname": tap} if qos else {}
    return [AddOvsPort(bridge=port.plug.bridge, port=tap, may_exist=False,
                       external_ids={OWNER_KEY: owner, PORT_KEY: port.uuid},
                       iface_external_ids=iface_ids(port, tap), qos=qos,
                       qos_external_ids=qos_ids, wait=False, **vlan_columns(port),
                       **policing)]
