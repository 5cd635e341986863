"""The order in which ovs-vsctl's ``list`` and ``find`` print rows: pure, no I/O.

ovs-vsctl walks a table's rows in its IDL's hash map (Open vSwitch's ``struct hmap``), keyed
by the first 32 bits of each row's UUID.  Which rows share a bucket, and in which order, depends
on the order the rows were inserted, and that is the order in which its JSON parser's own hash
map (keyed by the hash of each UUID's text) hands out the members of the server's update.  Both
maps are rebuilt here, exactly as Open vSwitch builds them (insert at the bucket's head; grow
to ``calc_mask(n)`` once n/2 exceeds the mask, moving nodes bucket by bucket), from the order
in which the server sent the rows, which the ``ovs`` library's IDL keeps (its rows are a dict
filled in message order).  The hash is Open vSwitch's ``hash_string`` (murmur3 steps, as
lib/hash.c has them without SSE4.2, as Debian builds it).  ``show`` needs none of this: it
follows the reference columns, whose values are sorted by UUID.
"""
from __future__ import annotations

from typing import TypeVar

TYPE_CHECKING = False
if TYPE_CHECKING:
    import uuid
    from collections.abc import Iterable

T = TypeVar("T")

_M = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M


def _mix(h: int, data: int) -> int:
    if data:
        data = (data * 0xCC9E2D51) & _M
        data = (_rot(data, 15) * 0x1B873593) & _M
        h ^= data
    return (_rot(h, 13) * 5 + 0xE6546B64) & _M


def _finish(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M
    return h ^ (h >> 16)


def hash_string(s: str, basis: int = 0) -> int:
    """Open vSwitch's ``hash_string()`` (``hash_bytes`` over the UTF-8 bytes)."""
    data = s.encode()
    h = basis
    full = len(data) - len(data) % 4
    for i in range(0, full, 4):
        h = _mix(h, int.from_bytes(data[i:i + 4], "little"))
    if full < len(data):
        h = _mix(h, int.from_bytes(data[full:].ljust(4, b"\0"), "little"))
    return _finish(h ^ len(data))


def _calc_mask(n: int) -> int:
    mask = n // 2
    for shift in (1, 2, 4, 8, 16, 32):
        mask |= mask >> shift
    return mask | (mask & 1) << 1


def hmap_order(items: Iterable[tuple[T, int]]) -> list[T]:
    """The iteration order of an Open vSwitch hmap after inserting ``(item, hash)`` pairs."""
    mask = 0
    buckets: list[list[tuple[T, int]]] = [[]]
    for n, (item, h) in enumerate(items, 1):
        buckets[h & mask].insert(0, (item, h))
        if n // 2 > mask and _calc_mask(n) > mask:
            mask = _calc_mask(n)
            old, buckets = buckets, [[] for _ in range(mask + 1)]
            for bucket in old:
                for node in bucket:
                    buckets[node[1] & mask].insert(0, node)
    return [item for bucket in buckets for item, _ in bucket]


def vsctl_row_order(arrival: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """Rows in ovs-vsctl's order, given the order the server sent them in."""
    parsed = hmap_order((u, hash_string(str(u))) for u in arrival)
    return hmap_order((u, u.int >> 96) for u in parsed)
