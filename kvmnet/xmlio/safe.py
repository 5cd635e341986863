"""Hardened XML loading for every document kvmnet reads.

Definitions come from users and from files anyone may have edited, so both readers
(lxml here; expat's tree, :mod:`kvmnet.xmlio.expat_tree`, for network documents) refuse the
classic XML attacks before the XML library ever sees them (:func:`checked_bytes`):
DOCTYPEs and entity declarations (billion laughs, external entities that
read local files or fetch URLs) are rejected outright rather than merely not
expanded, documents over 1 MiB fail at once, and NUL bytes are refused.
"""
from __future__ import annotations

import re

from kvmnet.errors import VIR_ERR_XML_DETAIL, XMLParseError

TYPE_CHECKING = False  # typing costs milliseconds of a cold start: annotations only
if TYPE_CHECKING:
    from lxml import etree

MAX_DOCUMENT_BYTES = 1024 * 1024

# XML names these declarations case-sensitively; a match anywhere (even in a
# comment) is refused because a legitimate network definition never needs one.
_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)\b")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")


def _parser() -> etree.XMLParser:
    # A fresh parser per call: lxml parsers keep error logs and are not
    # meant to be shared between threads.
    from lxml import etree

    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        remove_comments=False,
        remove_pis=True,
        collect_ids=False,
    )


def _as_bytes(data: str | bytes, what: str) -> bytes:
    if isinstance(data, str):
        # Check the character count first so a huge string fails before
        # the cost of encoding it.
        if len(data) > MAX_DOCUMENT_BYTES:
            raise _too_big(what, len(data))
        # lxml refuses str input that carries an encoding declaration; the
        # text is already decoded, so drop the declaration and use UTF-8.
        data = _XML_DECL.sub("", data, count=1)
        raw = data.encode("utf-8", errors="surrogateescape")
    elif isinstance(data, (bytes, bytearray)):
        raw = bytes(data)
    else:
        raise XMLParseError(f"{what} must be text or bytes, not {type(data).__name__}")
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise _too_big(what, len(raw))
    return raw


def _too_big(what: str, size: int) -> XMLParseError:
    return XMLParseError(
        f"{what} is too large ({size} bytes, limit {MAX_DOCUMENT_BYTES} bytes = 1 MiB); "
        "a network definition is a few kilobytes, so check that the right file was given"
    )


def checked_bytes(data: str | bytes, what: str = "document") -> bytes:
    """The document's bytes, once the refusals every reader applies have passed: oversize
    input, NUL bytes, any DOCTYPE/entity declaration, an empty document."""
    raw = _as_bytes(data, what)
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise XMLParseError(
            f"{what} contains a NUL byte (line {line}); XML text cannot contain NUL — "
            "save the file as UTF-8 text"
        )
    m = _FORBIDDEN.search(raw)
    if m is not None:
        line = raw[: m.start()].count(b"\n") + 1
        kind = m.group(1).decode()
        raise XMLParseError(
            f"{what} contains a <!{kind}> declaration (line {line}); DTDs and entity "
            "declarations are refused because they allow entity-expansion and external-file "
            "attacks — remove the declaration"
        )
    if not raw.strip():
        raise XMLParseError(f"{what} is empty; expected an XML document")
    return raw


def not_well_formed(what: str, line: int | None, msg: str) -> XMLParseError:
    """The one wording of a syntax error, whichever reader found it."""
    # libvirt's number for a document libxml2 cannot parse (VIR_ERR_XML_DETAIL)
    return XMLParseError(f"{what} is not well-formed XML at line {line or 0}: {msg}",
                         code=VIR_ERR_XML_DETAIL)


def parse_document(data: str | bytes, what: str = "document") -> etree._Element:
    """Parse untrusted XML with lxml and return its root element (network documents are read
    by :mod:`kvmnet.xmlio.expat_tree` instead).

    Raises :class:`XMLParseError` for oversize input, NUL bytes, any
    DOCTYPE/entity declaration, and malformed XML (with the line number).
    """
    from lxml import etree

    raw = checked_bytes(data, what)
    try:
        root = etree.fromstring(raw, parser=_parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else (exc.position[0] if exc.position else 0)
        msg = exc.msg or str(exc)
        # lxml appends ", line N, column M" itself; keep the message short.
        msg = re.sub(r",? line \d+, column \d+$", "", msg)
        raise not_well_formed(what, line, msg) from None
    except ValueError as exc:  # e.g. unsupported encoding declaration
        raise XMLParseError(f"{what} cannot be read as XML: {exc}") from None
    docinfo = root.getroottree().docinfo
    if getattr(docinfo, "doctype", "") or docinfo.internalDTD is not None:
        raise XMLParseError(f"{what} declares a DOCTYPE, which is refused; remove it")
    if root.tag is etree.Comment or not isinstance(root.tag, str):
        raise XMLParseError(f"{what} has no root element")
    return root
