"""A guest's tap as an Open vSwitch port, and the OVS bridge a network needs.

The steps of the Open vSwitch plugger (:mod:`kvmnet.port.plugs.ovs`) after the tap steps of
:mod:`kvmnet.engine.steps.tap` (the tap itself is made the same way on both switches), and the
check a network on an OVS bridge starts with.  They talk to OVSDB through the host adapter
:class:`kvmnet.host.ovsdb.Switch` (one transaction per step, no ``ovs-vsctl`` process) and
describe themselves in ovs-vsctl's shell form, as libvirt's virNetDevOpenvswitchAddPort runs it:

* ``ovsport.add``: the Port and its Interface in one transaction: VLAN (``tag``, ``trunks``,
  ``vlan_mode``), libvirt's Interface external_ids (``attached-mac``, ``iface-id``,
  ``iface-status``, ``vm-id``, ``port-profile``), inbound policing of what the guest sends
  (``ingress_policing_rate``/``burst``), and kvmnet's marks on the Port (``kvmnet-owner``:
  the state root; ``kvmnet-port``: the port's UUID) by which reconcile finds only its own;
* ``ovsport.qos``: what the guest receives, shaped by a linux-htb QoS row with one Queue
  (both marked with libvirt's ``vm-id`` and ``ifname``); it goes with the port;
* ``ovsport.bridge``: a network's start fails unless its OVS bridge exists (kvmnet never
  creates it, as libvirt never does: ``kvmnet ovs add-br``).

Undo kind ``ovsport``: delete the port *only if* it still carries this port's UUID (after a
crash its name, ``vnetN``, may belong to another guest's port), with its QoS and Queue rows.

Plugging is a hot path: one :class:`~kvmnet.host.ovsdb.Switch` per process and database is
kept open (:func:`switch`), so a plug costs one OVSDB transaction, not a new IDL sync.
"""
from __future__ import annotations

import threading

from kvmnet.engine.step import KERNEL, Step, Undo, register, register_undo
from kvmnet.host.ovsmarks import OWNER_KEY, PORT_KEY

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from kvmnet.engine.executor import Context
    from kvmnet.model.port import NetworkPort

_SWITCHES: dict[str, Any] = {}
#: One IDL is not thread-safe, and unplugging many ports runs undos in threads (their tap
#: deletions overlap): every use of a kept Switch holds this lock.
LOCK = threading.RLock()


def switch(fresh: bool = False) -> Any:
    """The open :class:`kvmnet.host.ovsdb.Switch` of this process's database (see
    :func:`kvmnet.host.ovsdb.db_remote`), opened on first use and kept; ``fresh``: reopen it
    (the database went away and came back)."""
    from kvmnet.host import ovsdb

    remote = ovsdb.db_remote()
    found = _SWITCHES.get(remote)
    if found is not None and not fresh:
        found.idl.run()  # take in what other clients changed since
        if found.idl.is_connected():
            return found
    if found is not None:
        _SWITCHES.pop(remote, None)
        import contextlib

        with contextlib.suppress(Exception):  # a dead connection: nothing to close cleanly
            found.close()
    opened = _SWITCHES[remote] = ovsdb.Switch.open(remote)
    return opened


def _q(value: str) -> str:
    """One ovs-vsctl argument value, quoted as libvirt quotes its external-ids."""
    return f'"{value}"'


@register
class AddOvsPort(Step):
    """The tap ``name`` as a Port of OVS bridge ``bridge`` (see the module docstring)."""

    kind = "ovsport.add"
    section = "links"
    fields = ("bridge", "name", "port_uuid", "owner", "tag", "trunks", "vlan_mode",
              "iface_ids", "policing")
    defaults: ClassVar[dict[str, Any]] = {"tag": None, "trunks": [], "vlan_mode": None,
                                          "policing": None}
    bridge: str
    name: str
    port_uuid: str
    owner: str  # the state root of the kvmnet that made it
    tag: int | None
    trunks: list[int]
    vlan_mode: str | None
    iface_ids: dict[str, str]  # libvirt's Interface external_ids, in its order
    policing: list[int] | None  # [rate kbps, burst kb]: ingress policing of the guest's sends

    def port_ids(self) -> dict[str, str]:
        return {OWNER_KEY: self.owner, PORT_KEY: self.port_uuid}

    def describe(self) -> str:
        args = [f"ovs-vsctl --timeout=5 -- --may-exist add-port {self.bridge} {self.name}"]
        if self.vlan_mode:
            args.append(f"vlan_mode={self.vlan_mode}")
        if self.tag is not None:
            args.append(f"tag={self.tag}")
        if self.trunks:
            args.append("trunks=" + ",".join(map(str, self.trunks)))
        args += [f"external_ids:{k}={_q(v)}" for k, v in self.port_ids().items()]
        args += [f"-- set Interface {self.name} external-ids:{k}={_q(v)}"
                 for k, v in self.iface_ids.items()]
        if self.policing:
            args.append(f"-- set Interface {self.name} ingress_policing_rate={self.policing[0]}"
                        f" ingress_policing_burst={self.policing[1]}")
        return " \\\n    ".join(args)

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        return {"kind": "ovsport", "name": self.name, "bridge": self.bridge,
                "port_uuid": self.port_uuid}

    def apply(self, ctx: Context) -> None:
        rate, burst = self.policing if self.policing else (None, None)
        with LOCK:
            switch().add_port(self.bridge, self.name, tag=self.tag, trunks=self.trunks,
                              vlan_mode=self.vlan_mode, external_ids=self.port_ids(),
                              iface_external_ids=self.iface_ids, ingress_policing_rate=rate,
                              ingress_policing_burst=burst)


