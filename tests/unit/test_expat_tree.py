"""The network documents' reader (expat's tree) reads what lxml reads, node for node.

:mod:`kvmnet.xmlio.expat_tree` replaced lxml as the reader of network documents (a cold
``net-define`` no longer imports lxml).  The network parser sees the tree through lxml's
interface, so for every document it must be the tree lxml builds: the same elements, tags,
attributes (in order), text and tails, comments, namespace prefixes and namespaces in
scope, and the same refusals.  The documents: libvirt's whole network corpus, the fuzz
corpus's mutants (tests/xmlfuzz.py), the examples, and the corners of XML below.  The
``<metadata>`` kept as it is must also come out as lxml formatted it from its own tree.
"""
from __future__ import annotations

import copy
import random
from collections.abc import Iterator

import pytest
from lxml import etree

from kvmnet.errors import XMLParseError
from kvmnet.xmlio.expat_tree import Comment, Element, parse_tree
from kvmnet.xmlio.network import parse_network
from kvmnet.xmlio.safe import parse_document
from tests import xmlfuzz
from tests.conformance import REPO, conformance_dir

EDGE_CASES = {
    "comment-and-pi-in-text": "<network><name>a<!-- c -->b<?pi x?>c<![CDATA[<d>]]></name></network>",
    "entities-and-charrefs": "<network><name>&lt;&amp;&#65;&#x42;&quot;</name><bridge name='&apos;x'/></network>",
    "attr-whitespace": "<network><name>a</name><bridge name='a\tb\nc\r\nd &#10; &#9;e'/></network>",
    "crlf-text": "<network>\r\n<name>a\r\nb\rc</name>\r\n</network>",
    "default-ns-and-undeclare": ("<network xmlns='urn:x'><name xmlns=''>a</name>"
                                 "<y:b xmlns:y='urn:y' y:k='1' k='2'/></network>"),
    "prefix-redeclared": ("<network xmlns:a='urn:1'><a:x xmlns:a='urn:2'><a:y a:z='1'/></a:x>"
                          "<name>a</name></network>"),
    "same-uri-two-prefixes": ("<network xmlns:a='urn:1' xmlns:b='urn:1'><name>n</name>"
                              "<metadata><b:m a:k='v'><a:i/></b:m></metadata></network>"),
    "metadata-mixed": ("<network><name>n</name><metadata>\n  <app1:foo xmlns:app1='http://a/1'>"
                       "fizz<!-- c -->buzz<x y='1'>  </x>\n  </app1:foo>\n  <plain/>"
                       "<app2:bar xmlns:app2='http://a/2' xmlns:unused='urn:u'>t</app2:bar>"
                       "<app1:again xmlns:app1='http://a/1'/></metadata></network>"),
    "metadata-inherits-ns": ("<network xmlns:o='urn:outer'><name>n</name><metadata>"
                             "<o:x o:a='1'><o:y/></o:x></metadata></network>"),
    "metadata-default-ns": ("<network><name>n</name><metadata><x xmlns='urn:d'><y/>"
                            "<z xmlns=''/></x></metadata></network>"),
    "metadata-redeclared": ("<network xmlns:a='urn:1'><name>n</name><metadata xmlns:a='urn:1'>"
                            "<a:x xmlns:a='urn:1'><a:y xmlns:b='urn:1' b:k='1'/></a:x>"
                            "</metadata></network>"),
    "metadata-empty": "<network><name>n</name><metadata/></network>",
    "xml-lang": "<network><name xml:lang='en'>a</name></network>",
    "bom-and-declaration": "\ufeff<?xml version='1.0' encoding='UTF-8'?>\n<network><name>a</name></network>",
    "latin1-declaration": "<?xml version='1.0' encoding='ISO-8859-1'?><network><name>caf\xe9</name></network>",
    "windows-1252": "<?xml version='1.0' encoding='windows-1252'?><network><name>\u20ac</name></network>",
    "utf16": "\ufeff<network><name>\u00e9t\u00e9</name></network>",
    "comments-outside-root": "<!-- a --><network><name>a</name></network><!-- b --><?pi?>",
    "unicode-names": "<network><name>snow\u2603</name><ns:\u00e9l xmlns:ns='urn:\u00e9'/></network>",
    "deep": "<network><name>a</name>" + "<x>" * 200 + "</x>" * 200 + "</network>",
}

