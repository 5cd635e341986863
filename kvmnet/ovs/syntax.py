"""ovs-vsctl's text for OVSDB values, both ways: pure functions, no I/O.

Values are plain Python: an atom is an ``int``, ``float``, ``bool``, ``str`` or
:class:`uuid.UUID`; a column's value (a "datum") is a list of atoms (a set, kept sorted) or a
list of ``(key, value)`` pairs (a map, sorted by key), whatever the column's ``n_max``.  Types
are the ``ovs`` library's :class:`ovs.db.types.Type` (``key``/``value`` base types with their
constraints, ``n_min``/``n_max``).

What ovs-vsctl does, and so what this does (its manual and lib/ovsdb-data.c):

- a string prints bare when it starts with a letter or ``_`` and goes on with letters, digits,
  ``_``, ``-``, ``.``, and is not ``true``/``false`` or a UUID; else as a JSON string;
- a set prints as ``[a, b]`` and a map as ``{k=v, k2=v2}``, except that a column holding at
  most one value prints it bare (``[]`` when empty);
- input tokens end at one of ``:=, []{}!<>`` (a backslash escapes one; double quotes keep
  them); a set or map may be written with or without its brackets; integers in a set may be
  ranges (``trunks=10-12``); booleans also take yes/no/on/off/1/0;
- table and column names may be abbreviated and are matched case-insensitively, ``-`` and
  ``_`` alike, an exact match winning.

Errors are :class:`kvmnet.errors.OvsError` with ovs-vsctl's words.
"""
from __future__ import annotations

import json
import math
import re
import uuid

from kvmnet.errors import OvsError
from kvmnet.host.ovsnames import needs_quotes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    Atom = int | float | bool | str | uuid.UUID

DELIMS = ":=, []{}!<>"
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_INT_RE = re.compile(r"[+-]?[0-9]+")
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
#: The most values one integer range may stand for (``trunks=1-4096``).
RANGE_MAX = 4096


# -- printing ------------------------------------------------------------------------------------
def json_string(s: str) -> str:
    """A JSON string as Open vSwitch writes one: ``\\"``, ``\\\\``, ``\\b\\f\\n\\r\\t``, other
    control characters as ``\\u00xx``, everything else (UTF-8 too) as it is."""
    return json.dumps(s, ensure_ascii=False)


def atom_text(atom: Any, kind: str) -> str:
    if kind == "string":
        return json_string(atom) if needs_quotes(atom) else str(atom)
    if kind == "boolean":
        return "true" if atom else "false"
    if kind == "real":
        return _real_text(float(atom))
    return str(atom)


def _real_text(x: float) -> str:
    """C's ``%.15g``."""
    if math.isinf(x) or math.isnan(x):
        return ("-" if x < 0 else "") + ("inf" if math.isinf(x) else "nan")
    return f"{x:.15g}"


def datum_text(datum: list[Any], type_: Any) -> str:
    """A column's value as ovs-vsctl prints it (``get``, ``list``, ``show``)."""
    is_map = type_.is_map()
    kind, vkind = type_.key.type.to_string(), (type_.value.type.to_string() if is_map else "")
    parts = [f"{atom_text(k, kind)}={atom_text(v, vkind)}" if is_map else atom_text(k, kind)
             for k, v in ((item if is_map else (item, None)) for item in datum)]
    body = ", ".join(parts)
    if type_.n_max > 1 or not datum:
        return ("{%s}" if is_map else "[%s]") % body
    return body


def sort_key(atom: Any) -> Any:
    """OVSDB's order of atoms of one type: numbers by value, strings by their UTF-8 bytes
    (strcmp), UUIDs by their 128-bit value."""
    if isinstance(atom, str):
        return atom.encode()
    if isinstance(atom, uuid.UUID):
        return atom.int
    return atom


def datum_json(datum: list[Any], type_: Any) -> Any:
    """OVSDB's JSON form of a value (RFC 7047: ``["set", [...]]``, ``["map", [...]]``,
    ``["uuid", "..."]``), as ovs-vsctl's ``--format=json`` prints cells."""
    def atom_json(a: Any) -> Any:
        return ["uuid", str(a)] if isinstance(a, uuid.UUID) else a

    if type_.is_map():
        return ["map", [[atom_json(k), atom_json(v)] for k, v in datum]]
    if len(datum) == 1:
        return atom_json(datum[0])
    return ["set", [atom_json(a) for a in datum]]


# -- names ---------------------------------------------------------------------------------------
def _fold(s: str) -> str:
    return s.lower().replace("-", "_")


def _score(name: str, given: str) -> int:
    """ovs-vsctl's partial match: exact beats case/underscore-insensitive beats a prefix."""
    if name == given:
        return 1 << 32
    if _fold(name) == _fold(given):
        return (1 << 32) - 1
    if _fold(name).startswith(_fold(given)):
        return len(given)
    return 0


