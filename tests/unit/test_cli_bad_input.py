"""Hostile and broken input through the real CLI: one ``error:`` line, exit 1, no
traceback, and no change at all to the stored state."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kvmnet.fileio import FileLock
from tests.conformance import conformance_dir

REPO = Path(__file__).resolve().parents[2]
BASE_UUID = "5b1f7e0a-61a4-4c1e-9f0b-3d7a2c9e4b10"

BASE = f"""<network>
  <name>base</name>
  <uuid>{BASE_UUID}</uuid>
  <forward mode='nat'/>
  <bridge name='virbr0'/>
  <dns>
    <txt name='example' value='ok'/>
  </dns>
  <ip address='192.168.100.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.100.2' end='192.168.100.254'/>
    </dhcp>
  </ip>
</network>
"""


def net(name: str = "other", *, forward: str = "<forward mode='nat'/>", bridge: str = "",
        dhcp: str = "<range start='192.168.50.2' end='192.168.50.254'/>", uuid: str = "",
        extra: str = "") -> str:
    return (f"<network><name>{name}</name>{uuid}{forward}{bridge}{extra}"
            f"<ip address='192.168.50.1' netmask='255.255.255.0'><dhcp>{dhcp}</dhcp></ip>"
            "</network>\n")


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<network><name>&lol9;</name></network>
"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE network [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<network><name>&xxe;</name><forward mode='nat'/></network>
"""

HOST = "<host mac='00:16:3e:00:00:{m}' ip='{ip}'/>"
DEFINE_CASES: dict[str, str | bytes] = {
    "malformed": "<network><name>broken</name><forward mode='nat'>",
    "not-xml": "this is not xml at all\n",
    "empty": "",
    "wrong-root": "<domain><name>x</name></domain>",
    "billion-laughs": BILLION_LAUGHS,
    "xxe": XXE,
    "nul-byte": b"<network><name>a\x00b</name></network>",
    "nul-charref": net("a&#0;b"),
    "bad-utf8": b"<network><name>\xff\xfe</name></network>",
    "name-slash": net("a/b"),
    "name-dotdot": net(".."),
    "name-dot": net("."),
    "name-hidden": net(".hidden"),
    "name-newline": net("a&#10;b"),
    "name-cr": net("a&#13;b"),
    "name-empty": net(""),
    "name-missing": "<network><forward mode='nat'/></network>",
    "name-too-long": net("n" * 300),
    "forward-mode-unknown": net(forward="<forward mode='bogus'/>"),
    "range-outside-subnet": net(dhcp="<range start='10.0.0.2' end='10.0.0.254'/>"),
    "range-reversed": net(dhcp="<range start='192.168.50.254' end='192.168.50.2'/>"),
    "range-overlap": net(dhcp="<range start='192.168.50.2' end='192.168.50.100'/>"
                              "<range start='192.168.50.50' end='192.168.50.150'/>"),
    "host-outside-subnet": net(dhcp=HOST.format(m="01", ip="10.0.0.5")),
    "host-duplicate-mac": net(dhcp=HOST.format(m="01", ip="192.168.50.10")
                              + HOST.format(m="01", ip="192.168.50.11")),
    "host-duplicate-ip": net(dhcp=HOST.format(m="01", ip="192.168.50.10")
                             + HOST.format(m="02", ip="192.168.50.10")),
    "bridge-name-too-long": net(bridge="<bridge name='averyveryverylongbridge'/>"),
    "bridge-name-template-too-long": net(bridge="<bridge name='averyverylongbr%d'/>"),
    "conflict-name-other-uuid": net("base", uuid="<uuid>5b1f7e0a-61a4-4c1e-9f0b-3d7a2c9e4b11</uuid>"),
    "conflict-uuid-other-name": net("twin", uuid=f"<uuid>{BASE_UUID}</uuid>"),
    "conflict-bridge": net(bridge="<bridge name='virbr0'/>"),
    "bad-uuid": net(uuid="<uuid>not-a-uuid</uuid>"),
    "bad-mac": net(extra="<mac address='zz:54:00:00:00:01'/>"),
    "txt-newline-inline": net(extra="<dns><txt name='t' value='a&#10;dhcp-script=/x'/></dns>"),
}


def _supplement(rel: str) -> Path | None:
    base = conformance_dir()
    path = base / "supplement/cve-2026-61477/tests" / rel if base else None
    return path if path is not None and path.is_file() else None


SUPPLEMENT_NETWORKS = [
    "networkxml2confdata/nat-network-dns-txt-record-newline.xml",
    "networkxml2confdata/nat-network-dns-srv-record-domain-newline.xml",
    "networkxml2confdata/nat-network-dns-srv-record-target-newline.xml",
]


def snapshot(root: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file() and path.name != ".lock":
            out[rel] = path.read_bytes()
        elif path.is_dir():
            out[rel] = "dir"
    return out


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KVMNET_ROOT=str(root))
    return subprocess.run([sys.executable, "-m", "kvmnet", *args], env=env, capture_output=True,
                          text=True, timeout=120, cwd=REPO, errors="replace", check=False)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad-input") / "root"
    base = root.parent / "base.xml"
    base.write_text(BASE)
    p = run(root, "net-define", str(base))
    assert p.returncode == 0, p.stderr
    p = run(root, "net-autostart", "base")
    assert p.returncode == 0, p.stderr
    # net-define's start program is written after its reply, by a child holding the cache's
    # lock (kvmnet.tasks.afterwards): let it finish before any test takes a snapshot
    with FileLock(root / "var/lib/kvmnet/programs/base.json.lock"):
        assert (root / "var/lib/kvmnet/programs/base.json").is_file()
    return root


