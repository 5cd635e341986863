"""The network documents' reader: a small element tree built by expat, without lxml.

``net-define`` runs as a fresh process per call, and importing lxml (which pulls in
``typing``, ``inspect`` and ``gzip``) was ~23 ms of its ~80 ms (measured: cold ``import
lxml.etree`` 23-27 ms over a bare interpreter; this module and pyexpat ~1 ms).  Network
documents and their ``net-update`` fragments are therefore read here, with the standard
library's expat; every other document (interfaces, ports, domains) is still read by lxml
through :func:`kvmnet.xmlio.safe.parse_document`.  Both go through the same refusals first
(:func:`kvmnet.xmlio.safe.checked_bytes`: size, NUL bytes, DTDs and entity declarations).

:class:`Element` has the part of lxml's element interface that the readers of
:mod:`kvmnet.xmlio.values` and :mod:`kvmnet.xmlio.strict` use (``tag`` in Clark notation,
``attrib``, ``get``, iteration over children with comments as non-element nodes, ``text``,
``tail``, ``itertext``, ``prefix``, ``nsmap``), so the network parser reads either tree the
same way; ``tests/unit/test_expat_tree.py`` holds the model it yields to the one lxml yields
on libvirt's whole corpus, the fuzz corpus and the edge cases of XML itself.  Processing
instructions are dropped, as the lxml reader drops them (``remove_pis``).
"""
from __future__ import annotations

from kvmnet.errors import XMLParseError

TYPE_CHECKING = False  # typing costs milliseconds of a cold start: annotations only
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import TypeAlias, Union

    from lxml import etree

    #: an element of either reader's tree (the fragments of network XML that port and domain
    #: documents share are read from lxml's)
    Node: TypeAlias = Union[etree._Element, "Element"]  # noqa: UP007 - a str part, for "Element"


class Comment:
    """The ``tag`` of a comment node (not a str: the readers skip non-element nodes)."""


class Element:
    """One element (or, with ``tag`` :class:`Comment`, one comment) of a parsed document."""

    __slots__ = ("attrib", "children", "nsdecl", "nsmap", "prefix", "qnames", "tag", "tail",
                 "text")

    def __init__(self, tag: str | type[Comment], attrib: dict[str, str], prefix: str | None,
                 nsmap: dict[str | None, str], nsdecl: dict[str | None, str],
                 qnames: dict[str, str] | None = None) -> None:
        self.tag = tag
        self.attrib = attrib
        self.prefix = prefix
        #: every namespace in scope, prefix -> URI (None: the default namespace), as lxml's
        self.nsmap = nsmap
        #: the namespaces declared on this element itself
        self.nsdecl = nsdecl
        #: the prefixed name (``p:local``) of each attribute written with a prefix
        self.qnames = qnames
        self.text: str | None = None
        self.tail: str | None = None
        self.children: list[Element] = []

    def __iter__(self) -> Iterator[Element]:
        return iter(self.children)

    def __len__(self) -> int:
        return len(self.children)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.attrib.get(key, default)

    def itertext(self) -> Iterator[str]:
        """The text of this element and its descendants in document order (comments' own
        text excluded, their tails included), as lxml's ``itertext``."""
        if self.tag is Comment:
            return
        if self.text:
            yield self.text
        for child in self.children:
            yield from child.itertext()
            if child.tail:
                yield child.tail

    def iter(self) -> Iterator[Element]:
        """This element and all below it, in document order."""
        yield self
        for child in self.children:
            yield from child.iter()


#: RFC 3986's URI-reference, as libxml2 checks a namespace name (lxml refuses the document
#: otherwise, so this reader does too; tests/unit/test_expat_tree.py compares the two)
_URI_PATTERN = None


def _valid_uri(uri: str) -> bool:
    global _URI_PATTERN
    if _URI_PATTERN is None:
        import re

        pchar = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})"
        nocolon = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=@]|%[0-9A-Fa-f]{2})"
        authority = (r"(?:(?:[A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*@)?"
                     r"(?:\[[^\]/?#]*\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)"
                     r"(?::[0-9]+)?")
        segments = rf"(?:/{pchar}*)*"
        tail = rf"(?:\?(?:{pchar}|[/?])*)?(?:#(?:{pchar}|[/?\[\]])*)?"
        _URI_PATTERN = re.compile(
            rf"(?:[A-Za-z][A-Za-z0-9+.\-]*:(?://{authority}{segments}|/(?:{pchar}+{segments})?"
            rf"|{pchar}+{segments}|)|(?://{authority}{segments}|/(?:{pchar}+{segments})?"
            rf"|{nocolon}+{segments}|)){tail}")
    return _URI_PATTERN.fullmatch(uri) is not None


def split_tag(name: str) -> tuple[str | None, str]:
    """The namespace (None: none) and local name of a ``{URI}local`` tag or attribute name."""
    if name.startswith("{"):
        uri, local = name[1:].split("}", 1)
        return uri, local
    return None, name