def best_match(names: Iterable[str], given: str) -> list[str]:
    scored = [(_score(n, given), n) for n in names]
    top = max((s for s, _ in scored), default=0)
    return sorted(n for s, n in scored if s and s == top) if top else []


def match_table(tables: Iterable[str], given: str) -> str:
    found = best_match(tables, given)
    if not found:
        raise OvsError(f'unknown table "{given}": the tables are {", ".join(sorted(tables))}')
    if len(found) > 1:
        raise OvsError(f'"{given}" matches multiple table names: {", ".join(found)}')
    return found[0]


def match_column(table: str, columns: Iterable[str], given: str) -> str:
    found = best_match(columns, given)
    if not found:
        raise OvsError(f'{table} does not contain a column whose name matches "{given}": '
                       f"`kvmnet ovs list {table}` shows its columns")
    if len(found) > 1:
        raise OvsError(f'{table} contains more than one column whose name matches "{given}": '
                       f"{', '.join(found)}")
    return found[0]


# -- reading -------------------------------------------------------------------------------------
def token(s: str, pos: int) -> tuple[str, int]:
    """One token of ``s`` from ``pos``: up to a delimiter outside double quotes; a backslash
    keeps the next character (and stays, inside quotes).  Returns (token, end)."""
    out: list[str] = []
    quoted = False
    i = pos
    while i < len(s):
        c = s[i]
        if c == "\\":
            if quoted:
                out.append("\\")
            if i + 1 >= len(s):
                raise OvsError(f"{s[pos:]}: backslash at end of argument")
            out.append(s[i + 1])
            i += 2
            continue
        if not quoted and c in DELIMS:
            break
        out.append(c)
        if c == '"':
            quoted = not quoted
        i += 1
    if quoted:
        raise OvsError(f"{s[pos:]}: quoted string extends past end of argument")
    return "".join(out), i


def _constraint(atom: Any, base: Any) -> None:
    kind = base.type.to_string()
    if base.enum is not None:
        allowed = sorted((a.value for a in base.enum.values), key=sort_key)
        if atom not in allowed:
            valid = "[" + ", ".join(atom_text(a, kind) for a in allowed) + "]"
            raise OvsError(f"constraint violation: {atom_text(atom, kind)} is not one of the "
                           f"allowed values ({valid})")
    if kind in ("integer", "real"):
        lo = base.min if base.min is not None else (INT64_MIN if kind == "integer" else -math.inf)
        hi = base.max if base.max is not None else (INT64_MAX if kind == "integer" else math.inf)
        if not lo <= atom <= hi:
            show = atom_text
            if lo not in (INT64_MIN, -math.inf) and hi not in (INT64_MAX, math.inf):
                raise OvsError(f"constraint violation: {show(atom, kind)} is not in the valid "
                               f"range {show(lo, kind)} to {show(hi, kind)} (inclusive)")
            if lo not in (INT64_MIN, -math.inf):
                raise OvsError(f"constraint violation: {show(atom, kind)} is less than minimum "
                               f"allowed value {show(lo, kind)}")
            raise OvsError(f"constraint violation: {show(atom, kind)} is greater than maximum "
                           f"allowed value {show(hi, kind)}")
    elif kind == "string":
        n = len(atom)
        if n < (base.min_length or 0):
            raise OvsError(f'constraint violation: "{atom}" length {n} is less than minimum '
                           f"allowed length {base.min_length}")
        if base.max_length is not None and n > base.max_length:
            raise OvsError(f'constraint violation: "{atom}" length {n} is greater than '
                           f"maximum allowed length {base.max_length}")


def parse_atom(text: str, base: Any, *, ranges: bool = False) -> list[Any]:
    """One atom of base type ``base`` from its token (a list: an integer range gives several)."""
    kind = base.type.to_string()
    atoms: list[Any]
    if kind == "integer":
        m = re.fullmatch(r"([+-]?[0-9]+)-([+-]?[0-9]+)", text) if ranges else None
        if m:
            start, end = int(m.group(1)), int(m.group(2))
            if end < start:
                raise OvsError(f'"{text}" is not a valid range. Range end cannot be before start.')
            _constraint(start, base)
            _constraint(end, base)
            if end - start >= RANGE_MAX:
                raise OvsError(f'constraint violation: Range "{start}-{end}" is too big. '
                               f"Maximum allowed size is {RANGE_MAX}.")
            atoms = list(range(start, end + 1))
        elif _INT_RE.fullmatch(text) and INT64_MIN <= int(text) <= INT64_MAX:
            atoms = [int(text)]
        else:
            raise OvsError(f'"{text}" is not a valid integer or range' if ranges
                           else f'"{text}" is not a valid integer')
    elif kind == "real":
        try:
            atoms = [float(text) + 0.0]
        except ValueError:
            raise OvsError(f'"{text}" is not a valid real number') from None
    elif kind == "boolean":
        if text in ("true", "yes", "on", "1"):
            atoms = [True]
        elif text in ("false", "no", "off", "0"):
            atoms = [False]
        else:
            raise OvsError(f'"{text}" is not a valid boolean (use "true" or "false")')
    elif kind == "string":
        if not text:
            raise OvsError('An empty string is not valid as input; use "" to represent the '
                           "empty string")
        if text.startswith('"'):
            if len(text) < 2 or not text.endswith('"'):
                raise OvsError(f"{text}: missing quote at end of quoted string")
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                raise OvsError(f"{text}: {e.msg}") from None
            atoms = [value]
        else:
            atoms = [text]
    else:  # uuid
        if not _UUID_RE.fullmatch(text):
            raise OvsError(f'"{text}" is not a valid UUID')
        atoms = [uuid.UUID(text)]
    for atom in atoms:
        _constraint(atom, base)
    return atoms