def assert_clean_failure(p: subprocess.CompletedProcess[str]) -> None:
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout
    error_lines = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, p.stderr
    assert p.stderr.startswith("error: ")
    assert p.stderr.count("\n") == 1 and len(p.stderr.splitlines()) == 1, p.stderr
    assert "internal error" not in p.stderr, p.stderr
    assert "defined from" not in p.stdout


@pytest.mark.parametrize("case", sorted(DEFINE_CASES))
def test_define_rejects_without_changing_state(root: Path, tmp_path: Path, case: str) -> None:
    data = DEFINE_CASES[case]
    f = tmp_path / f"{case}.xml"
    f.write_bytes(data if isinstance(data, bytes) else data.encode())
    before = snapshot(root)
    p = run(root, "net-define", str(f))
    assert_clean_failure(p)
    assert snapshot(root) == before
    # net-validate agrees, except for what only define can know (conflicts, templates)
    if not case.startswith("conflict-") and case != "bridge-name-template-too-long":
        assert_clean_failure(run(root, "net-validate", str(f)))
    assert snapshot(root) == before


def test_ten_megabyte_file(root: Path, tmp_path: Path) -> None:
    f = tmp_path / "big.xml"
    with open(f, "wb") as fh:
        fh.write(b"<network><name>big</name><description>")
        fh.write(b"a" * (10 * 1024 * 1024))
        fh.write(b"</description></network>\n")
    before = snapshot(root)
    p = run(root, "net-define", str(f))
    assert_clean_failure(p)
    assert "bytes" in p.stderr
    assert snapshot(root) == before


@pytest.mark.parametrize("rel", SUPPLEMENT_NETWORKS)
def test_cve_line_breaks_in_dns_records(root: Path, rel: str) -> None:
    path = _supplement(rel)
    if path is None:
        pytest.skip("conformance supplement not available")
    before = snapshot(root)
    assert_clean_failure(run(root, "net-define", str(path)))
    assert snapshot(root) == before


UPDATE_CASES = [
    ("add", "dns-txt", "<txt name='x' value='a&#10;dhcp-script=/x'/>"),
    ("add", "dns-txt", "<txt name='x' value='a"),
    ("add", "dns-txt", "<!DOCTYPE t [<!ENTITY e 'x'>]><txt name='&e;' value='v'/>"),
    ("add", "ip-dhcp-host", "<host mac='00:16:3e:00:00:01' ip='10.9.9.9'/>"),
    ("add", "ip-dhcp-range", "<range start='192.168.100.200' end='192.168.100.20'/>"),
    ("delete", "ip-dhcp-host", "<host mac='00:16:3e:00:00:99' ip='192.168.100.99'/>"),
    ("modify", "dns-txt", "<txt name='nosuch' value='v'/>"),
    ("add", "bridge", "<bridge name='virbr9'/>"),
    ("add", "dns-srv", "<srv service='ldap' protocol='tcp' target='a&#13;b'/>"),
]


@pytest.mark.parametrize("command,section,frag", UPDATE_CASES)
def test_update_rejects_without_changing_state(root: Path, command: str, section: str,
                                                frag: str) -> None:
    before = snapshot(root)
    assert_clean_failure(run(root, "net-update", "base", command, section, frag, "--config"))
    assert snapshot(root) == before


@pytest.mark.parametrize("rel", ["networkxml2xmlupdatein/dns-txt-record-newline.xml",
                                 "networkxml2xmlupdatein/srv-record-target-newline.xml"])
def test_update_cve_fragments(root: Path, rel: str) -> None:
    path = _supplement(rel)
    if path is None:
        pytest.skip("conformance supplement not available")
    section = "dns-txt" if "txt" in rel else "dns-srv"
    before = snapshot(root)
    for command in ("add-first", "add-last", "modify"):
        assert_clean_failure(run(root, "net-update", "base", command, section, str(path),
                                 "--config"))
    assert snapshot(root) == before


@pytest.mark.parametrize("args", [
    ["net-define", "/nonexistent/file.xml"],
    ["net-define", "/"],
    ["net-info", "../../etc/passwd"],
    ["net-dumpxml", "a/b"],
    ["net-undefine", ".."],
    ["net-autostart", "missing"],
    ["net-update", "missing", "add", "ip-dhcp-host", "<host/>"],
    ["net-update", "base", "add", "ip-dhcp-host", "/nonexistent/fragment.xml"],
    ["net-name", "not-a-uuid"],
])
def test_bad_arguments(root: Path, args: list[str]) -> None:
    before = snapshot(root)
    assert_clean_failure(run(root, *args))
    assert snapshot(root) == before


def test_unreadable_store_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    root = tmp_path / "root"
    d = root / "etc/kvmnet/networks"
    d.mkdir(parents=True)
    (d / "junk.xml").write_text("<network><name>junk")
    p = run(root, "net-list", "--all")  # the table needs no parsing
    assert p.returncode == 0 and " junk " in p.stdout
    assert_clean_failure(run(root, "net-dumpxml", "junk"))
    assert_clean_failure(run(root, "net-list", "--all", "--uuid"))