#: documents both readers must refuse
REFUSED: dict[str, str | bytes] = {
    "unbound-element-prefix": "<network><x:name/></network>",
    "unbound-attribute-prefix": "<network x:a='1'><name>a</name></network>",
    "empty-prefixed-ns": "<network xmlns:x=''><name>a</name></network>",
    "mismatched-tag": "<network><name>a</nam></network>",
    "unclosed": "<network><name>a</name>",
    "two-roots": "<network/><network/>",
    "text-after-root": "<network/>junk",
    "duplicate-attribute": "<network a='1' a='2'/>",
    "duplicate-expanded-attribute": "<network xmlns:a='urn:1' xmlns:b='urn:1' a:x='1' b:x='2'/>",
    "undefined-entity": "<network><name>&nbsp;</name></network>",
    "bad-charref": "<network><name>&#0;</name></network>",
    "control-char": "<network><name>\x01</name></network>",
    "lt-in-attribute": "<network a='<'/>",
    "declaration-not-first": b"\n<?xml version='1.0'?><network/>",  # (text input drops it)
    "invalid-namespace-uri": "<network xmlns:a='urn:\u00e9'><name>a</name></network>",
    "space-in-default-namespace": "<network xmlns='a b'><name>a</name></network>",
    "doctype": "<!DOCTYPE network><network/>",
    "nul": "<network>\x00</network>",
    "empty": "  ",
    "only-comment": "<!-- nothing -->",
    "not-xml": "name: default",
    "reserved-xmlns-prefix": "<network xmlns:xmlns='urn:x'/>",
}


def _documents() -> list[tuple[str, bytes]]:
    docs = [(f"edge:{k}", v.encode("utf-16-le" if k == "utf16" else
                                    "cp1252" if k == "windows-1252" else
                                    "latin-1" if k == "latin1-declaration" else "utf-8"))
            for k, v in EDGE_CASES.items()]
    docs += [(str(p.relative_to(REPO)), p.read_bytes())
             for p in sorted((REPO / "examples").rglob("*.xml"))]
    base = conformance_dir()
    if base is not None:
        docs += [(str(p.relative_to(base)), p.read_bytes())
                 for p in sorted((base / "tests").glob("networkxml2*/*.xml"))]
        rng = random.Random(12)
        seeds = xmlfuzz.seeds()
        docs += [(f"fuzz:{i}:{label}", xmlfuzz.mutate(doc, rng))
                 for i in range(1500) for label, doc in [seeds[i % len(seeds)]]]
    return docs


DOCS = _documents()


def _lxml_nodes(el: etree._Element) -> Iterator[tuple[object, ...]]:
    if el.tag is etree.Comment:
        yield ("comment", el.text, el.tail)
        return
    yield ("element", el.tag, list(el.attrib.items()), el.text, el.tail, el.prefix, dict(el.nsmap))
    for child in el:
        yield from _lxml_nodes(child)
    yield ("end", el.tag)


def _expat_nodes(el: Element) -> Iterator[tuple[object, ...]]:
    if el.tag is Comment:
        yield ("comment", el.text, el.tail)
        return
    yield ("element", el.tag, list(el.attrib.items()), el.text, el.tail, el.prefix, dict(el.nsmap))
    for child in el:
        yield from _expat_nodes(child)
    yield ("end", el.tag)


def _lxml_tree(data: bytes) -> etree._Element | XMLParseError:
    try:
        root = parse_document(data, "doc")
    except XMLParseError as exc:
        return exc
    root.tail = None  # the root's siblings (comments after it) are not the tree's
    return root


