"""libvirt 11.3.0 virnetworkportxml2xmltest cases: ``<networkport>`` parse + format round trip.

Cases come from the conformance corpus (read in place).  Each must come back byte-identical,
and what kvmnet formats must be valid against libvirt's networkport.rng (also loaded in place).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from kvmnet.xmlio.port import format_port, parse_port
from tests.conformance import load_cases, read_unwrapped

CASES = load_cases("port")


@pytest.fixture(scope="module")
def relaxng(conformance: Path) -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(conformance / "src/conf/schemas/networkport.rng")))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_port_roundtrip(conformance: Path, case: dict[str, Any]) -> None:
    assert not case["expect_fail"]
    data = (conformance / case["input"]).read_text()
    expected = read_unwrapped(conformance / case["expected"])
    actual = format_port(parse_port(data))
    assert actual == expected


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_port_output_is_schema_valid(conformance: Path, relaxng: etree.RelaxNG,
                                     case: dict[str, Any]) -> None:
    port = parse_port((conformance / case["input"]).read_text())
    doc = etree.fromstring(format_port(port).encode())
    assert relaxng.validate(doc), relaxng.error_log.last_error


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_port_reparse_is_stable(conformance: Path, case: dict[str, Any]) -> None:
    once = parse_port((conformance / case["input"]).read_text())
    assert parse_port(format_port(once)) == once


def test_corpus_has_the_port_cases(conformance: Path) -> None:
    names = {c["name"] for c in CASES}
    assert {"plug-none", "plug-network", "plug-bridge", "plug-direct",
            "plug-hostdev-pci"} <= names
    for c in CASES:
        assert c["flags"].get("schema") == "src/conf/schemas/networkport.rng"