@register
class OvsPortQos(Step):
    """libvirt's shaping of what the guest receives on an OVS port: a linux-htb QoS with one
    Queue, rates in bit/s.  Nothing to journal: the port's undo deletes its QoS rows."""

    kind = "ovsport.qos"
    section = "links"
    fields = ("name", "min_rate", "max_rate", "burst", "ids")
    defaults: ClassVar[dict[str, Any]] = {"burst": None}
    name: str
    min_rate: int
    max_rate: int
    burst: int | None
    ids: dict[str, str]  # libvirt's vm-id and ifname, on the QoS and Queue rows

    def _config(self) -> str:
        conf = f"other_config:min-rate={self.min_rate} other_config:max-rate={self.max_rate}"
        if self.burst is not None:
            conf += f" other_config:burst={self.burst}"
        return conf + "".join(f" external-ids:{k}={_q(v)}" for k, v in self.ids.items())

    def describe(self) -> str:
        return (f"ovs-vsctl --timeout=5 set port {self.name} qos=@qos1 \\\n"
                f"    -- --id=@qos1 create qos type=linux-htb {self._config()} "
                "queues:0=@queue0 \\\n"
                f"    -- --id=@queue0 create queue {self._config()}")

    def apply(self, ctx: Context) -> None:
        with LOCK:
            switch().set_port_qos(self.name, max_rate=self.max_rate, min_rate=self.min_rate,
                                  burst=self.burst, external_ids=self.ids)


@register
class NeedOvsBridge(Step):
    """A network on an Open vSwitch bridge starts only when the bridge exists: kvmnet does
    not create it (as libvirt does not), the user does, once, with ``kvmnet ovs add-br``."""

    kind = "ovsport.bridge"
    section = "links"
    fields = ("name", "network")
    name: str
    network: str

    def describe(self) -> str:
        return f"ovs-vsctl br-exists {self.name}  # network {self.network} needs it"

    def apply(self, ctx: Context) -> None:
        from kvmnet.errors import OperationInvalidError, OvsError

        try:
            with LOCK:
                found = switch().bridge_exists(self.name)
        except OvsError as exc:
            raise OperationInvalidError(
                f"network '{self.network}' is on Open vSwitch bridge {self.name}, but "
                f"{exc.message}") from None
        if not found:
            raise OperationInvalidError(
                f"network '{self.network}' needs Open vSwitch bridge {self.name}, which does "
                f"not exist: create it with `kvmnet ovs add-br {self.name}` (kvmnet, like "
                "libvirt, does not create the bridge of a bridge-mode network)")


@register_undo
class DeleteOvsPort(Undo):
    """The OVS port kvmnet made for port ``port_uuid``, with its QoS and Queue rows; a port of
    that name that carries another UUID (or none) is not ours and stays."""

    kind = "ovsport"
    phase = KERNEL  # before the tap's deletion (undone in reverse, same phase)

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        from kvmnet.errors import OvsError

        with LOCK:
            try:
                sw = switch()
            except OvsError:
                # No database answers: no switch forwards to the port now.  Its row (kept
                # by a stopped private OVS) is removed by `kvmnet ovs reconcile` once the
                # switch runs again; blocking the guest's teardown on it would help nobody.
                return
            wanted = str(entry["port_uuid"])
            # by name first (an index lookup: unplugging stays O(1) with 1,000 ports; the
            # client has no public by-name read of external_ids yet), else by the mark
            row = sw._one("Port", str(entry.get("name") or ""))
            if row is not None and row.external_ids.get(PORT_KEY) == wanted:
                sw.del_port(str(row.name), if_exists=True)
                return
            for found in sw.ports_with({PORT_KEY: wanted}):
                sw.del_port(found.name, if_exists=True)

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return f"ovs-vsctl --timeout=5 -- --if-exists del-port {entry['name']}"


# -- what a guest port becomes on OVS (pure; the plugger and the guest port step use it) --
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
    """libvirt's external_ids of the Interface, in libvirt's order."""
    vport = port.virtualport
    ids = {"attached-mac": port.mac,
           "iface-id": (vport.param("interfaceid") if vport is not None else None) or port.uuid,
           "vm-id": port.owner_uuid}
    profile = vport.param("profileid") if vport is not None else None
    if profile:
        ids["port-profile"] = profile
        ids["ifname"] = tap
    ids["iface-status"] = "active"
    return ids


def ovs_steps(port: NetworkPort, tap: str, owner: str) -> list[Step]:
    """The OVSDB steps that make tap ``tap`` the OVS port of ``port`` (pure)."""
    assert port.plug is not None and port.plug.bridge is not None
    bw = port.bandwidth
    out_rate = bw.outbound if bw is not None else None
    in_rate = bw.inbound if bw is not None else None
    policing = None
    if out_rate is not None and out_rate.average:
        policing = [out_rate.average * 8, (out_rate.burst or 0) * 8]
    steps: list[Step] = [AddOvsPort(bridge=port.plug.bridge, name=tap, port_uuid=port.uuid,
                                    owner=owner, iface_ids=iface_ids(port, tap),
                                    policing=policing, **vlan_columns(port))]
    if in_rate is not None and in_rate.average:
        steps.append(OvsPortQos(name=tap, min_rate=in_rate.average * 8000,
                                max_rate=(in_rate.peak or in_rate.average) * 8000,
                                burst=in_rate.burst * 8192 if in_rate.burst else None,
                                ids={"vm-id": port.owner_uuid, "ifname": tap}))
    return steps
