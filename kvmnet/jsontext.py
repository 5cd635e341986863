"""JSON for the hot verbs' own files (journals, start programs), without importing ``json``.

Why: ``import json`` loads ``re``, and with it ``enum``, ``functools`` and ``collections``:
7.7 ms of a cold process on the 2-CPU lab machine (``python -c "import json"`` against
``python -c pass``, best of 20), a tenth of a cold ``net-start``.  The C codec that ``json``
itself uses (CPython's ``_json``) needs none of that, so the files a start, a destroy and
the lease helper read and write go through it here.  Same documents, same errors
(``ValueError``); where ``_json`` is missing (another Python) this is plain ``json``.

Only what kvmnet writes: dicts with string keys, lists, strings, ints, floats, booleans,
None; no NaN or infinities; output is one line (``", "`` and ``": "`` separators, as
``json.dumps`` without ``indent``), UTF-8 text left as it is.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WHITESPACE = " \t\n\r"


def _no_constant(name: str) -> Any:
    raise ValueError(f"JSON constant {name} is not accepted")


def _unserialisable(obj: object) -> Any:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


class _Decoding:
    """The settings ``_json.make_scanner`` reads (those of ``json.loads`` with no options)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_no_constant)


_scan: Any = None
_encode: Any = None
try:
    from _json import encode_basestring, make_encoder, make_scanner
except ImportError:  # not CPython: the json module does it all
    pass
else:
    _scan = make_scanner(_Decoding())  # type: ignore[arg-type]
    _encode = make_encoder(None, _unserialisable, encode_basestring, None, ": ", ", ",
                           False, False, False)


def loads(text: str) -> Any:
    """The value of JSON document ``text``; ``ValueError`` when it is not one."""
    if _scan is None:
        import json

        return json.loads(text)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as exc:
        raise ValueError(f"expected a JSON value at character {exc.value}") from None
    if text[end:].strip(_WHITESPACE):
        raise ValueError(f"extra data after the JSON value at character {end}")
    return value


def dumps(value: Any) -> str:
    """``value`` as one line of JSON (``json.dumps(value, ensure_ascii=False, allow_nan=False)``)."""
    if _scan is None:
        import json

        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    return "".join(_encode(value, 0))