def _skip(s: str, i: int) -> int:
    while i < len(s) and s[i].isspace():
        i += 1
    return i


def type_english(type_: Any) -> str:
    key = str(type_.key.type.to_string())
    if type_.is_map():
        return f"map of {key}-{type_.value.type.to_string()} pairs"
    if type_.n_max > 1:
        return f"set of {key}s"
    return key


def parse_datum(s: str, type_: Any, *, n_max: int | None = None) -> list[Any]:
    """A column's value from ovs-vsctl's text (``set``, ``add-port COL=VALUE``, ``find``)."""
    is_map = type_.is_map()
    i = _skip(s, 0)
    end_delim = ""
    if i < len(s) and s[i] == ("{" if is_map else "["):
        end_delim = "}" if is_map else "]"
        i = _skip(s, i + 1)
    elif i >= len(s):
        raise OvsError('use "{}" to specify the empty map' if is_map
                       else 'use "[]" to specify the empty set')
    keys: list[Any] = []
    values: list[Any] = []
    while i < len(s) and s[i] != end_delim:
        if s[i] in DELIMS:
            raise OvsError(f'{s}: unexpected "{s[i]}" parsing {type_english(type_)}')
        start = i
        tok, i = token(s, i)
        atoms = parse_atom(tok, type_.key, ranges=True)
        if is_map:
            i = _skip(s, i)
            if i >= len(s) or s[i] != "=":
                raise OvsError(f'{s[start:]}: syntax error at "{s[i] if i < len(s) else ""}" '
                               'expecting "="')
            i = _skip(s, i + 1)
            vtok, i = token(s, i)
            values.extend(parse_atom(vtok, type_.value))
        keys.extend(atoms)
        i = _skip(s, i)
        if i < len(s) and s[i] == ",":
            i = _skip(s, i + 1)
    if end_delim:
        if i >= len(s):
            raise OvsError(f'{s}: missing "{end_delim}" at end of data')
        if _skip(s, i + 1) < len(s):
            raise OvsError(f'{s}: trailing garbage after "{end_delim}"')
    what = "pair(s)" if is_map else "value(s)"
    most = type_.n_max if n_max is None else n_max
    if len(keys) < type_.n_min:
        raise OvsError(f"{s}: {len(keys)} {what} specified but the minimum number is "
                       f"{type_.n_min}")
    if len(keys) > most:
        raise OvsError(f"{s}: {len(keys)} {what} specified but the maximum number is {most}")
    if len(set(keys)) != len(keys):
        raise OvsError(f"{s}: map contains duplicate key" if is_map
                       else f"{s}: set contains duplicate value")
    if is_map:
        return sorted(zip(keys, values, strict=True), key=lambda kv: sort_key(kv[0]))
    return sorted(keys, key=sort_key)


def parse_column_arg(arg: str, operators: tuple[str, ...] | None = ("=",)
                     ) -> tuple[str, str | None, str | None, str | None]:
    """``COLUMN[:KEY][OP VALUE]`` -> (column, key token or None, operator, value text).
    ``operators=None``: no operator and value allowed (``get``, ``clear``)."""
    column, i = token(arg, 0)
    if not column:
        raise OvsError(f"{arg}: missing column name")
    key = None
    if i < len(arg) and arg[i] == ":":
        key, i = token(arg, i + 1)
    if operators is None:
        if i < len(arg):
            raise OvsError(f'{arg}: trailing garbage "{arg[i:]}" in argument')
        return column, key, None, None
    best = max((op for op in operators if arg.startswith(op, i) and len(arg) > i + len(op)),
               key=len, default=None)
    if best is None:
        quoted = [f'"{op}"' for op in operators]
        ends = quoted[0] if len(quoted) == 1 else (
            f"{quoted[0]} or {quoted[1]}" if len(quoted) == 2
            else ", ".join(quoted[:-1]) + f", or {quoted[-1]}")
        raise OvsError(f"{arg}: argument does not end in {ends} followed by a value.")
    return column, key, best, arg[i + len(best):]
