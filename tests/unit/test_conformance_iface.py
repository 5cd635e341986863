"""libvirt's interfacexml2xmltest cases: parse + format must give the input back, byte for byte.

MANIFEST 4.5: the expected text is the input loaded with backslash-newline unwrapping, and
there is no trailing-newline fix-up.  Both the input and our output must be valid against
src/conf/schemas/interface.rng (read in place with lxml's RelaxNG).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from kvmnet.xmlio.interface import format_interface, parse_interface
from tests.conformance import load_cases, read_unwrapped

CASES = load_cases("iface-schema")


@pytest.fixture(scope="module")
def relaxng(conformance: Path) -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(conformance / "src/conf/schemas/interface.rng")))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_round_trip_is_identical(conformance: Path, case: dict[str, Any]) -> None:
    assert not case["expect_fail"]
    text = read_unwrapped(conformance / case["input"])
    expected = read_unwrapped(conformance / case["expected"])
    for _ in range(case["flags"].get("runs", 1)):
        assert format_interface(parse_interface(text)) == expected


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_output_is_schema_valid(conformance: Path, relaxng: etree.RelaxNG,
                                case: dict[str, Any]) -> None:
    out = format_interface(parse_interface(read_unwrapped(conformance / case["input"])))
    assert relaxng.validate(etree.fromstring(out.encode())), relaxng.error_log.last_error


def test_all_public_cases_are_here(conformance: Path) -> None:
    names = {c["name"] for c in CASES}
    assert len(names) == 19
    assert {"bridge-vlan", "bond-arp", "ipv6-static-multi", "ethernet-dhcp"} <= names
    assert sum(c["flags"].get("runs", 1) for c in CASES) == 20  # bridge-no-address runs twice
