"""libvirt's nodedevxml2xmltest cases: parse + format gives libvirt's output, byte for byte.

MANIFEST 4.6: ``virNodeDeviceDefParse`` then ``virNodeDeviceDefFormat`` (INACTIVE for the six
``*_inactive`` cases).  The test's storage fix-up (block size and count from the size) is
already in the inputs, which kvmnet reads as they are.  Every input and every output must be
valid against src/conf/schemas/nodedev.rng (read in place with lxml's RelaxNG), and the three
``-invalid`` inputs must not be.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from kvmnet.xmlio.nodedev_format import format_nodedev
from kvmnet.xmlio.nodedev_parse import parse_nodedev
from tests.conformance import load_cases, read_unwrapped

CASES = load_cases("nodedev")


@pytest.fixture(scope="module")
def relaxng(conformance: Path) -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(conformance / "src/conf/schemas/nodedev.rng")))


def _inactive(case: dict[str, Any]) -> bool:
    return "VIR_NODE_DEVICE_XML_INACTIVE" in case["flags"]["format_flags"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_round_trip_is_libvirts(conformance: Path, case: dict[str, Any]) -> None:
    dev = parse_nodedev(read_unwrapped(conformance / case["input"]))
    expected = read_unwrapped(conformance / case["expected"])
    assert format_nodedev(dev, inactive=_inactive(case)) == expected
    # and libvirt's output is a fixed point
    assert format_nodedev(parse_nodedev(expected), inactive=_inactive(case)) == expected


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_output_is_schema_valid(conformance: Path, relaxng: etree.RelaxNG,
                                case: dict[str, Any]) -> None:
    out = format_nodedev(parse_nodedev(read_unwrapped(conformance / case["input"])),
                         inactive=_inactive(case))
    assert relaxng.validate(etree.fromstring(out.encode())), relaxng.error_log.last_error


def test_schema_agrees_on_the_corpus_files(conformance: Path, relaxng: etree.RelaxNG) -> None:
    """The schema check itself works: every file validates but the three '-invalid' ones."""
    files = sorted((conformance / "tests/nodedevschemadata").glob("*.xml"))
    verdicts = {f.name: relaxng.validate(etree.parse(str(f))) for f in files}
    assert sorted(n for n, ok in verdicts.items() if not ok) == [
        "ccw_0_0_10000-invalid.xml", "css_0_0_10000-invalid.xml",
        "css_0_0_ffff_channel_dev_addr-invalid.xml"]


def test_schema_only_files_round_trip_valid(conformance: Path, relaxng: etree.RelaxNG) -> None:
    for name in ("pci_82579LM_network_adapter.xml", "mdev_cc000052_9b13_9b13_9b13_cc23009b1326.xml"):
        out = format_nodedev(parse_nodedev((conformance / "tests/nodedevschemadata" / name)
                                           .read_text()))
        assert relaxng.validate(etree.fromstring(out.encode())), (name, out)


def test_all_54_cases_are_here(conformance: Path) -> None:
    assert len(CASES) == 54
    assert sum(_inactive(c) for c in CASES) == 6
