"""libvirt's networkxml2conftest, replayed: XML -> dnsmasq conf + dhcp-hostsfile.

Each ``xml2conf`` case in cases.json is parsed with kvmnet's own parser and
rendered with libvirt's test settings (config dir /var/lib/libvirt/dnsmasq, no
pid file, no run-time keys).  The conf is compared option by option (comment
lines dropped) and then as full text; the hostsfile must be identical, or
absent when libvirt's test has no ``.hostsfile``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conformance import load_cases, read_unwrapped

CASES = load_cases("xml2conf")


def _expected_text(path: Path) -> str:
    # virTestCompareToFile: unwrapped expectation, actual gets a final newline if missing
    return read_unwrapped(path)


def _options(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_xml2conf(case: dict[str, Any], conformance: Path) -> None:
    network_mod = pytest.importorskip("kvmnet.xmlio.network", reason="network XML parser not available")
    from kvmnet.network.dnsmasq import render_dnsmasq

    assert not case["expect_fail"], "no xml2conf case is expected to fail"
    flags = case["flags"]
    data = (conformance / case["input"]).read_text()
    net = network_mod.parse_network(data)
    files = render_dnsmasq(net, config_dir=flags["config_dir"], pid_file=flags["pidfile"])

    conf = files.conf if files.conf.endswith("\n") else files.conf + "\n"
    expected = _expected_text(conformance / case["expected"])
    assert _options(conf) == _options(expected), "dnsmasq option lines differ"
    assert conf == expected, "option lines match but the full text (comments) differs"

    hostsfile = conformance / case["expected"].replace(".conf", ".hostsfile")
    if flags.get("expected_hostsfile") is not None:
        hostsfile = conformance / flags["expected_hostsfile"]
    if hostsfile.is_file():
        assert files.hostsfile is not None, "libvirt writes dhcp hosts but the render has none"
        actual = files.hostsfile if files.hostsfile.endswith("\n") else files.hostsfile + "\n"
        assert actual == _expected_text(hostsfile)
    else:
        assert files.hostsfile is None, "no hostsfile expected but the render produced one"


SUPPLEMENT = [c for c in load_cases("xml2xml") if c["flags"].get("supplement") == "CVE-2026-61477"]


@pytest.mark.parametrize("case", SUPPLEMENT, ids=[c["id"] for c in SUPPLEMENT])
def test_line_break_never_reaches_conf(case: dict[str, Any], conformance: Path) -> None:
    """CVE-2026-61477 inputs: the parser or, failing that, the renderer must refuse."""
    network_mod = pytest.importorskip("kvmnet.xmlio.network", reason="network XML parser not available")
    from kvmnet.errors import KvmnetError, ValidationError
    from kvmnet.network.dnsmasq import render_dnsmasq

    data = (conformance / case["input"]).read_text()
    try:
        net = network_mod.parse_network(data)
    except KvmnetError:
        return  # rejected at parse time, as patched libvirt does
    with pytest.raises(ValidationError, match="inject"):
        render_dnsmasq(net, config_dir="/var/lib/libvirt/dnsmasq")
