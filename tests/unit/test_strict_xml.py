"""Unknown elements and attributes (issue 11.4): ``--validate`` refuses them, naming each with
its path; without it they are ignored, as libvirt ignores them, with one warning each.

What the parsers know is what they read (kvmnet.xmlio.strict); libvirt's own schemas and
test documents, read in place from the conformance corpus, check that this knowledge covers
everything libvirt's format allows."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from kvmnet.api import VIR_NETWORK_CREATE_VALIDATE, VIR_NETWORK_DEFINE_VALIDATE, Connection
from kvmnet.cli.main import main
from kvmnet.errors import VIR_ERR_XML_INVALID_SCHEMA, SchemaError
from kvmnet.xmlio import strict
from kvmnet.xmlio.expat_tree import parse_tree, split_tag
from kvmnet.xmlio.interface import interface_from_element, parse_interface
from kvmnet.xmlio.network import network_from_element, parse_network
from kvmnet.xmlio.safe import parse_document
from tests.conformance import conformance_dir

REPO = Path(__file__).resolve().parents[2]

TYPO = """<network>
  <name>typo</name>
  <forwad mode='nat'/>
  <ip adress='10.1.0.9' address='10.1.0.1' prefix='24'>
    <dhcp><rnage start='10.1.0.2' end='10.1.0.9'/></dhcp>
  </ip>
</network>
"""
TYPO_PATHS = ["/network/forwad", "/network/ip/@adress", "/network/ip/dhcp/rnage"]

IFACE_TYPO = """<interface type='ethernet' name='eth9'>
  <strat mode='onboot'/>
  <mac adress='52:54:00:00:00:09'/>
