"""``kvmnet ovs show``: ovs-vsctl's tree of the switch, as data and as its text.

What it shows (lib/db-ctl-base.c and ovs-vsctl's table of shown columns): the Open_vSwitch
row by its UUID, then its managers, bridges and version; a bridge's controllers, fail_mode,
datapath_type and ports; a port's tag, trunks and interfaces; an interface's type, options,
error and bfd_status.  References are followed in the order of the referring column's value
(sorted by UUID), a table is not entered again below itself, and a column is printed only
when it differs from its type's default.  :func:`tree` reads; :func:`text` formats (pure).
"""
from __future__ import annotations

from kvmnet.ovs import syntax

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

#: table -> (name column or None for the UUID, the columns shown, in order)
SHOWN: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "Open_vSwitch": (None, ("manager_options", "bridges", "ovs_version")),
    "Bridge": ("name", ("controller", "fail_mode", "datapath_type", "ports")),
    "Port": ("name", ("tag", "trunks", "interfaces")),
    "Interface": ("name", ("type", "options", "error", "bfd_status")),
    "Controller": ("target", ("is_connected",)),
    "Manager": ("target", ("is_connected",)),
}


def _is_default(value: list[Any], type_: Any) -> bool:
    if type_.n_min == 0:
        return not value
    if len(value) != 1:
        return False
    atom = value[0]
    return atom in (0, 0.0, False, "") or str(atom) == "00000000-0000-0000-0000-000000000000"


def tree(idl: Any, row: Any, value: Callable[[Any, str], list[Any]],
         shown: set[str] | None = None) -> dict[str, Any]:
    """One row of the tree: ``{"table", "title", "entries"}``; an entry is
    ``{"column", "rows": [...]}`` (followed references), ``{"column", "names": [[k, name]]}``
    (a map to named rows) or ``{"column", "text", "value"}`` (a plain value)."""
    shown = set() if shown is None else shown
    table = row._table.name
    name_column, columns = SHOWN.get(table, (None, ()))
    if name_column is not None:
        title = f"{table} " + syntax.datum_text(value(row, name_column),
                                                row._table.columns[name_column].type)
    else:
        title = str(row.uuid)
    node: dict[str, Any] = {"table": table, "title": title, "entries": []}
    if table not in SHOWN or table in shown:
        return node
    shown.add(table)
    for column in columns:
        type_ = row._table.columns[column].type
        datum = value(row, column)
        ref = type_.key.ref_table_name
        vref = type_.value.ref_table_name if type_.is_map() else None
        if ref is not None and ref in SHOWN:
            rows = idl.tables[ref].rows
            node["entries"].append({"column": column, "rows": [
                tree(idl, rows[u], value, shown) for u in datum if u in rows]})
            continue
        if vref is not None and vref in SHOWN and SHOWN[vref][0] is not None:
            rows = idl.tables[vref].rows
            vname = str(SHOWN[vref][0])
            names = []
            for k, u in datum:
                target = rows.get(u)
                names.append([syntax.atom_text(k, type_.key.type.to_string()),
                              syntax.datum_text(value(target, vname),
                                                target._table.columns[vname].type)
                              if target is not None else '"<null>"'])
            node["entries"].append({"column": column, "names": names})
            continue
        if not _is_default(datum, type_):
            node["entries"].append({"column": column, "text": syntax.datum_text(datum, type_),
                                    "value": syntax.datum_json(datum, type_)})
    shown.discard(table)
    return node


def text(node: dict[str, Any], level: int = 0) -> str:
    """ovs-vsctl show's text for a :func:`tree` node."""
    pad = "    " * (level + 1)
    out = ["    " * level + node["title"] + "\n"]
    for entry in node["entries"]:
        if "rows" in entry:
            out += [text(child, level + 1) for child in entry["rows"]]
        elif "names" in entry:
            out.append(f"{pad}{entry['column']}:\n")
            out += [f"{pad}    {k}={name}\n" for k, name in entry["names"]]
        else:
            out.append(f"{pad}{entry['column']}: {entry['text']}\n")
    return "".join(out)
