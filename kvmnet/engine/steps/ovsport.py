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

from kvmnet.engine.step import KERNEL, Step, Undo, register, register_undo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from kvmnet.engine.executor import Context

#: external_ids keys of kvmnet's marks on the Ports it makes
OWNER_KEY = "kvmnet-owner"
PORT_KEY = "kvmnet-port"

_SWITCHES: dict[str, Any] = {}


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
        try:
            found.close()
        except Exception:  # noqa: BLE001 - a dead connection: nothing to close cleanly
            pass
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
        sw = switch()
        for found in sw.ports_with({PORT_KEY: str(entry["port_uuid"])}):
            sw.del_port(found.name, if_exists=True)

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return f"ovs-vsctl --timeout=5 -- --if-exists del-port {entry['name']}"
