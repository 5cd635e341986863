"""ovs-vsctl's command language over :class:`kvmnet.ovs.client.Switch`.

``run(["add-port", "br0", "vnet0", "tag=10"])`` does what ``ovs-vsctl add-port br0 vnet0
tag=10`` does and returns ``(output, exit status)``; the output is byte for byte ovs-vsctl's for
the same database (``show``, ``list-br``, ``list-ports``, ``port-to-br``, ``iface-to-br``,
``get``, ``list``, ``find``; rows in ovs-vsctl's order, see :mod:`.order`).  The verbs:

    show | list-br | br-exists BR (exit 2 when missing) | list-ports BR | port-to-br PORT |
    iface-to-br IFACE | add-br [--may-exist] BR | del-br [--if-exists] BR |
    add-port [--may-exist] BR PORT [COLUMN[:KEY]=VALUE...] | del-port [--if-exists] [BR] PORT |
    get [--if-exists] TABLE RECORD COLUMN[:KEY]... | set TABLE RECORD COLUMN[:KEY]=VALUE... |
    clear TABLE RECORD COLUMN... | list [--columns=C,..] [--if-exists] TABLE [RECORD...] |
    find [--columns=C,..] TABLE COLUMN[:KEY]{=,!=,<,>,<=,>=,{=},{in},...}VALUE...

Command options may stand before or after the verb.  Global options: ``--db=unix:PATH``,
``--no-wait`` (do not wait for ovs-vswitchd).  Several commands may be joined with ``--`` as
in ovs-vsctl; each runs in its own transaction, except that ``-- set Interface PORT ...`` right
after ``add-port ... PORT`` (ovs-vsctl's way to give the interface columns, e.g.
``type=internal``), and ``-- set Bridge BR ...`` right after ``add-br BR``, join the add in one
transaction.  Everything is parsed and checked before the first change, so a refused
command line changes nothing.

``--json``: ``list`` and ``find`` print ovs-vsctl's ``--format=json`` document; ``list-br``
and ``list-ports`` a JSON array of names, ``port-to-br``/``iface-to-br`` a JSON string,
``get`` a JSON array of the values (OVSDB's JSON forms), ``show`` a JSON object of the tree.
"""
from __future__ import annotations

import json as jsonlib

from kvmnet.errors import OvsError
from kvmnet.ovs import syntax

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from kvmnet.ovs.client import Switch

#: verb -> (option names it takes, minimum and maximum argument counts)
VERBS: dict[str, tuple[tuple[str, ...], int, int]] = {
    "init": ((), 0, 0), "show": ((), 0, 0), "list-br": ((), 0, 0), "br-exists": ((), 1, 1),
    "list-ports": ((), 1, 1), "port-to-br": ((), 1, 1), "iface-to-br": ((), 1, 1),
    "add-br": (("--may-exist",), 1, 1), "del-br": (("--if-exists",), 1, 1),
    "add-port": (("--may-exist",), 2, 10 ** 6), "del-port": (("--if-exists",), 1, 2),
    "get": (("--if-exists",), 3, 10 ** 6), "set": (("--if-exists",), 3, 10 ** 6),
    "clear": (("--if-exists",), 3, 10 ** 6), "list": (("--if-exists", "--columns"), 1, 10 ** 6),
    "find": (("--columns",), 1, 10 ** 6),
}
_READS = ("show", "get", "list", "find", "set", "clear")
FIND_OPERATORS = ("=", "!=", "<", ">", "<=", ">=", "{=}", "{!=}", "{<}", "{>}", "{<=}", "{>=}",
                  "{in}", "{not-in}")


class Command:
    def __init__(self, verb: str, options: dict[str, str | None], args: list[str]) -> None:
        self.verb = verb
        self.options = options
        self.args = args


