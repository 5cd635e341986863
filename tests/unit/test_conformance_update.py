"""libvirt's networkxml2xmlupdatetest cases, run at the pure level.

For each ``update`` case in cases.json: parse the base network, apply the
update with the *effective* parent index (MANIFEST.md 4.4: the C driver swaps
two struct fields, so the effective index is always 0 and the effective format
flags carry INACTIVE), format, and compare with the expected file.  The
structural test compares elements, attributes, text and order; the text test
compares the exact bytes, as libvirt's own test does.  Expected failures must
raise a KvmnetError from the update (or the format).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from kvmnet.config.update import apply_update
from kvmnet.errors import KvmnetError
from kvmnet.xmlio.network import format_network, parse_network
from tests.conformance import load_cases, read_unwrapped

CASES = load_cases("update")
SUCCESS = [c for c in CASES if not c["expect_fail"]]
FAILURE = [c for c in CASES if c["expect_fail"]]


def _run(base: Path, case: dict[str, Any]) -> str:
    flags = case["flags"]
    net = parse_network((base / flags["network_xml"]).read_bytes())
    fragment = read_unwrapped(base / flags["update_xml"])
    out = apply_update(net, flags["command"], flags["section"], fragment,
                       parent_index=flags["parent_index_effective"])
    return format_network(out, inactive=flags["inactive_effective"])


def _shape(el: etree._Element) -> tuple[object, ...]:
    """Elements, attributes, text and child order; whitespace-only text counts as none."""
    text = (el.text or "").strip()
    attrs = {str(k): str(v) for k, v in el.attrib.items()}
    return (el.tag, attrs, text,
            tuple(_shape(c) for c in el if isinstance(c.tag, str)))


def _xml(text: str) -> etree._Element:
    return etree.fromstring(text.encode())


@pytest.mark.parametrize("case", SUCCESS, ids=[c["id"] for c in SUCCESS])
def test_update_case_structure(conformance: Path, case: dict[str, Any]) -> None:
    actual = _run(conformance, case)
    expected = read_unwrapped(conformance / case["expected"])
    assert _shape(_xml(actual)) == _shape(_xml(expected))


@pytest.mark.parametrize("case", SUCCESS, ids=[c["id"] for c in SUCCESS])
def test_update_case_exact_text(conformance: Path, case: dict[str, Any]) -> None:
    actual = _run(conformance, case)
    if not actual.endswith("\n"):
        actual += "\n"
    assert actual == read_unwrapped(conformance / case["expected"])


@pytest.mark.parametrize("case", FAILURE, ids=[c["id"] for c in FAILURE])
def test_update_case_fails(conformance: Path, case: dict[str, Any]) -> None:
    flags = case["flags"]
    # the base networks are valid: only the update itself may fail
    net = parse_network((conformance / flags["network_xml"]).read_bytes())
    fragment = read_unwrapped(conformance / flags["update_xml"])
    with pytest.raises(KvmnetError):
        out = apply_update(net, flags["command"], flags["section"], fragment,
                           parent_index=flags["parent_index_effective"])
        format_network(out, inactive=flags["inactive_effective"])
