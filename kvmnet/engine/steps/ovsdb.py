"""Open vSwitch database changes: a port on an OVS bridge (the OVS plugger's step).

``ovsdb.port`` adds a port (and its interface) to an OVS bridge in one OVSDB transaction
through :mod:`kvmnet.host.ovsdb` (no ovs-vsctl process), with its VLAN settings, external_ids
and ingress policing, and optionally libvirt's QoS rows for outbound shaping.  Its undo
(``ovsdb.port``) deletes the port if it is still there with its marks, with the QoS/Queue rows
only it used; ``undo_many`` takes several in one transaction (a host that runs undos in
threads gathers them).
``db``: the OVSDB remote (``unix:PATH``), None for the usual choice (``db_remote``).
``wait``: wait for ovs-vswitchd to apply it and report the interface's error (ovs-vsctl's
default; ~30 ms a port on the userspace datapath), or not (``--no-wait``, the plug hot path).
"""
from __future__ import annotations

import shlex

from kvmnet.engine.step import KERNEL, Step, Undo, register, register_undo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from kvmnet.engine.executor import Context


#: the qos field's names and the other_config keys they become (libvirt's order)
_QOS_KEYS = (("min_rate", "min-rate"), ("burst", "burst"), ("max_rate", "max-rate"))


def _pairs(column: str, values: dict[str, str]) -> list[str]:
    from kvmnet.host.ovsnames import vsctl_string

    return [f"{column}:{vsctl_string(k)}={vsctl_string(v)}" for k, v in sorted(values.items())]


def _vsctl(db: str | None, wait: bool, *args: str) -> str:
    head = ["ovs-vsctl"] + ([f"--db={db}"] if db else []) + ([] if wait else ["--no-wait"])
    return shlex.join(head + list(args))


@register
class AddOvsPort(Step):
    kind = "ovsdb.port"
    section = "links"
    fields = ("bridge", "port", "may_exist", "iface_type", "tag", "trunks", "vlan_mode",
              "external_ids", "other_config", "iface_external_ids", "ingress_policing_rate",
              "ingress_policing_burst", "qos", "qos_external_ids", "db", "wait")
    defaults: ClassVar[dict[str, Any]] = {
        "may_exist": True, "iface_type": None, "tag": None, "trunks": [], "vlan_mode": None,
        "external_ids": {}, "other_config": {}, "iface_external_ids": {},
        "ingress_policing_rate": None, "ingress_policing_burst": None, "qos": None,
        "qos_external_ids": {}, "db": None, "wait": True}
    bridge: str
    port: str
    may_exist: bool
    iface_type: str | None
    tag: int | None
    trunks: list[int]
    vlan_mode: str | None
    external_ids: dict[str, str]
    other_config: dict[str, str]
    iface_external_ids: dict[str, str]
    ingress_policing_rate: int | None  # kbps
    ingress_policing_burst: int | None  # kb
    # outbound shaping, bits/s and bits: {"min_rate", "max_rate", "burst"} (values may be
    # None), as kvmnet.host.ovsnames.libvirt_tx_qos makes them from libvirt's rates
    qos: dict[str, int | None] | None
    qos_external_ids: dict[str, str]  # on the QoS, its queue and the port (libvirt: vm-id, ifname)
    db: str | None
    wait: bool

    def describe(self) -> str:
        args = (["--may-exist"] if self.may_exist else []) + ["add-port", self.bridge, self.port]
        if self.tag is not None:
            args.append(f"tag={self.tag}")
        if self.trunks:
            args.append("trunks=" + ",".join(map(str, sorted(self.trunks))))
        if self.vlan_mode is not None:
            args.append(f"vlan_mode={self.vlan_mode}")
        args += _pairs("external_ids", self.external_ids)
        args += _pairs("other_config", self.other_config)
        iface = []
        if self.iface_type:
            iface.append(f"type={self.iface_type}")
        iface += _pairs("external_ids", self.iface_external_ids)
        if self.ingress_policing_rate is not None:
            iface.append(f"ingress_policing_rate={self.ingress_policing_rate}")
        if self.ingress_policing_burst is not None:
            iface.append(f"ingress_policing_burst={self.ingress_policing_burst}")
        if iface:
            args += ["--", "set", "Interface", self.port, *iface]
        if self.qos:
            conf = [f"other_config:{key}={self.qos[name]}" for name, key in _QOS_KEYS
                    if self.qos.get(name) is not None]
            ids = _pairs("external_ids", self.qos_external_ids)
            args += ["--", "set", "Port", self.port, "qos=@qos", *ids, "--", "--id=@qos",
                     "create", "QoS", "type=linux-htb", *conf, "queues:0=@q", *ids, "--",
                     "--id=@q", "create", "Queue", *conf, *ids]
        return _vsctl(self.db, self.wait, *args)

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        entry: dict[str, Any] = {"kind": "ovsdb.port", "port": self.port, "bridge": self.bridge,
                                 "db": self.db}
        if self.external_ids:
            # the undo deletes only a port that still carries them: after a crash the name
            # (a guest's vnetN) may belong to another port
            entry["external_ids"] = dict(self.external_ids)
        return entry

    def apply(self, ctx: Context) -> None:
        sw = ctx.host.ovsdb(self.db)
        wait, sw.wait = sw.wait, self.wait
        try:
            sw.add_port(self.bridge, self.port, may_exist=self.may_exist,
                        iface_type=self.iface_type, tag=self.tag, trunks=self.trunks,
                        vlan_mode=self.vlan_mode, external_ids=self.external_ids,
                        other_config=self.other_config,
                        iface_external_ids=self.iface_external_ids,
                        ingress_policing_rate=self.ingress_policing_rate,
                        ingress_policing_burst=self.ingress_policing_burst)
            if self.qos:
                sw.set_port_qos(self.port, max_rate=self.qos.get("max_rate"),
                                burst=self.qos.get("burst"), min_rate=self.qos.get("min_rate"),
                                external_ids=self.qos_external_ids)
        finally:
            sw.wait = wait


@register_undo
class DeleteOvsPort(Undo):
    """Delete the port (and QoS/Queue rows only it used) if it is still on its bridge."""

    kind = "ovsdb.port"
    phase = KERNEL

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        DeleteOvsPort.undo_many([entry], ctx)

    @staticmethod
    def undo_many(entries: list[dict[str, Any]], ctx: Context) -> None:
        """Several of these undos (one database) in one OVSDB transaction: a host running
        undos in threads gathers them (:class:`kvmnet.port.plugs.ovs.SharedOvsHost`)."""
        sw = ctx.host.ovsdb(entries[0].get("db"))
        sw.del_marked_ports([(e["port"], e["bridge"], e.get("external_ids") or {})
                             for e in entries])

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return _vsctl(entry.get("db"), True, "--if-exists", "del-port", entry["bridge"],
                      entry["port"])