def parse(words: list[str]) -> tuple[dict[str, str | None], list[Command]]:
    """Global options and commands (split at ``--``) from a command line."""
    global_opts: dict[str, str | None] = {}
    groups: list[list[str]] = [[]]
    for word in words:
        if word == "--":
            groups.append([])
        else:
            groups[-1].append(word)
    commands = []
    for n, group in enumerate(groups):
        options: dict[str, str | None] = {}
        verb = None
        args: list[str] = []
        i = 0
        while i < len(group):
            word = group[i]
            if word.startswith("--") and len(word) > 2:
                name, eq, value = word.partition("=")
                if name == "--db" and n == 0 and verb is None:
                    if not eq:
                        if i + 1 >= len(group):
                            raise OvsError("option '--db' requires an argument (unix:PATH)")
                        i += 1
                        value = group[i]
                    global_opts["--db"] = value
                elif name in ("--no-wait", "--wait") and n == 0 and verb is None:
                    global_opts["--no-wait"] = None if name == "--no-wait" else "wait"
                else:
                    options[name] = value if eq else None
            elif verb is None:
                verb = word
            else:
                args.append(word)
            i += 1
        if verb is None:
            if n == 0 and len(groups) == 1:
                raise OvsError("missing command name: `kvmnet ovs --help` lists the commands")
            raise OvsError("missing command name (an empty command between '--')")
        if verb not in VERBS:
            raise OvsError(f"unknown command '{verb}'; use --help for help")
        allowed, lo, hi = VERBS[verb]
        for name in options:
            if name not in allowed:
                raise OvsError(f"'{verb}' command has no '{name}' option")
        if not lo <= len(args) <= hi:
            what = "few" if len(args) < lo else "many"
            raise OvsError(f"'{verb}' command requires at {'least' if what == 'few' else 'most'} "
                           f"{lo if what == 'few' else hi} arguments")
        commands.append(Command(verb, options, args))
    return global_opts, commands


def run(words: list[str], *, db: str | None = None, json: bool = False) -> tuple[str, int]:
    """Run one ovs-vsctl command line; (output, exit status)."""
    from kvmnet.ovs.client import FULL, LEAN, Switch

    global_opts, commands = parse(words)
    db = global_opts.get("--db") or db
    full = any(c.verb in _READS for c in commands) or len(commands) > 1
    with Switch.open(db, columns=FULL if full else LEAN,
                     wait="--no-wait" not in global_opts) as sw:
        return Runner(sw, json).run(commands)