def _clark(name: str) -> tuple[str, str | None]:
    """expat's ``URI\\x01local[\\x01prefix]`` name as lxml's ``{URI}local``, and its prefix."""
    parts = name.split("\x01")
    if len(parts) == 1:
        return name, None
    return f"{{{parts[0]}}}{parts[1]}", parts[2] if len(parts) > 2 else None


def _escape(text: str, quote: bool) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if quote:  # a parsed attribute value keeps these only when written as references
        text = (text.replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;")
                .replace("\r", "&#13;"))
    return text.replace("\r", "&#13;")


def declarations(nsdecl: dict[str | None, str]) -> list[str]:
    """Namespace declarations as attributes (``xmlns:p="URI"``), in the given order."""
    return [f'{"xmlns" if p is None else "xmlns:" + p}="{_escape(uri, True)}"'
            for p, uri in nsdecl.items()]


def xml_text(el: Element) -> str:
    """``el`` written back as XML as the document wrote it: the same prefixes and namespace
    declarations in the same places, so that another XML library reading it (under the
    declarations of ``el``'s ancestors) builds the tree it would have built from the
    document."""
    if el.tag is Comment:
        return f"<!--{el.text or ''}-->{_escape(el.tail or '', False)}"
    local = split_tag(str(el.tag))[1]
    name = f"{el.prefix}:{local}" if el.prefix else local
    parts = [name, *declarations(el.nsdecl)]
    for key, value in el.attrib.items():
        qname = (el.qnames or {}).get(key) or key
        parts.append(f'{qname}="{_escape(value, True)}"')
    inner = _escape(el.text or "", False) + "".join(xml_text(c) for c in el.children)
    return f"<{' '.join(parts)}>{inner}</{name}>{_escape(el.tail or '', False)}"


def parse_tree(data: str | bytes, what: str = "document") -> Element:
    """Parse untrusted XML (refused as :func:`kvmnet.xmlio.safe.parse_document` refuses it)
    and return its root element."""
    from xml.parsers import expat

    from kvmnet.xmlio.safe import checked_bytes, not_well_formed

    raw = checked_bytes(data, what)
    parser = expat.ParserCreate(namespace_separator="\x01")  # no XML text holds it
    parser.namespace_prefixes = True
    parser.buffer_text = True
    stack: list[Element] = []
    root: list[Element] = []
    pending: dict[str | None, str] = {}

    def start_ns(prefix: str | None, uri: str | None) -> None:
        if uri and not _valid_uri(uri):
            name = "xmlns" if prefix is None else f"xmlns:{prefix}"
            raise not_well_formed(what, parser.CurrentLineNumber,
                                  f"{name}: '{uri}' is not a valid URI")
        pending[prefix] = uri or ""

    def add(node: Element) -> None:
        if stack:
            stack[-1].children.append(node)

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal pending
        tag, prefix = _clark(name)
        attrib: dict[str, str] = {}
        qnames: dict[str, str] | None = None
        for key, val in attrs.items():
            clark, attr_prefix = _clark(key)
            attrib[clark] = val
            if attr_prefix is not None:
                qnames = qnames or {}
                qnames[clark] = f"{attr_prefix}:{split_tag(clark)[1]}"
        outer = stack[-1].nsmap if stack else {}
        if pending:
            nsmap = {**outer, **pending}  # xmlns="" stays as None: "", as in lxml's
            decl, pending = pending, {}
        else:
            nsmap, decl = outer, {}
        el = Element(tag, attrib, prefix, nsmap, decl, qnames)
        add(el)
        if not stack:
            root.append(el)
        stack.append(el)

    def end(_name: str) -> None:
        stack.pop()

    def text(data: str) -> None:
        if not stack:
            return
        parent = stack[-1]
        if parent.children:
            last = parent.children[-1]
            last.tail = data if last.tail is None else last.tail + data
        else:
            parent.text = data if parent.text is None else parent.text + data

    def comment(data: str) -> None:
        if stack:
            node = Element(Comment, {}, None, stack[-1].nsmap, {})
            node.text = data
            add(node)

    def no_doctype(*_args: object) -> None:
        raise XMLParseError(f"{what} declares a DOCTYPE, which is refused; remove it")

    parser.StartNamespaceDeclHandler = start_ns
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.CommentHandler = comment
    parser.StartDoctypeDeclHandler = no_doctype
    parser.EntityDeclHandler = no_doctype
    try:
        parser.Parse(raw, True)
    except expat.ExpatError as exc:
        raise not_well_formed(what, exc.lineno, expat.ErrorString(exc.code)) from None
    except ValueError as exc:  # e.g. an encoding Python does not know
        raise XMLParseError(f"{what} cannot be read as XML: {exc}") from None
    if not root:
        raise XMLParseError(f"{what} has no root element")
    return root[0]
