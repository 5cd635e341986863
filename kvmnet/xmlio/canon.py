"""The network document's value forms and defaults, for both of its readers.

A network document has one reader, :mod:`kvmnet.xmlio.network_parse` (lxml, every element),
and one fast subset of it, the store's peek (:func:`kvmnet.config.store.peek_xml`: expat, the
five fields that listing and define-time checks need, without importing lxml).  What a field
means -- the canonical form of a UUID or MAC, the forward mode a document without one has --
is decided here once and used by both; ``tests/unit/test_peek_agrees.py`` holds the peek to
the parser on every network document of the tests and the libvirt corpus.

Standard library only and no ``re``: the store imports this on every cold command.
"""
from __future__ import annotations

#: The mode of a ``<forward>`` element without ``mode=`` (libvirt: NAT).
FORWARD_MODE_DEFAULT = "nat"
#: The mode of a network without ``<forward>`` (or with ``mode='none'``): isolated.
FORWARD_MODE_NONE = "none"

_HEX = frozenset("0123456789abcdefABCDEF")


def uuid_form(value: str) -> str | None:
    """A UUID with or without dashes in libvirt's form (lower-case, 8-4-4-4-12); None when it
    is not 32 hex digits."""
    compact = value.strip().replace("-", "")
    if len(compact) != 32 or not _HEX.issuperset(compact):
        return None
    c = compact.lower()
    return f"{c[0:8]}-{c[8:12]}-{c[12:16]}-{c[16:20]}-{c[20:32]}"


def canonical_uuid(value: str) -> str:
    """:func:`uuid_form`, or the text stripped and lower-cased when it is no UUID (so that a
    lookup by a malformed UUID still names what was asked)."""
    return uuid_form(value) or value.strip().lower()


def mac_form(value: str) -> str | None:
    """A MAC address as libvirt reads it (six bytes of 1-2 hex digits, colon-separated) in its
    canonical form (two lower-case digits each); None when malformed."""
    parts = value.strip().split(":")
    if len(parts) != 6 or not all(0 < len(p) <= 2 and _HEX.issuperset(p) for p in parts):
        return None
    return ":".join(f"{int(p, 16):02x}" for p in parts)