class Runner:
    def __init__(self, sw: Switch, json: bool) -> None:
        self.sw = sw
        self.json = json
        self.status = 0

    def run(self, commands: list[Command]) -> tuple[str, int]:
        out: list[str] = []
        i = 0
        while i < len(commands):
            cmd = commands[i]
            follow = commands[i + 1] if i + 1 < len(commands) else None
            joined = self._joins(cmd, follow)
            out.append(getattr(self, "cmd_" + cmd.verb.replace("-", "_"))(
                cmd, follow if joined else None))
            i += 2 if joined else 1
        return "".join(out), self.status

    @staticmethod
    def _joins(cmd: Command, follow: Command | None) -> bool:
        if follow is None or follow.verb != "set" or len(follow.args) < 2:
            return False
        table = follow.args[0].lower()
        if cmd.verb == "add-port":
            return table in ("interface", "interfac", "interfa") and follow.args[1] == cmd.args[1]
        return cmd.verb == "add-br" and table == "bridge" and follow.args[1] == cmd.args[0]

    # -- the switch's own verbs ---------------------------------------------------------------
    def cmd_init(self, cmd: Command, _: Command | None) -> str:
        self.sw.initialise()
        return ""

    def cmd_list_br(self, cmd: Command, _: Command | None) -> str:
        return self._names(self.sw.list_bridges())

    def cmd_list_ports(self, cmd: Command, _: Command | None) -> str:
        return self._names(self.sw.list_ports(cmd.args[0]))

    def _names(self, names: list[str]) -> str:
        if self.json:
            return jsonlib.dumps(names) + "\n"
        return "".join(f"{n}\n" for n in names)

    def cmd_br_exists(self, cmd: Command, _: Command | None) -> str:
        if not self.sw.bridge_exists(cmd.args[0]):
            self.status = 2
        return jsonlib.dumps(self.status == 0) + "\n" if self.json else ""

    def cmd_port_to_br(self, cmd: Command, _: Command | None) -> str:
        bridge = self.sw.port_to_bridge(cmd.args[0])
        if bridge is None:
            raise OvsError(f"no port named {cmd.args[0]}: `kvmnet ovs show` lists the ports")
        return (jsonlib.dumps(bridge) if self.json else bridge) + "\n"

    def cmd_iface_to_br(self, cmd: Command, _: Command | None) -> str:
        bridge = self.sw.iface_to_bridge(cmd.args[0])
        if bridge is None:
            raise OvsError(f"no interface named {cmd.args[0]}: `kvmnet ovs show` lists them")
        return (jsonlib.dumps(bridge) if self.json else bridge) + "\n"

    def cmd_add_br(self, cmd: Command, follow: Command | None) -> str:
        name = cmd.args[0]
        datapath = None
        if follow is not None:
            values = self._assignments("Bridge", follow.args[2:])
            unknown = [c for c, _, _ in values if c != "datapath_type"]
            if unknown:
                raise OvsError(f"add-br {name} -- set Bridge: kvmnet sets only datapath_type with "
                               f"the add (not {', '.join(unknown)}); set the others after it")
            datapath = str(values[0][2][0]) if values[0][2] else ""
        self.sw.add_bridge(name, may_exist="--may-exist" in cmd.options, datapath_type=datapath)
        return ""

    def cmd_del_br(self, cmd: Command, _: Command | None) -> str:
        self.sw.del_bridge(cmd.args[0], if_exists="--if-exists" in cmd.options)
        return ""

    def cmd_add_port(self, cmd: Command, follow: Command | None) -> str:
        bridge, port = cmd.args[0], cmd.args[1]
        named = {"tag": "tag", "trunks": "trunks", "vlan_mode": "vlan_mode",
                 "external_ids": "external_ids", "other_config": "other_config"}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for column, key, value in self._assignments("Port", cmd.args[2:]):
            self._collect(kwargs if column in named else extra, column, key, value, "Port")
        if "tag" in kwargs:
            kwargs["tag"] = kwargs["tag"][0] if kwargs["tag"] else None
        if "vlan_mode" in kwargs:
            kwargs["vlan_mode"] = kwargs["vlan_mode"][0] if kwargs["vlan_mode"] else None
        iface: dict[str, Any] = {}
        if follow is not None:
            for column, key, value in self._assignments("Interface", follow.args[2:]):
                self._collect(iface, column, key, value, "Interface")
        iface_kwargs: dict[str, Any] = {}
        if "type" in iface:
            iface_kwargs["iface_type"] = iface.pop("type")[0] if iface["type"] else None
        if "external_ids" in iface:
            iface_kwargs["iface_external_ids"] = iface.pop("external_ids")
        self.sw.add_port(bridge, port, may_exist="--may-exist" in cmd.options,
                         port_columns=extra, iface_columns=iface, **kwargs, **iface_kwargs)
        return ""

    def _collect(self, into: dict[str, Any], column: str, key: Any, value: Any,
                 table: str) -> None:
        if key is None:
            into[column] = value if not isinstance(value, list) or not self._is_map(
                table, column) else dict(value)
        else:
            into.setdefault(column, {})[key] = value

    def _is_map(self, table: str, column: str) -> bool:
        return bool(self.sw.table(table).columns[column].type.is_map())

    def cmd_del_port(self, cmd: Command, _: Command | None) -> str:
        bridge, port = (cmd.args[0], cmd.args[1]) if len(cmd.args) == 2 else (None, cmd.args[0])
        self.sw.del_port(port, bridge=bridge, if_exists="--if-exists" in cmd.options)
        return ""

    # -- records ------------------------------------------------------------------------------
    def _table(self, given: str) -> str:
        return syntax.match_table(self.sw.idl.tables.keys(), given)

    def _column(self, table: str, given: str) -> str:
        return syntax.match_column(table, self.sw.table(table).columns.keys(), given)

    def _type(self, table: str, column: str) -> Any:
        return self.sw.table(table).columns[column].type

    def _assignments(self, table: str, args: list[str]) -> list[tuple[str, Any, Any]]:
        """``COLUMN[:KEY]=VALUE`` arguments, parsed and checked: (column, key, value) with
        the value as the IDL takes it (a list of atoms, or (key, value) pairs for a map;
        one atom for a ``:KEY`` assignment)."""
        out = []
        for arg in args:
            name, key_text, _, value_text = syntax.parse_column_arg(arg)
            column = self._column(table, name)
            type_ = self._type(table, column)
            if not self.sw.table(table).columns[column].mutable:
                raise OvsError(f"cannot modify read-only column {column} in table {table}")
            assert value_text is not None
            if key_text is not None:
                if not type_.is_map():
                    raise OvsError(f"cannot specify key to set for non-map column {column}")
                key = syntax.parse_atom(key_text, type_.key)[0]
                value = syntax.parse_atom(value_text, type_.value)[0]
                out.append((column, key, self._ref(type_.value, value)))
            else:
                datum = syntax.parse_datum(value_text, type_)
                if type_.is_map():
                    datum = [(self._ref(type_.key, k), self._ref(type_.value, v))
                             for k, v in datum]
                else:
                    datum = [self._ref(type_.key, a) for a in datum]
                out.append((column, None, datum))
        return out

    def _ref(self, base: Any, atom: Any) -> Any:
        """A UUID naming a row of a reference column: the IDL's row."""
        if base.ref_table_name is None:
            return atom
        row = self.sw.table(base.ref_table_name).rows.get(atom)
        if row is None:
            raise OvsError(f'no row "{atom}" in table {base.ref_table_name}')
        return row

    def _value(self, row: Any, column: str) -> list[Any]:
        """A column's value as :mod:`.syntax` takes it."""
        if column == "_uuid":
            return [row.uuid]
        datum = row._data.get(column)
        if datum is None:
            return []
        if datum.type.is_map():
            return sorted(((k.value, v.value) for k, v in datum.values.items()),
                          key=lambda kv: syntax.sort_key(kv[0]))
        return sorted((k.value for k in datum.values), key=syntax.sort_key)

    def _record(self, table: str, ident: str, must_exist: bool = True) -> Any:
        return self.sw.record(table, ident, must_exist=must_exist)

    def cmd_get(self, cmd: Command, follow: Command | None) -> str:
        table = self._table(cmd.args[0])
        wanted: list[tuple[str, Any, str | None]] = []
        for arg in cmd.args[2:]:
            if arg.lower() in ("_uuid", "-uuid"):
                wanted.append(("_uuid", None, arg))
                continue
            name, key_text, _op, _text = syntax.parse_column_arg(arg, None)
            column = self._column(table, name)
            type_ = self._type(table, column)
            key: Any = None
            if key_text is not None:
                if not type_.is_map():
                    raise OvsError(f"cannot specify key to get for non-map column {column}")
                key = syntax.parse_atom(key_text, type_.key)[0]
            wanted.append((column, key, key_text))
        row = self._record(table, cmd.args[1], must_exist="--if-exists" not in cmd.options)
        if row is None:
            return ""
        lines: list[str] = []
        values: list[Any] = []
        for column, key, key_text in wanted:
            value = self._value(row, column)
            if column == "_uuid":
                lines.append(str(row.uuid))
                values.append(["uuid", str(row.uuid)])
                continue
            type_ = self._type(table, column)
            if key is None:
                lines.append(syntax.datum_text(value, type_))
                values.append(syntax.datum_json(value, type_))
                continue
            found = [v for k, v in value if k == key]
            if not found:
                if "--if-exists" not in cmd.options:
                    raise OvsError(f'no key "{key_text}" in {table} record "{cmd.args[1]}" column '
                                   f"{column}")
                lines.append("")
                values.append(None)
                continue
            vkind = type_.value.type.to_string()
            lines.append(syntax.atom_text(found[0], vkind))
            values.append(syntax.datum_json([found[0]], _scalar(type_.value)))
        if self.json:
            return jsonlib.dumps(values) + "\n"
        return "".join(f"{line}\n" for line in lines)

    def cmd_set(self, cmd: Command, _: Command | None) -> str:
        table = self._table(cmd.args[0])
        changes = self._assignments(table, cmd.args[2:])
        row = self._record(table, cmd.args[1], must_exist="--if-exists" not in cmd.options)
        if row is None:
            return ""
        idl_changes = [(c, k, dict(v) if k is None and self._is_map(table, c) else v)
                       for c, k, v in changes]
        self.sw.set_values(table, str(row.uuid), idl_changes,
                           what="set " + " ".join(cmd.args))
        return ""

    def cmd_clear(self, cmd: Command, follow: Command | None) -> str:
        table = self._table(cmd.args[0])
        columns = []
        for arg in cmd.args[2:]:
            name = syntax.parse_column_arg(arg, None)[0]
            column = self._column(table, name)
            type_ = self._type(table, column)
            if not self.sw.table(table).columns[column].mutable:
                raise OvsError(f"cannot modify read-only column {column} in table {table}")
            if type_.n_min > 0:
                raise OvsError(f'"clear" operation cannot be applied to column {column} of table '
                               f"{table}, which is not allowed to be empty")
            columns.append(column)
        row = self._record(table, cmd.args[1], must_exist="--if-exists" not in cmd.options)
        if row is None:
            return ""
        self.sw.clear_values(table, str(row.uuid), columns, what="clear " + " ".join(cmd.args))
        return ""

    def _columns(self, table: str, option: str | None) -> list[str]:
        if option is None:
            return ["_uuid", *sorted(self.sw.table(table).columns)]
        names = [n for n in option.replace(",", " ").split() if n]
        if not names:
            raise OvsError("must specify at least one column name")
        return ["_uuid" if n.lower() == "_uuid" else self._column(table, n) for n in names]

    def _rows(self, table: str) -> list[Any]:
        from kvmnet.ovs.order import vsctl_row_order

        rows = self.sw.table(table).rows
        return [rows[u] for u in vsctl_row_order(list(rows.keys()))]

    def cmd_list(self, cmd: Command, _: Command | None) -> str:
        table = self._table(cmd.args[0])
        columns = self._columns(table, cmd.options.get("--columns"))
        if len(cmd.args) > 1:
            rows = [self._record(table, ident, "--if-exists" not in cmd.options)
                    for ident in cmd.args[1:]]
            rows = [r for r in rows if r is not None]
        else:
            rows = self._rows(table)
        return self._table_output(table, columns, rows)

    def cmd_find(self, cmd: Command, _: Command | None) -> str:
        table = self._table(cmd.args[0])
        columns = self._columns(table, cmd.options.get("--columns"))
        conditions = [self._condition(table, arg) for arg in cmd.args[1:]]
        rows = [r for r in self._rows(table) if all(test(r) for test in conditions)]
        return self._table_output(table, columns, rows)

    def _condition(self, table: str, arg: str) -> Any:
        name, key_text, op, value_text = syntax.parse_column_arg(arg, FIND_OPERATORS)
        column = self._column(table, name)
        type_ = self._type(table, column)
        assert op is not None and value_text is not None
        if key_text is not None:
            if not type_.is_map():
                raise OvsError(f"cannot specify key to check for non-map column {column}")
            key = syntax.parse_atom(key_text, type_.key)[0]
            want = syntax.parse_datum(value_text, _set_of(type_.value), n_max=2 ** 32)

            def test(row: Any) -> bool:
                found = [v for k, v in self._value(row, column) if k == key]
                if not found and not op.startswith("{"):
                    return False
                return _relop(found, want, op)
            return test
        want = syntax.parse_datum(value_text, type_)  # ovs-vsctl: the column's own limits
        return lambda row: _relop(self._value(row, column), want, op)

    def _table_output(self, table: str, columns: list[str], rows: list[Any]) -> str:
        if self.json:
            data = [[syntax.datum_json(self._value(r, c), _uuid_type() if c == "_uuid"
                                       else self._type(table, c)) for c in columns] for r in rows]
            return jsonlib.dumps({"data": data, "headings": columns},
                                 separators=(",", ":"), ensure_ascii=False) + "\n"
        blocks = []
        for row in rows:
            lines = []
            for c in columns:
                value = self._value(row, c)
                text = str(value[0]) if c == "_uuid" else syntax.datum_text(value,
                                                                            self._type(table, c))
                lines.append(f"{c:<20}: {text}\n")
            blocks.append("".join(lines))
        return "\n".join(blocks)

    # -- show ---------------------------------------------------------------------------------
    def cmd_show(self, cmd: Command, _: Command | None) -> str:
        from kvmnet.ovs import show

        tree = [show.tree(self.sw.idl, row, self._value) for row in self._rows("Open_vSwitch")]
        if self.json:
            return jsonlib.dumps(tree[0] if len(tree) == 1 else tree) + "\n"
        return "".join(show.text(t) for t in tree)


