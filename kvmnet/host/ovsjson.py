"""A JSON parser for the ``ovs`` library's JSON-RPC, on the standard library's C decoder.

The ``ovs`` library reads OVSDB's messages with its own pure-Python lexer (a function call per
character) unless its optional C extension was built, which the wheel on PyPI is not: about
1 ms per small update, most of the time a port change takes (bench/bench_ovs.py).  This class
keeps that lexer's interface (``feed`` returns how many characters it took, ``is_done``,
``finish``) and lets :func:`json.JSONDecoder.raw_decode` do the work; :func:`install` puts it
in place of ``ovs.json.Parser`` for this process (kvmnet is the only user of the library in
it).  JSON-RPC messages are objects sent back to back, so a message is complete exactly when
``raw_decode`` succeeds on what has arrived.
"""
from __future__ import annotations

import json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_DECODER = json.JSONDecoder()
_SPACE = " \t\n\r"


class Parser:
    """ovs.json.Parser's interface: feed() chunks of text until is_done(), then finish()."""

    MAX_HEIGHT = 1000

    def __init__(self, check_trailer: bool = False) -> None:
        self.check_trailer = check_trailer
        self._buf = ""
        self._value: Any = None
        self._done = False
        self._error: str | None = None

    def feed(self, s: str) -> int:
        if self._done:
            if self.check_trailer and s.strip(_SPACE):
                self._error = "trailing garbage at end of input"
            return len(s) if self.check_trailer else 0
        before = len(self._buf)
        buf = self._buf + s
        start = len(buf) - len(buf.lstrip(_SPACE))
        if start == len(buf):
            self._buf = ""
            return len(s)
        # A bare number at the end may go on in the next chunk; an object or array may not.
        if buf[start] not in "{[\"" and not self.check_trailer:
            self._buf = buf
            return len(s)
        try:
            self._value, end = _DECODER.raw_decode(buf, start)
        except ValueError:
            self._buf = buf
            return len(s)
        self._done = True
        self._buf = ""
        if self.check_trailer:
            if buf[end:].strip(_SPACE):
                self._error = "trailing garbage at end of input"
            return len(s)
        return end - before

    def is_done(self) -> bool:
        return self._done

    def finish(self) -> Any:
        if self._error is not None:
            return self._error
        if not self._done:
            rest = self._buf.strip(_SPACE)
            if not rest:
                return "empty input stream"
            try:
                return json.loads(rest)
            except ValueError as e:
                return f"syntax error: {e}"
        return self._value


def install() -> None:
    """Use :class:`Parser` for the ``ovs`` library's JSON in this process (idempotent)."""
    import ovs.json

    if ovs.json.PARSER != ovs.json.PARSER_C:  # the library's C extension is as fast: keep it
        ovs.json.Parser = Parser
