"""The Open vSwitch client other packages use: :class:`Switch` and :class:`PortInfo`.

:class:`Switch` is the host adapter's (:mod:`kvmnet.host.ovsdb`: bridges, ports, QoS, one OVSDB
transaction each) plus the generic record verbs behind ``kvmnet ovs get/set/clear/list/find``,
which work on OVSDB values (:class:`ovs.db.data.Datum`); parsing and printing ovs-vsctl's text
for them is :mod:`kvmnet.ovs.vsctl`'s job.  Open one with ``Switch.open(remote)`` (``None``:
:func:`kvmnet.ovs.locate.db_remote`'s choice) and ``close()`` it, or use it in a ``with``.
"""
from __future__ import annotations

from kvmnet.errors import OvsError
from kvmnet.host.ovsdb import FULL, LEAN, PortInfo
from kvmnet.host.ovsdb import Switch as _HostSwitch
from kvmnet.host.ovsnames import default_datapath_type

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["FULL", "LEAN", "PortInfo", "Switch", "default_datapath_type"]

#: How ovs-vsctl names a record of each table besides its UUID (its "row ids").
NAME_COLUMN = {"Bridge": "name", "Port": "name", "Interface": "name", "Mirror": "name",
               "Flow_Table": "name", "QoS": None, "Queue": None, "Controller": None,
               "Manager": "target", "NetFlow": None, "sFlow": None, "IPFIX": None,
               "SSL": None, "AutoAttach": None, "Open_vSwitch": None}


class Switch(_HostSwitch):
    """An open OVSDB connection: bridges and ports (inherited), and records of any table."""

    def table(self, name: str) -> Any:
        try:
            return self.idl.tables[name]
        except KeyError:
            raise OvsError(f'unknown table "{name}": the tables are '
                           f"{', '.join(sorted(self.idl.tables))}") from None

    def records(self, table: str) -> list[Any]:
        return list(self.table(table).rows.values())

    def record(self, table: str, ident: str, *, must_exist: bool = True) -> Any:
        """A record by ovs-vsctl's identification: its UUID, its name (Bridge, Port,
        Interface...), or ``.`` for the only row of Open_vSwitch."""
        import uuid

        rows = self.table(table).rows
        if table in ("Open_vSwitch", "SSL") and ident == ".":
            for row in rows.values():
                return row
        column = NAME_COLUMN.get(table)
        if column is not None:
            if column == "name":
                found = self.named(table, ident)
                if found is not None:
                    return found
            else:
                for row in rows.values():
                    if getattr(row, column) == ident:
                        return row
        try:
            key = uuid.UUID(ident)
        except ValueError:
            key = None
        if key is not None and key in rows:
            return rows[key]
        if key is None and len(ident) >= 4:  # a unique UUID prefix, as ovs-vsctl accepts
            matches = [r for u, r in rows.items() if str(u).startswith(ident)]
            if len(matches) == 1:
                return matches[0]
        if must_exist:
            raise OvsError(f'no row "{ident}" in table {table}: `kvmnet ovs list {table}` lists '
                           "its records")
        return None

    def datum(self, row: Any, column: str) -> Any:
        """The OVSDB value (ovs.db.data.Datum) of ``row.column``, with pending changes."""
        import ovs.db.data

        col = row._table.columns[column]
        if column == "_uuid":
            return ovs.db.data.Datum(col.type, {ovs.db.data.Atom("uuid", row.uuid): None})
        return ovs.db.data.Datum.from_python(col.type, getattr(row, column), _row_uuid)

    def set_values(self, table: str, ident: str, changes: list[tuple[str, str | None, Any]],
                   *, what: str) -> None:
        """One transaction: for each ``(column, key, python value)`` set the column (key
        None) or one key of a map column.  ``what`` is the ovs-vsctl form, for the log."""
        row = self.record(table, ident)
        txn = self._txn()
        for column, key, value in changes:
            if key is None:
                setattr(row, column, value)
            else:
                row.setkey(column, key, value)
        self._commit(txn, what)

    def clear_values(self, table: str, ident: str, columns: list[str], *, what: str) -> None:
        row = self.record(table, ident)
        txn = self._txn()
        for column in columns:
            col = row._table.columns[column]
            empty: Any = {} if col.type.is_map() else []
            setattr(row, column, empty)
        self._commit(txn, what)


def _row_uuid(row: Any) -> Any:
    return row.uuid