def _relop(have: list[Any], want: list[Any], op: str) -> bool:
    """find's comparisons (lib/db-ctl-base.c evaluate_relop) on sorted values."""
    hv, wv = _keyed(have), _keyed(want)
    if op in ("=", "{=}"):
        return hv == wv
    if op in ("!=", "{!=}"):
        return hv != wv
    if op in ("<", ">", "<=", ">="):  # OVSDB compares the sizes first, then the atoms
        a, b = (len(hv), hv), (len(wv), wv)
        cmp = (a > b) - (a < b)
        return {"<": cmp < 0, ">": cmp > 0, "<=": cmp <= 0, ">=": cmp >= 0}[op]
    h, w = set(hv), set(wv)
    if op == "{<}":
        return len(w) > len(h) and h <= w
    if op == "{>}":
        return len(h) > len(w) and w <= h
    if op in ("{<=}", "{in}"):
        return h <= w
    if op == "{>=}":
        return w <= h
    return not (h & w) if op == "{not-in}" else False


def _keyed(datum: list[Any]) -> list[Any]:
    return [(syntax.sort_key(a[0]), syntax.sort_key(a[1])) if isinstance(a, tuple)
            else syntax.sort_key(a) for a in datum]


def _scalar(base: Any) -> Any:
    import ovs.db.types

    return ovs.db.types.Type(base)


def _set_of(base: Any) -> Any:
    import ovs.db.types

    return ovs.db.types.Type(base, n_min=0, n_max=2 ** 32)


def _uuid_type() -> Any:
    import ovs.db.types

    return ovs.db.types.Type(ovs.db.types.BaseType(ovs.db.types.UuidType))
