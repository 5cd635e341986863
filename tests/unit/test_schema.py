"""Everything kvmnet formats must be valid against libvirt's network.rng.

The schema is loaded in place from the conformance corpus; inputs are the
xml2xml, xml2conf and xml2firewall networks and the update base networks and
expected outputs.  Each is parsed, formatted (active and inactive) and the
result validated with lxml's RelaxNG.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from kvmnet.errors import XMLParseError
from kvmnet.xmlio.network import format_network, parse_network
from tests.conformance import conformance_dir


def _inputs() -> list[str]:
    base = conformance_dir()
    if base is None:
        return []
    files: set[str] = set()
    for c in json.loads((base / "cases.json").read_text()):
        if c["kind"] in ("xml2xml", "xml2conf", "xml2firewall") and not c["expect_fail"]:
            files.add(c["input"])
        if c["kind"] == "update":
            files.add(c["flags"]["network_xml"])
            if c["expected"]:
                files.add(c["expected"])
    return sorted(files)


@pytest.fixture(scope="module")
def relaxng(conformance: Path) -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(conformance / "src/conf/schemas/network.rng")))


@pytest.mark.parametrize("rel", _inputs())
@pytest.mark.parametrize("inactive", [False, True], ids=["active", "inactive"])
def test_formatted_xml_is_schema_valid(conformance: Path, relaxng: etree.RelaxNG, rel: str,
                                       inactive: bool) -> None:
    net = parse_network((conformance / rel).read_text())
    doc = etree.fromstring(format_network(net, inactive=inactive).encode())
    assert relaxng.validate(doc), relaxng.error_log.last_error


def test_corpus_covers_the_three_kinds(conformance: Path) -> None:
    rels = _inputs()
    assert any("networkxml2xmlin" in r for r in rels)
    assert any("networkxml2confdata" in r for r in rels)
    assert any("networkxml2xmlupdateout" in r for r in rels)


def test_supplement_inputs_never_reach_the_formatter(conformance: Path) -> None:
    for path in (conformance / "supplement").rglob("networkxml2confdata/*.xml"):
        with pytest.raises(XMLParseError, match="line break"):
            parse_network(path.read_text())
