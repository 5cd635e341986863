"""Output shapes shared by the CLI verbs: virsh's table and plain JSON."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TextIO


def _char_width(ch: str) -> int:
    import unicodedata

    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def safe_cell(text: str) -> tuple[str, int]:
    """A cell as virsh's vshTableSafeEncode shows it, and its display width.

    Non-printable characters become ``\\xNN`` per UTF-8 byte so that a name
    with a tab or escape sequence cannot break the columns or the terminal.
    """
    if text.isascii() and text.isprintable():
        return text, len(text)
    out: list[str] = []
    width = 0
    for ch in text:
        if not ch.isprintable():
            encoded = "".join(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogateescape"))
            out.append(encoded)
            width += len(encoded)
        else:
            out.append(ch)
            width += _char_width(ch)
    return "".join(out), width


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]], show_header: bool = True) -> str:
    """virsh's vshTable layout.

    Each cell is preceded by one space; every column but the last is padded to
    its widest cell plus two spaces; the dashed line is the sum of the column
    widths plus three per column.  For example::

         Name      State    Autostart   Persistent
        --------------------------------------------
         default   active   yes         yes
    """
    cells = [[safe_cell(c) for c in row] for row in [list(header), *map(list, rows)]]
    ncols = len(header)
    first = 0 if show_header else 1
    widths = [max((r[i][1] for r in cells[first:]), default=0) for i in range(ncols)]

    def line(row: list[tuple[str, int]]) -> str:
        parts: list[str] = []
        for i, (text, width) in enumerate(row):
            parts.append(" " + text)
            if i < ncols - 1:
                parts.append(" " * (widths[i] - width + 2))
        return "".join(parts) + "\n"

    out: list[str] = []
    if show_header:
        out.append(line(cells[0]))
        out.append("-" * sum(w + 3 for w in widths) + "\n")
    out.extend(line(r) for r in cells[1:])
    return "".join(out)


def print_json(stream: TextIO, value: Any) -> None:
    import json

    stream.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def yes_no(value: bool) -> str:
    return "yes" if value else "no"