</interface>
"""


@pytest.fixture(autouse=True)
def _never_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """net-create starts networks in the namespace it runs in (the machine's own, here): were
    a refusal below to regress, the test must fail, not change the host."""
    def no_start(self: Connection) -> None:
        raise AssertionError("a network was about to start")

    monkeypatch.setattr(Connection, "manager", no_start)


def unknown_network(text: str) -> list[str]:
    found: list[str] = []
    parse_network(text, unknown=found)
    return found


def run_cli(args: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(args, stdout=out, stderr=err, stdin=io.StringIO(stdin))
    return status, out.getvalue(), err.getvalue()


# -- what counts as unknown -------------------------------------------------------------------
def test_misspellings_are_found_with_their_paths() -> None:
    assert unknown_network(TYPO) == TYPO_PATHS


@pytest.mark.parametrize("fragment, path", [
    ("<name foo='1'>x</name>", "/network/name/@foo"),
    ("<bridge name='virbr9' stpp='on'/>", "/network/bridge/@stpp"),
    ("<dns><hots ip='10.0.0.1'/></dns>", "/network/dns/hots"),
    ("<dns><host ip='10.0.0.1'><hostname>a</hostname><hostnme>b</hostnme></host></dns>",
     "/network/dns/host/hostnme"),
    ("<ip address='10.0.0.1' prefix='24'/><ip address='10.1.0.1' prefix='24' x='1'/>",
     "/network/ip[2]/@x"),
    ("<foo:bar xmlns:foo='urn:foo'/>", "/network/foo:bar"),
    (("<dnsmasq:options xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>"
      "<dnsmasq:opton value='x'/></dnsmasq:options>"), "/network/dnsmasq:options/dnsmasq:opton"),
    ("<portgroup name='a'><vlna/></portgroup>", "/network/portgroup/vlna"),
])
def test_each_kind_of_unknown(fragment: str, path: str) -> None:
    assert unknown_network(f"<network><name>n</name>{fragment}</network>".replace(
        "<network><name>n</name><name", "<network><name")) == [path]


def test_what_libvirt_allows_is_known() -> None:
    text = ("<network connections='3' xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>"
            "<name>n</name><metadata><a:x xmlns:a='urn:a'><anything y='1'/></a:x></metadata>"
            "<forward mode='hostdev' managed='yes'><driver name='vfio'/>"
            "<address type='pci' domain='0' bus='1' slot='2' function='0' connections='1' "
            "multifunction='on'/></forward><!-- a comment --><?pi x?>"
            "<dnsmasq:options><dnsmasq:option value='x'/></dnsmasq:options></network>")
    assert unknown_network(text) == []


def test_skipped_elements_count_as_known() -> None:
    # libvirt ignores <bootp> in an IPv6 <ip>; so does the parser, and nothing in it is unknown
    text = ("<network><name>n</name><ip family='ipv6' address='fd00::1' prefix='64'><dhcp>"
            "<range start='fd00::2' end='fd00::9'/><bootp file='x' whatever='1'/></dhcp></ip>"
            "</network>")
    assert unknown_network(text) == []


# -- API ----------------------------------------------------------------------------------------
def test_api_validate_flag_refuses_everything_at_once(tmp_path: Path) -> None:
    conn = Connection(tmp_path)
    with pytest.raises(SchemaError) as exc:
        conn.networkDefineXMLFlags(TYPO, VIR_NETWORK_DEFINE_VALIDATE)
    assert exc.value.get_error_code() == VIR_ERR_XML_INVALID_SCHEMA
    assert len(exc.value.problems) == 3
    assert all(p in str(exc.value) for p in TYPO_PATHS)
    assert "\n" not in str(exc.value)
    assert conn.listDefinedNetworks() == []
    with pytest.raises(SchemaError):  # before anything starts
        conn.networkCreateXMLFlags(TYPO, VIR_NETWORK_CREATE_VALIDATE)


def test_api_without_flag_defines_and_warns(tmp_path: Path) -> None:
    conn = Connection(tmp_path)
    heard: list[str] = []
    conn.warn = heard.append
    net = conn.networkDefineXML(TYPO)
    assert net.name() == "typo" and "<forward" not in net.XMLDesc()  # libvirt's behaviour
    assert [p for p in TYPO_PATHS if any(p in h for h in heard)] == TYPO_PATHS
    assert len(heard) == 3


# -- CLI ----------------------------------------------------------------------------------------
@pytest.fixture()
def typo(tmp_path: Path) -> Path:
    f = tmp_path / "typo.xml"
    f.write_text(TYPO)
    return f


def test_define_validate_refuses(tmp_path: Path, typo: Path) -> None:
    root = tmp_path / "r"
    status, out, err = run_cli(["--root", str(root), "net-define", "--validate", str(typo)])
    assert status == 1 and "defined" not in out
    assert err.count("\n") == 1 and err.startswith("error: network XML does not validate: 3 "
                                                   "problems: unknown element <forwad> at "
                                                   "/network/forwad; ")
    assert not (root / "etc/kvmnet/networks/typo.xml").exists()


@pytest.mark.parametrize("verb", ["net-define", "net-validate"])
def test_without_validate_a_warning_per_item(tmp_path: Path, typo: Path, verb: str) -> None:
    status, _out, err = run_cli(["--root", str(tmp_path / "r"), verb, str(typo)])
    assert status == 0
    lines = err.splitlines()
    assert len(lines) == 3 and all(line.startswith("warning: network XML: ignoring ")
                                   for line in lines)
    assert [p for p, line in zip(TYPO_PATHS, lines, strict=True) if p in line] == TYPO_PATHS


def test_failure_names_what_was_ignored_in_its_one_line(tmp_path: Path) -> None:
    """Without --validate, when the document fails anyway, what was ignored (often the cause)
    is part of the one error line instead of warnings before it."""
    f = tmp_path / "bad.xml"
    f.write_text(TYPO.replace("10.1.0.9'/>", "10.9.0.9'/>").replace("<rnage", "<range"))
    status, _out, err = run_cli(["--root", str(tmp_path / "r"), "net-define", str(f)])
    assert status == 1 and err.count("\n") == 1 and err.startswith("error: ")
    assert err.rstrip().endswith("(ignored as unknown: /network/forwad, /network/ip/@adress; "
                                 "a misspelling?)")


def test_create_validate_refuses_before_starting(tmp_path: Path, typo: Path) -> None:
    status, _out, err = run_cli(["--root", str(tmp_path / "r"), "net-create", "--validate",
                                 str(typo)])
    assert status == 1 and "does not validate" in err and err.count("\n") == 1


def test_plain_define_fast_path_warns(tmp_path: Path, typo: Path) -> None:
    """``kvmnet net-define FILE`` skips argparse (kvmnet.cli.entry): it warns all the same."""
    env = dict(os.environ, KVMNET_ROOT=str(tmp_path / "r"))
    p = subprocess.run([sys.executable, "-m", "kvmnet", "net-define", str(typo)], env=env,
                       capture_output=True, text=True, cwd=REPO, timeout=60, check=False)
    assert p.returncode == 0, p.stderr
    assert [line.split(" at ")[1].split(",")[0] for line in p.stderr.splitlines()] == TYPO_PATHS
    p = subprocess.run([sys.executable, "-m", "kvmnet", "net-define", "--validate", str(typo)],
                       env=env, capture_output=True, text=True, cwd=REPO, timeout=60,
                       check=False)
    assert p.returncode == 1 and p.stderr.count("\n") == 1


def test_iface_define_validate(tmp_path: Path) -> None:
    f = tmp_path / "eth9.xml"
    f.write_text(IFACE_TYPO)
    root = str(tmp_path / "r")
    status, _out, err = run_cli(["--root", root, "iface-define", "--validate", str(f)])
    assert status == 1 and err.count("\n") == 1
    assert "/interface/strat" in err and "/interface/mac/@adress" in err
    status, _out, err = run_cli(["--root", root, "iface-define", str(f)])
    assert status == 0
    assert [line[:40] for line in err.splitlines()] == ["warning: interface XML: ignoring unknown"] * 2
    found: list[str] = []
    parse_interface(IFACE_TYPO, unknown=found)
    assert found == ["/interface/strat", "/interface/mac/@adress"]


# -- libvirt's corpus and schemas ---------------------------------------------------------------
def _schema_cases(schema: str) -> list[tuple[str, bool | None]]:
    base = conformance_dir()
    if base is None:
        return []
    checks = json.loads((base / "schema-checks.json").read_text())
    return [(c["file"], c["expect_valid"]) for c in checks if c["schema"].endswith(schema)]


NETWORK_DOCS = [f for f, valid in _schema_cases("/network.rng") if valid]
IFACE_DOCS = [f for f, valid in _schema_cases("/interface.rng") if valid]


def _corpus(rel: str) -> bytes:
    base = conformance_dir()
    if base is None:
        pytest.skip("libvirt conformance corpus not found beside the repository")
    return (base / rel).read_bytes()


@pytest.mark.parametrize("rel", NETWORK_DOCS or ["(corpus missing)"])
def test_libvirt_valid_networks_pass_validate(rel: str, tmp_path: Path) -> None:
    """Every network document libvirt's schema accepts passes --validate (114 in 11.3.0)."""
    data = _corpus(rel)
    assert unknown_network(data.decode()) == []
    # and a misspelling added to it is caught, at its path
    root = parse_document(data)
    root.set("bogusAttr", "1")
    etree.SubElement(root, "forwad")
    found = unknown_network(etree.tostring(root).decode())
    assert found == ["/network/@bogusAttr", "/network/forwad"]


@pytest.mark.parametrize("rel", IFACE_DOCS or ["(corpus missing)"])
def test_libvirt_valid_interfaces_pass_validate(rel: str) -> None:
    data = _corpus(rel)
    found: list[str] = []
    parse_interface(data, unknown=found)
    assert found == []


def test_corpus_counts() -> None:
    if conformance_dir() is None:
        pytest.skip("libvirt conformance corpus not found beside the repository")
    assert len(NETWORK_DOCS) >= 100 and len(IFACE_DOCS) >= 19


# Documents with what the corpus leaves out, so that every pair in the schema is exercised.
EXTRA_NETWORKS = [
    ("<network><name>b</name><bandwidth><inbound average='1' peak='2' burst='3'/>"
     "<outbound average='1' peak='2' burst='3'/></bandwidth><port isolated='yes'/></network>"),
    ("<network><name>h</name><forward mode='hostdev'><driver name='vfio' model='x'/>"
     "<address type='pci' domain='0' bus='1' slot='0' function='1'/></forward></network>"),
]

RNG = "{http://relaxng.org/ns/structure/1.0}"


def _schema_pairs(schema: str) -> set[tuple[str, str]]:
    """``(element, child)`` and ``(element, @attribute)`` pairs a RelaxNG schema allows,
    by element name (defines and includes followed; anyName patterns skipped)."""
    base = conformance_dir()
    assert base is not None
    defines: dict[str, list[etree._Element]] = {}

    def load(name: str, seen: set[str]) -> etree._ElementTree:
        seen.add(name)
        doc = etree.parse(str(base / "src/conf/schemas" / name))
        for inc in doc.iter(f"{RNG}include"):
            if inc.get("href") not in seen:
                load(str(inc.get("href")), seen)
        for d in doc.iter(f"{RNG}define"):
            defines.setdefault(str(d.get("name")), []).append(d)
        return doc

    doc = load(schema, set())
    out: set[tuple[str, str]] = set()

    def walk(node: etree._Element, parent: str, trail: frozenset[tuple[str, str]]) -> None:
        for ch in node:
            if not isinstance(ch.tag, str) or not ch.tag.startswith(RNG):
                continue
            kind, name = ch.tag[len(RNG):], ch.get("name")
            if kind == "element" and name:
                out.add((parent, name))
                if ("element", name) not in trail:
                    walk(ch, name, trail | {("element", name)})
            elif kind == "attribute" and name:
                out.add((parent, f"@{name}"))
            elif kind == "ref" and name and (name, parent) not in trail:
                for d in defines.get(name, []):
                    walk(d, parent, trail | {(name, parent)})
            elif kind not in ("element", "attribute", "ref"):
                walk(ch, parent, trail)

    walk(next(doc.iter(f"{RNG}start")), "", frozenset())
    return {(p, c) for p, c in out if p}


def _known_pairs(docs: list[bytes], build: object, read: object = parse_document) -> set[tuple[str, str]]:
    known: set[tuple[str, str]] = set()
    for data in docs:
        root = read(data)  # type: ignore[operator]
        with strict.reading() as rec:
            build(root)  # type: ignore[operator]
        for el, keys in rec.asked.items():
            tag = split_tag(str(el.tag))[1]
            known |= {(tag, k if k.startswith("@") else split_tag(k)[1]) for k in keys}
    return known


def test_parser_knows_everything_network_rng_allows() -> None:
    if conformance_dir() is None:
        pytest.skip("libvirt conformance corpus not found beside the repository")
    docs = [_corpus(rel) for rel in NETWORK_DOCS] + [d.encode() for d in EXTRA_NETWORKS]
    # network documents are read by their own reader (expat's tree)
    missing = _schema_pairs("network.rng") - _known_pairs(docs, network_from_element, parse_tree)
    assert sorted(missing) == []


def test_parser_knows_everything_interface_rng_allows() -> None:
    if conformance_dir() is None:
        pytest.skip("libvirt conformance corpus not found beside the repository")
    docs = [_corpus(rel) for rel in IFACE_DOCS]
    missing = _schema_pairs("interface.rng") - _known_pairs(docs, interface_from_element)
    assert sorted(missing) == []


@pytest.mark.parametrize("rel", NETWORK_DOCS or ["(corpus missing)"])
def test_what_kvmnet_writes_passes_validate(rel: str) -> None:
    """net-edit validates: the document kvmnet formats must read back with nothing unknown
    (a new element kvmnet writes needs its parser to read it through xmlio.values)."""
    from kvmnet.xmlio.network import format_network

    net = parse_network(_corpus(rel))
    for inactive in (True, False):
        assert unknown_network(format_network(net, inactive=inactive)) == []


@pytest.mark.parametrize("rel", IFACE_DOCS or ["(corpus missing)"])
def test_what_kvmnet_writes_for_interfaces_passes_validate(rel: str) -> None:
    from kvmnet.xmlio.interface import format_interface

    found: list[str] = []
    parse_interface(format_interface(parse_interface(_corpus(rel))), unknown=found)
    assert found == []
