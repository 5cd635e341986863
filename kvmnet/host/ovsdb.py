"""Open vSwitch's database (OVSDB) through the ``ovs`` library's IDL: the thin adapter.

This is the one place that talks to ovsdb-server; no ``ovs-vsctl`` process ever runs.  It sits in
the host layer so that engine steps (``kvmnet/engine/steps/ovsdb.py``) can call it; the
ovs-vsctl verbs, their formatting and the private daemons live in :mod:`kvmnet.ovs`, whose
:class:`kvmnet.ovs.client.Switch` extends :class:`Switch` with the generic table verbs.

Cheap to open: the IDL registers only the tables and columns that bridges and ports need
(:data:`LEAN`), so the initial sync of a switch with 1,000 ports is a few milliseconds; the
verbs that print whole rows open with ``columns=FULL``.  Each change is one OVSDB transaction
built with mutations (``ports`` gains or loses one UUID: never the whole set rewritten, so a
change costs the same with 10 or 10,000 ports) and guarded by OVSDB ``wait`` operations where a
name must stay unique (the schema has no index on Port or Interface names, ovs-vsctl guards
them by verifying whole columns).  Like ovs-vsctl (without ``--no-wait``) a change waits until
ovs-vswitchd has applied it (``next_cfg``/``cur_cfg``), so an Interface's ``error`` column can
be read back and reported; guest ports are the exception (``wait=False``, the plug hot path:
ovs-vswitchd reconfigures every bridge on each change, ~30 ms with many ports), checked
later with one :meth:`Switch.sync` and :meth:`Switch.iface_error` for them all.  Many ports
go in one transaction (:meth:`Switch.del_marked_ports`).

Messages use ovs-vsctl's words ("no bridge named br9") and say what to do.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence

from kvmnet.errors import OvsError, quote
from kvmnet.host.ovsnames import (
    NOT_RUNNING,
    VLAN_MODES,
    check_ifname,
    check_vlan,
    db_remote,
    default_datapath_type,
    socket_answers,
)
from kvmnet.log import get as get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

log = get_logger("kvmnet.host")

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
#: How long a change waits for ovs-vswitchd to apply it before saying so.
VSWITCHD_TIMEOUT = 10.0
CONNECT_TIMEOUT = 5.0

#: The columns bridges and ports need (what :class:`Switch`'s methods read or write).
LEAN: dict[str, tuple[str, ...]] = {
    "Open_vSwitch": ("bridges", "next_cfg", "cur_cfg", "other_config", "external_ids"),
    "Bridge": ("name", "ports", "datapath_type", "external_ids", "other_config"),
    "Port": ("name", "interfaces", "tag", "trunks", "vlan_mode", "external_ids",
             "other_config", "qos"),
    "Interface": ("name", "type", "error", "ofport", "external_ids", "other_config",
                  "ingress_policing_rate", "ingress_policing_burst"),
    "QoS": ("type", "other_config", "queues", "external_ids"),
    "Queue": ("other_config", "external_ids", "dscp"),
}
#: What plugging and unplugging guest ports reads or writes: :data:`LEAN` but the Interface's
#: ``ofport``, which ovs-vswitchd writes for every new port (one update less to parse a plug).
PLUG: dict[str, tuple[str, ...]] = {
    **LEAN, "Interface": tuple(c for c in LEAN["Interface"] if c != "ofport")}
#: Every column of every table (the verbs that print rows).
FULL: dict[str, tuple[str, ...]] = {"*": ("*",)}


class PortInfo:
    """One port as the IDL sees it: frozen plain data."""

    __slots__ = ("bridge", "error", "external_ids", "iface_external_ids", "name", "ofport")

    def __init__(self, name: str, bridge: str | None, external_ids: Mapping[str, str],
                 iface_external_ids: Mapping[str, str], ofport: int | None,
                 error: str | None) -> None:
        for key, value in (("name", name), ("bridge", bridge),
                           ("external_ids", dict(external_ids)),
                           ("iface_external_ids", dict(iface_external_ids)),
                           ("ofport", ofport), ("error", error)):
            object.__setattr__(self, key, value)

    name: str
    bridge: str | None
    external_ids: dict[str, str]
    iface_external_ids: dict[str, str]
    ofport: int | None
    error: str | None

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("PortInfo is frozen")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PortInfo) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __hash__(self) -> int:
        return hash((self.name, self.bridge))

    def __repr__(self) -> str:
        return f"PortInfo(name={self.name!r}, bridge={self.bridge!r}, ofport={self.ofport!r}, " \
               f"error={self.error!r})"


def _schema_helper(columns: Mapping[str, Sequence[str]]) -> Any:
    import ovs.db.idl

    path = os.environ.get("KVMNET_OVS_SCHEMA", SCHEMA)
    try:
        with open(path, encoding="utf-8") as f:
            schema = json.load(f)  # the C decoder: ovs.json's lexer takes ~60 ms on this file
    except OSError as e:
        raise OvsError(f"cannot read the Open vSwitch schema {path}: {e.strerror}: install "
                       "openvswitch-switch (scripts/setup.sh does)") from None
    helper = ovs.db.idl.SchemaHelper(schema_json=schema)
    if "*" in columns:
        helper.register_all()
        return helper
    for table, cols in columns.items():
        if tuple(cols) == ("*",):
            helper.register_table(table)
        else:
            helper.register_columns(table, list(cols))
    return helper


def _named_idl_class() -> Any:
    """The library's Idl plus ``by_name``: Bridge, Port and Interface rows by name, kept by
    its notify() hook (O(1) a change).  The library's own sorted indexes cost ~0.25 ms a
    port (their comparisons read the name through Row.__getattr__)."""
    import ovs.db.idl

    global _NamedIdl
    if _NamedIdl is None:
        class NamedIdl(ovs.db.idl.Idl):  # type: ignore[misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                self.by_name: dict[str, dict[str, Any]] = {t: {} for t in NAMED}
                self._name_of: dict[Any, str] = {}
                super().__init__(*args, **kwargs)

            def notify(self, event: str, row: Any, updates: Any = None) -> None:
                names = self.by_name.get(row._table.name)
                if names is None:
                    return
                old = self._name_of.pop(row.uuid, None)
                if old is not None and names.get(old) is row or (
                        old is not None and getattr(names.get(old), "uuid", None) == row.uuid):
                    del names[old]
                if event != ovs.db.idl.ROW_DELETE:
                    name = row.name
                    names[name] = row
                    self._name_of[row.uuid] = name

        _NamedIdl = NamedIdl
    return _NamedIdl


#: the tables whose rows :class:`Switch` finds by name
NAMED = ("Bridge", "Port", "Interface")
_NamedIdl: Any = None


class Switch:
    """An open, synced IDL on one OVSDB (``Switch.open``); close() when done.

    ``wait``: changes wait until ovs-vswitchd applied them (ovs-vsctl's default); a database
    without ovs-vswitchd (or ``--no-wait``) needs ``wait=False``.
    """

    def __init__(self, idl: Any, remote: str, wait: bool) -> None:
        self.idl = idl
        self.remote = remote
        self.wait = wait

    @classmethod
    def open(cls, remote: str | None = None, *, columns: Mapping[str, Sequence[str]] = LEAN,
             wait: bool = True) -> Any:
        import ovs.db.idl
        import ovs.poller

        from kvmnet.host import ovsjson

        ovsjson.install()
        remote = db_remote(remote)
        if remote.startswith("unix:") and not socket_answers(remote[5:]):
            raise OvsError(f"cannot connect to {remote}: {NOT_RUNNING}")
        idl = _named_idl_class()(remote, _schema_helper(columns), leader_only=False)
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while True:
            idl.run()
            if idl.has_ever_connected() and idl.state == idl.IDL_S_MONITORING:
                break
            if time.monotonic() > deadline:
                idl.close()
                raise OvsError(f"no answer from the Open vSwitch database at {remote} within "
                               f"{CONNECT_TIMEOUT:g} s: {NOT_RUNNING}")
            poller = ovs.poller.Poller()
            idl.wait(poller)
            poller.timer_wait(100)
            poller.block()
        return cls(idl, remote, wait)

    def close(self) -> None:
        self.idl.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lookups ------------------------------------------------------------------------------
    def named(self, table: str, name: str) -> Any:
        """The row of ``table`` (Bridge, Port, Interface...) named ``name``, or None."""
        names = self.idl.by_name.get(table)
        if names is not None:
            return names.get(name)
        return next((r for r in self.idl.tables[table].rows.values() if r.name == name), None)

    def _bridge(self, name: str) -> Any:
        row = self.named("Bridge", name)
        if row is None:
            raise OvsError(f"no bridge named {name}: `kvmnet ovs list-br` lists the bridges; "
                           f"`kvmnet ovs add-br {name}` creates it")
        return row

    def _bridge_of(self, port_row: Any) -> Any:
        # The bridge's raw datum is read, not Row.ports: that would build a row object for
        # every port of the bridge, O(ports) per call.
        import ovs.db.data
        import ovs.db.types

        atom = ovs.db.data.Atom(ovs.db.types.UuidType, port_row.uuid)
        for bridge in self.idl.tables["Bridge"].rows.values():
            if atom in bridge._data["ports"].values:
                return bridge
        return None

    def _ovs_row(self) -> Any:
        for row in self.idl.tables["Open_vSwitch"].rows.values():
            return row
        raise OvsError("the Open vSwitch database has no Open_vSwitch row (not initialised): "
                       "`kvmnet ovs start` initialises its own; for another database run "
                       "`ovs-vsctl init` once")

    def bridge_exists(self, name: str) -> bool:
        return self.named("Bridge", name) is not None

    def list_bridges(self) -> list[str]:
        return sorted(str(r.name) for r in self.idl.tables["Bridge"].rows.values())

    def port_to_bridge(self, port: str) -> str | None:
        row = self.named("Port", port)
        bridge = self._bridge_of(row) if row is not None else None
        return str(bridge.name) if bridge is not None else None

    def iface_to_bridge(self, iface: str) -> str | None:
        row = self.named("Interface", iface)
        if row is None:
            return None
        for port in self.idl.tables["Port"].rows.values():
            if any(i.uuid == row.uuid for i in port.interfaces):
                return self.port_to_bridge(str(port.name))
        return None

    def list_ports(self, bridge: str) -> list[str]:
        """The bridge's ports but its own local port (named after it), as ovs-vsctl lists."""
        return sorted(str(p.name) for p in self._bridge(bridge).ports if p.name != bridge)

    def ports_with(self, external_ids: Mapping[str, str]) -> list[PortInfo]:
        """Ports whose own or interface's external_ids hold every pair given."""
        wanted = dict(external_ids).items()
        out = []
        bridge_of = {p.uuid: str(b.name) for b in self.idl.tables["Bridge"].rows.values()
                     for p in b.ports}
        for port in self.idl.tables["Port"].rows.values():
            ifaces = port.interfaces
            iface = ifaces[0] if len(ifaces) == 1 else None
            ids = port.external_ids
            iface_ids = iface.external_ids if iface is not None else {}
            if wanted <= ids.items() or (iface is not None and wanted <= iface_ids.items()):
                ofport = iface.ofport[0] if iface is not None and iface.ofport else None
                error = iface.error[0] if iface is not None and iface.error else None
                out.append(PortInfo(str(port.name), bridge_of.get(port.uuid), ids, iface_ids,
                                    ofport, error))
        return sorted(out, key=lambda p: p.name)

    # -- changes ------------------------------------------------------------------------------
    def _txn(self) -> Any:
        import ovs.db.idl

        return ovs.db.idl.Transaction(self.idl)

    def _commit(self, txn: Any, what: str, *, wait: bool | None = None) -> None:
        """Commit ``txn``; with ``wait``, bump next_cfg in it and wait for ovs-vswitchd."""
        import ovs.db.idl

        wait = self.wait if wait is None else wait
        if wait:
            self._ovs_row().increment("next_cfg")
        log.debug("+ ovs-vsctl %s", what)
        status = txn.commit_block()
        if status == ovs.db.idl.Transaction.TRY_AGAIN:
            raise OvsError(f"{what}: the database changed under this change (another client "
                           "made the same change at once); run it again")
        if status not in (ovs.db.idl.Transaction.SUCCESS, ovs.db.idl.Transaction.UNCHANGED):
            raise OvsError(f"{what}: transaction failed: {txn.get_error()}")
        if wait and status == ovs.db.idl.Transaction.SUCCESS:
            self._wait_applied(txn.get_increment_new_value(), what)

    def sync(self, timeout: float = VSWITCHD_TIMEOUT) -> None:
        """Wait until ovs-vswitchd has applied every change made so far (``ovs-vsctl
        sync``'s wait): after ``wait=False`` changes, before reading what it reports."""
        # The IDL sends a transaction holding only an increment as "unchanged": write the
        # next value itself (verified, so that a concurrent bump makes this one retry).
        import ovs.db.idl

        for _ in range(10):
            txn = self._txn()
            row = self._ovs_row()
            row.verify("next_cfg")
            target = row.next_cfg + 1
            row.next_cfg = target
            status = txn.commit_block()
            if status == ovs.db.idl.Transaction.SUCCESS:
                self._wait_applied(target, "sync", timeout)
                return
            if status != ovs.db.idl.Transaction.TRY_AGAIN:
                raise OvsError(f"sync: transaction failed: {txn.get_error()}")
        raise OvsError("sync: the database kept changing under it; run it again")

    def _wait_applied(self, next_cfg: int, what: str, timeout: float = VSWITCHD_TIMEOUT) -> None:
        import ovs.poller

        deadline = time.monotonic() + timeout
        while True:
            self.idl.run()
            row = self._ovs_row()
            if row.cur_cfg >= next_cfg:
                return
            if time.monotonic() > deadline:
                raise OvsError(f"{what}: stored, but ovs-vswitchd has not applied it after "
                               f"{timeout:g} s: is it running? `kvmnet ovs status`")
            poller = ovs.poller.Poller()
            self.idl.wait(poller)
            poller.timer_wait(200)
            poller.block()

    @staticmethod
    def _unique(txn: Any, table: str, name: str) -> None:
        """An OVSDB ``wait`` that fails the transaction unless exactly one row of ``table``
        is named ``name`` once it applied (no concurrent client made another)."""
        txn.add_op({"op": "wait", "table": table, "timeout": 0, "where": [["name", "==", name]],
                    "columns": ["name"], "until": "==", "rows": [{"name": name}]})

    def add_bridge(self, name: str, *, may_exist: bool = False,
                   datapath_type: str | None = None) -> None:
        check_ifname("bridge", name)
        if self.bridge_exists(name):
            if may_exist:
                return
            raise OvsError(f"cannot create a bridge named {name} because a bridge named {name} "
                           "already exists: use --may-exist to accept it")
        if self.named("Port", name) is not None or self.named("Interface", name) is not None:
            raise OvsError(f"cannot create a bridge named {name} because a port or interface "
                           f"named {name} already exists on bridge {self.port_to_bridge(name)}: "
                           "choose another name")
        dp = default_datapath_type() if datapath_type is None else datapath_type
        txn = self._txn()
        iface = txn.insert(self.idl.tables["Interface"])
        iface.name = name
        iface.type = "internal"
        port = txn.insert(self.idl.tables["Port"])
        port.name = name
        port.interfaces = [iface]
        br = txn.insert(self.idl.tables["Bridge"])
        br.name = name
        br.ports = [port]
        if dp:
            br.datapath_type = dp
        self._ovs_row().addvalue("bridges", br)
        self._unique(txn, "Port", name)
        self._unique(txn, "Interface", name)
        shown = f" -- set Bridge {name} datapath_type={dp}" if dp else ""
        self._commit(txn, f"add-br {name}{shown}")
        self._raise_iface_error(name, f"add-br {name}", undo=lambda: self.del_bridge(name))

    def del_bridge(self, name: str, *, if_exists: bool = False) -> None:
        row = self.named("Bridge", name)
        if row is None:
            if if_exists:
                return
            self._bridge(name)
        txn = self._txn()
        for port in row.ports:
            self._delete_port_rows(port)
        self._ovs_row().delvalue("bridges", row)
        row.delete()
        self._commit(txn, f"del-br {name}")

    def add_port(self, bridge: str, port: str, *, may_exist: bool = False,
                 iface_type: str | None = None, tag: int | None = None,
                 trunks: Sequence[int] = (), vlan_mode: str | None = None,
                 external_ids: Mapping[str, str] = {},
                 other_config: Mapping[str, str] = {},
                 iface_external_ids: Mapping[str, str] = {},
                 ingress_policing_rate: int | None = None,
                 ingress_policing_burst: int | None = None,
                 port_columns: Mapping[str, Any] = {},
                 iface_columns: Mapping[str, Any] = {},
                 ) -> None:
        """ovs-vsctl's ``add-port`` with the Port and Interface columns given, one
        transaction; then the Interface's ``error`` (a device that cannot be opened) is an
        error, and the port is taken out again so that a refusal changes nothing.
        ``port_columns``/``iface_columns``: other columns, as the IDL takes them (lists for
        sets, dicts for maps), already checked against the schema by the caller."""
        check_ifname("port", port)
        if tag is not None:
            check_vlan(tag)
        for t in trunks:
            check_vlan(t, "trunks")
        if vlan_mode is not None and vlan_mode not in VLAN_MODES:
            raise OvsError(f"vlan_mode {quote(vlan_mode)} is not one of {', '.join(VLAN_MODES)}")
        br = self._bridge(bridge)
        existing = self.named("Port", port)
        if existing is not None:
            owner = self._bridge_of(existing)
            owner_name = str(owner.name) if owner is not None else "(none)"
            if may_exist and owner_name == bridge:
                return
            if may_exist:
                raise OvsError(f'"--may-exist add-port {bridge} {port}" but {port} is actually '
                               f"attached to bridge {owner_name}: `kvmnet ovs del-port "
                               f"{port}` first, or add it to {owner_name}")
            raise OvsError(f"cannot create a port named {port} because a port named {port} "
                           f"already exists on bridge {owner_name}: use --may-exist, or "
                           f"`kvmnet ovs del-port {port}` first")
        if self.named("Interface", port) is not None:
            raise OvsError(f"cannot create an interface named {port} because an interface named "
                           f"{port} already exists on bridge {self.iface_to_bridge(port)}: "
                           "choose another name")
        txn = self._txn()
        iface = txn.insert(self.idl.tables["Interface"])
        iface.name = port
        if iface_type:
            iface.type = iface_type
        if iface_external_ids:
            iface.external_ids = dict(iface_external_ids)
        if ingress_policing_rate is not None:
            iface.ingress_policing_rate = ingress_policing_rate
        if ingress_policing_burst is not None:
            iface.ingress_policing_burst = ingress_policing_burst
        for column, value in iface_columns.items():
            setattr(iface, column, value)
        row = txn.insert(self.idl.tables["Port"])
        row.name = port
        row.interfaces = [iface]
        if tag is not None:
            row.tag = tag
        if trunks:
            row.trunks = sorted(set(trunks))
        if vlan_mode is not None:
            row.vlan_mode = vlan_mode
        if external_ids:
            row.external_ids = dict(external_ids)
        if other_config:
            row.other_config = dict(other_config)
        for column, value in port_columns.items():
            setattr(row, column, value)
        br.addvalue("ports", row)
        self._unique(txn, "Port", port)
        self._unique(txn, "Interface", port)
        what = f"add-port {bridge} {port}"
        self._commit(txn, what)
        self._raise_iface_error(port, what, undo=lambda: self.del_port(port, if_exists=True))

    def iface_error(self, name: str) -> str | None:
        """What ovs-vswitchd reported last for Interface ``name`` (it could not open the
        device...), or None: meaningful once it applied the change (:meth:`sync`)."""
        row = self.named("Interface", name)
        return str(row.error[0]) if row is not None and row.error else None

    def _raise_iface_error(self, name: str, what: str, undo: Any) -> None:
        if not self.wait:
            return  # nobody applied it yet: the error column means nothing
        error = self.iface_error(name)
        if error:
            undo()
            raise OvsError(f"{what}: ovs-vswitchd could not set up {quote(name)}: {error}; "
                           "nothing was added: create the device first (or give "
                           "type=internal for a port Open vSwitch makes itself)")

    def del_port(self, port: str, *, bridge: str | None = None, if_exists: bool = False) -> None:
        """ovs-vsctl's ``del-port [BR] PORT``; also deletes the QoS and Queue rows the port
        used that no other port uses."""
        row = self.named("Port", port)
        br = self._bridge(bridge) if bridge is not None else None
        if row is None:
            if if_exists:
                return
            if bridge is not None:
                raise OvsError(f"bridge {bridge} does not have a port {port}: "
                               f"`kvmnet ovs list-ports {bridge}` lists its ports")
            raise OvsError(f"no port named {port}: `kvmnet ovs show` lists the ports")
        owner = self._bridge_of(row)
        if br is not None and (owner is None or owner.uuid != br.uuid):
            raise OvsError(f"bridge {bridge} does not have a port {port} (it is on bridge "
                           f"{owner.name if owner is not None else '(none)'})")
        txn = self._txn()
        if owner is not None:
            owner.delvalue("ports", row)
        self._delete_port_rows(row)
        self._commit(txn, f"del-port {owner.name if owner is not None else ''} {port}".replace(
            "  ", " "))

    def del_marked_ports(self, ports: Sequence[tuple[str, str, Mapping[str, str]]]) -> list[str]:
        """Delete each ``(port, bridge, marks)`` whose port is still on ``bridge`` and still
        carries every pair of ``marks`` in its external_ids (after a crash its name may be
        another's now), with the QoS/Queue rows only it used.  One transaction for them all:
        unplugging many ports at once costs one round trip, not one a port.  Returns the
        ports deleted (what is already gone is fine)."""
        txn = None
        gone: list[str] = []
        for name, bridge, marks in ports:
            row = self.named("Port", name)
            if row is None or name in gone or not marks.items() <= row.external_ids.items():
                continue
            owner = self._bridge_of(row)
            if owner is None or owner.name != bridge:
                continue
            txn = txn if txn is not None else self._txn()
            owner.delvalue("ports", row)
            self._delete_port_rows(row)
            gone.append(name)
        if txn is not None:
            self._commit(txn, " -- ".join(f"del-port {name}" for name in gone))
        return gone

    def _delete_port_rows(self, row: Any) -> None:
        """Delete a port's row and the QoS/Queue rows only it uses (in the open txn).  The
        Interface rows go with the port (OVSDB's garbage collection of non-root rows)."""
        qos = row.qos
        row.delete()
        if qos:
            # The IDL leaves a non-root row's delete to the server's garbage collection, which
            # comes after the reference check that the QoS row's delete fails: delete the
            # port explicitly in the same transaction.
            txn = self.idl.txn
            txn.add_op({"op": "delete", "table": "Port",
                        "where": [["_uuid", "==", ["uuid", str(row.uuid)]]]})
            self._drop_qos(qos[0], row)

    def set_port_qos(self, port: str, *, max_rate: int | None, burst: int | None = None,
                     min_rate: int | None = None, external_ids: Mapping[str, str] = {},
                     ) -> None:
        """Outbound shaping as libvirt sets it on an OVS port (virNetDevOpenvswitch's tx QoS):
        a QoS row of type linux-htb and its queue 0, both with other_config ``min-rate``
        (libvirt: the average), ``max-rate`` (the peak) and ``burst``, in bits per second and
        bits (:func:`kvmnet.host.ovsnames.libvirt_tx_qos` converts libvirt's kB/s and KiB),
        and ``external_ids`` (libvirt: vm-id and ifname) on both and on the port.  One
        transaction; a QoS the port had goes (with its queues) unless others use it.
        ``max_rate`` and ``min_rate`` both None: the port's QoS is removed."""
        row = self.named("Port", port)
        if row is None:
            raise OvsError(f"no port named {port}: `kvmnet ovs show` lists the ports")
        txn = self._txn()
        old = row.qos[0] if row.qos else None
        if max_rate is None and min_rate is None:
            if old is None:
                txn.abort()
                return
            row.qos = []
            self._drop_qos(old, row)
            self._commit(txn, f"clear Port {port} qos", wait=False)
            return
        conf = {key: str(value) for key, value in (("min-rate", min_rate), ("burst", burst),
                                                    ("max-rate", max_rate)) if value is not None}
        queue = txn.insert(self.idl.tables["Queue"])
        queue.other_config = conf
        qos = txn.insert(self.idl.tables["QoS"])
        qos.type = "linux-htb"
        qos.other_config = conf
        qos.queues = {0: queue}
        for key, value in external_ids.items():
            row.setkey("external_ids", key, value)
        if external_ids:
            queue.external_ids = dict(external_ids)
            qos.external_ids = dict(external_ids)
        row.qos = [qos]
        if old is not None:
            self._drop_qos(old, row)
        pairs = " ".join(f"other_config:{k}={v}" for k, v in conf.items())
        self._commit(txn, f"set Port {port} qos=@qos -- --id=@qos create QoS type=linux-htb "
                          f"{pairs} queues:0=@q -- --id=@q create Queue {pairs}", wait=False)

    def _drop_qos(self, q: Any, row: Any) -> None:
        """Delete QoS ``q`` (no longer ``row``'s) and its queues, unless others use them."""
        if any(p.uuid != row.uuid and p.qos and p.qos[0].uuid == q.uuid
               for p in self.idl.tables["Port"].rows.values()):
            return
        queues = list(q.queues.values())
        q.delete()
        for queue in queues:
            if not any(o.uuid != q.uuid and any(x.uuid == queue.uuid for x in o.queues.values())
                       for o in self.idl.tables["QoS"].rows.values()):
                queue.delete()

    def set_iface_policing(self, iface: str, rate_kbps: int, burst_kb: int) -> None:
        """Inbound policing (libvirt: Interface ingress_policing_rate/burst, in kbps/kb)."""
        row = self.named("Interface", iface)
        if row is None:
            raise OvsError(f"no interface named {iface}: `kvmnet ovs show` lists them")
        txn = self._txn()
        row.ingress_policing_rate = rate_kbps
        row.ingress_policing_burst = burst_kb
        self._commit(txn, f"set Interface {iface} ingress_policing_rate={rate_kbps} "
                          f"ingress_policing_burst={burst_kb}")

    def initialise(self, other_config: Mapping[str, str] = {}) -> None:
        """``ovs-vsctl init`` (the Open_vSwitch row when there is none), plus the
        other_config keys given (ovs-vswitchd reads some only when it starts: set them first)."""
        txn = self._txn()
        rows = list(self.idl.tables["Open_vSwitch"].rows.values())
        row = rows[0] if rows else txn.insert(self.idl.tables["Open_vSwitch"])
        for key, value in other_config.items():
            row.setkey("other_config", key, value)
        pairs = " ".join(f"other_config:{k}={v}" for k, v in other_config.items())
        self._commit(txn, f"init -- set Open_vSwitch . {pairs}" if pairs else "init", wait=False)