@pytest.mark.parametrize(("label", "data"), DOCS, ids=[d[0] for d in DOCS])
def test_the_tree_is_lxmls(label: str, data: bytes) -> None:
    want = _lxml_tree(data)
    if isinstance(want, XMLParseError):
        with pytest.raises(XMLParseError):
            parse_tree(data, "doc")
        return
    got = parse_tree(data, "doc")
    assert list(_expat_nodes(got)) == list(_lxml_nodes(want))


@pytest.mark.parametrize(("label", "data"), list(REFUSED.items()), ids=list(REFUSED))
def test_both_refuse(label: str, data: str | bytes) -> None:
    with pytest.raises(XMLParseError):
        parse_document(data, "doc")
    with pytest.raises(XMLParseError) as exc:
        parse_tree(data, "doc")
    assert str(exc.value).startswith("doc ")
    assert "\n" not in str(exc.value)


def test_namespace_names_are_checked_as_libxml2_checks_them() -> None:
    """libxml2 refuses a namespace name that is not an RFC 3986 URI-reference, so lxml
    refuses the document; the expat reader must refuse exactly the same ones."""
    rng = random.Random(3)
    alphabet = "ab1:/?#[]@%4fF!$&'()*+,;=-._~ \"<>\\^`{|}\u00e9\tz"
    uris = ["%41", "%4", "%zz", "#", "?", ":", "urn:", "1:a", "http://[::1]/", "http://[x]/",
            "//a", "a:b:c", "http://h:99999/", "http://h:x/", "http://h:/", "http://[\"@]/"]
    for _ in range(4000):
        start = rng.choice(["http://", "urn:", "//", "/", "a:", "", "#"])
        uris.append(start + "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))))
    wrong = []
    for uri in uris:
        attr = uri.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
        doc = f'<network xmlns:x="{attr}"><name>a</name></network>'
        lxml_reads = not isinstance(_lxml_tree(doc.encode()), XMLParseError)
        try:
            parse_tree(doc)
            expat_reads = True
        except XMLParseError:
            expat_reads = False
        if lxml_reads != expat_reads:
            wrong.append(uri)
    assert wrong == []


def _lxml_metadata(data: bytes) -> str | None:
    """How the lxml reader kept <metadata> (its code before the expat tree, verbatim)."""
    root = parse_document(data)
    el = next((c for c in root if c.tag == "metadata"), None)
    if el is None:
        return None
    md = copy.deepcopy(el)
    seen: set[str] = set()
    for child in list(md):
        if not isinstance(child.tag, str):
            continue
        ns = etree.QName(child).namespace
        if ns is None or ns in seen:
            md.remove(child)
        else:
            seen.add(ns)
    md.text = None
    md.tail = None
    for node in md.iter():
        if node is not md and node.tail is not None and not node.tail.strip():
            node.tail = None
        if len(node) and node.text is not None and not node.text.strip():
            node.text = None
    etree.cleanup_namespaces(md)
    return etree.tostring(md, pretty_print=True, encoding="unicode").rstrip("\n")


WITH_METADATA = [(label, data) for label, data in DOCS if b"metadata" in data]


@pytest.mark.parametrize(("label", "data"), WITH_METADATA, ids=[d[0] for d in WITH_METADATA])
def test_metadata_is_kept_as_lxml_kept_it(label: str, data: bytes) -> None:
    try:
        net = parse_network(data)
    except XMLParseError:
        return  # refused for another reason (the tree test holds the refusals alike)
    assert net.metadata == _lxml_metadata(data)


def test_the_corpora_were_read() -> None:
    assert len(WITH_METADATA) >= 5
    if conformance_dir() is not None:
        assert sum(1 for label, _ in DOCS if label.startswith("tests/")) > 100
        assert sum(1 for label, _ in DOCS if label.startswith("fuzz:")) == 1500
