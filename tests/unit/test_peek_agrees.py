"""The store's peek (expat, five fields, no lxml) says what the one network reader says.

:func:`kvmnet.config.store.peek_xml` is a fast subset of :mod:`kvmnet.xmlio.network_parse`
for the cold paths (net-list, the claim index, define's checks).  For every network document
the parser accepts -- the examples, libvirt's corpus when present, and the edge cases below --
each field the peek reads must be the parser's value for it.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from kvmnet.config.store import peek_xml
from kvmnet.errors import XMLParseError
from kvmnet.xmlio.network import parse_network
from tests.conformance import REPO, conformance_dir

EDGE_CASES = {
    "no-forward": "<network><name>a</name></network>",
    "forward-without-mode": "<network><name>a</name><forward/></network>",
    "forward-none": "<network><name>a</name><forward mode='none'/></network>",
    "forward-route": "<network><name>a</name><forward mode='route'/><bridge name='br9'/></network>",
    "mac-upper-and-short": ("<network><name>a</name><mac address='52:54:0:AB:c:1'/>"
                            "</network>"),
    "uuid-compact-upper": ("<network><name>a</name>"
                           "<uuid>81FF0D90C91E674264DA4A736EDB9A9B</uuid></network>"),
    "uuid-spaces": ("<network><name>a</name>"
                    "<uuid> 81ff0d90-c91e-6742-64da-4a736edb9a9b </uuid></network>"),
    "empty-bridge-name": "<network><name>a</name><bridge name='' stp='on'/></network>",
    "first-of-each": ("<network><name>a</name><bridge name='b1'/><bridge name='b2'/>"
                      "<mac address='52:54:00:00:00:01'/><mac address='52:54:00:00:00:02'/>"
                      "<forward mode='open'/><forward mode='route'/></network>"),
    "nested-and-comment": ("<network><!-- c --><name>a<!-- inside -->b</name>"
                           "<ip address='10.0.0.1' prefix='24'><dhcp/></ip></network>"),
    "header-comment": ("<!-- WARNING: header -->\n<network><name>a</name>"
                       "<forward mode='nat'><nat><port start='1024' end='65535'/></nat>"
                       "</forward></network>"),
}


def _documents() -> list[tuple[str, bytes]]:
    docs = [(f"edge:{k}", v.encode()) for k, v in EDGE_CASES.items()]
    docs += [(str(p.relative_to(REPO)), p.read_bytes())
             for p in sorted((REPO / "examples").rglob("*.xml"))]
    base = conformance_dir()
    if base is not None:
        docs += [(str(p.relative_to(base)), p.read_bytes())
                 for p in sorted((base / "tests").glob("networkxml2*/*.xml"))]
    return docs


def _fields_of_parse(data: bytes) -> tuple[str | None, ...] | None:
    try:
        net = parse_network(data)
    except XMLParseError:
        return None  # not a network document the reader accepts: nothing to agree on
    return (net.name, net.uuid, net.forward_mode.value, net.bridge_name, net.mac)


# Documents the parser refuses are left out (their refusals are tested elsewhere).
CASES = [(label, data, want) for label, data in _documents()
         if (want := _fields_of_parse(data)) is not None]


@pytest.mark.parametrize(("label", "data", "want"), CASES, ids=[c[0] for c in CASES])
def test_peek_fields_are_the_parsers(label: str, data: bytes, want: tuple[str | None, ...]) -> None:
    p = peek_xml(data, label)
    assert (p.name, p.uuid, p.mode, p.bridge, p.mac) == want


def test_the_corpus_was_read_when_present() -> None:
    labels = [label for label, _, _ in CASES]
    assert len([x for x in labels if x.startswith("edge:")]) == len(EDGE_CASES)
    if conformance_dir() is not None:
        assert sum(1 for label in labels if label.startswith("tests/")) > 100


def test_examples_exist() -> None:
    assert any(Path(label).suffix == ".xml" for label, _ in _documents() if "examples" in label)
