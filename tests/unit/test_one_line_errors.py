"""Every error is one line (issue 11.4): values escaped, several problems in one
``error: N problems: a; b`` line, through every path that prints an error -- kvmnet's own
errors, usage errors, OS errors, XML syntax errors, the fast path of the hot verbs -- and in
``str(exc)`` for Python callers."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kvmnet.cli.main import main
from kvmnet.errors import KvmnetError, ValidationError, XMLParseError, one_line, quote
from tests.unit.test_cli_bad_input import BASE, DEFINE_CASES

REPO = Path(__file__).resolve().parents[2]

# Line breaks of every kind str.splitlines() knows, and a terminal escape.
BREAKS = ["\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]

MULTI = ("<network><name>multi</name><forward mode='nat'/>"
         "<ip address='192.168.60.1' netmask='255.255.255.0'><dhcp>"
         "<range start='10.0.0.2' end='10.0.0.9'/>"
         "<range start='192.168.60.9' end='192.168.60.2'/>"
         "<host mac='00:16:3e:00:00:01' ip='10.9.9.9'/>"
         "</dhcp></ip></network>")

# Extra define inputs whose errors carried line breaks or came in several lines.
MORE_CASES: dict[str, str | bytes] = {
    "multi-problem": MULTI,
    "name-trailing-newline": "<network><name>default\n  </name><forward mode='nat'/></network>",
    "name-escape": "<network><name>a\x1b[2Jb</name></network>",
    "tag-mismatch": "<network><name>x</name>\n<forward mode='nat'>\n</network>",
    "bad-mode-newline": "<network><name>x</name><forward mode='n&#10;at'/></network>",
    "bad-ip-newline": "<network><name>x</name><ip address='1.2.3<ip address='1.2.3.4&#10;'/>#10;.4'/></network>",
    "bad-uuid-newline": "<network><name>x</name><uuid>ab&#10;cd</uuid></network>",
    # an ignored element and an error: the error says what was ignored, no warning lines
    "typo-and-error": ("<network><name>x</name><forwad mode='nat'/><ip address='10.1.0.1' "
                       "prefix='24'><dhcp><range start='10.9.0.2' end='10.9.0.3'/></dhcp></ip>"
                       "</network>"),
}
ALL_CASES = {**DEFINE_CASES, **MORE_CASES}


def run_cli(args: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(args, stdout=out, stderr=err, stdin=io.StringIO(stdin))
    return status, out.getvalue(), err.getvalue()


def assert_one_error_line(status: int, err: str, want_status: int = 1) -> None:
    assert status == want_status, err
    assert err.startswith("error: "), err
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)
    assert len(err.splitlines()) == 1, repr(err)  # no \r, \x85, U+2028 ... either
    assert err[:-1].isprintable(), repr(err)


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    base = tmp_path / "base.xml"
    base.write_text(BASE)
    assert run_cli(["--root", str(r), "net-define", str(base)])[0] == 0
    return r


@pytest.mark.parametrize("case", sorted(ALL_CASES))
@pytest.mark.parametrize("verb", ["net-define", "net-validate"])
def test_bad_documents_give_one_line(root: Path, tmp_path: Path, verb: str, case: str) -> None:
    data = ALL_CASES[case]
    f = tmp_path / "in.xml"
    f.write_bytes(data if isinstance(data, bytes) else data.encode())
    status, _out, err = run_cli(["--root", str(root), verb, str(f)])
    if verb == "net-validate" and status == 0:
        return  # conflicts with stored networks are define's to find
    assert_one_error_line(status, err)


def test_several_problems_share_one_line(root: Path, tmp_path: Path) -> None:
    f = tmp_path / "multi.xml"
    f.write_text(MULTI)
    status, _out, err = run_cli(["--root", str(root), "net-define", str(f)])
    assert_one_error_line(status, err)
    assert "3 problems: " in err and err.count("; ") >= 2, err


def test_value_with_line_break_is_quoted_with_escapes(root: Path, tmp_path: Path) -> None:
    f = tmp_path / "nl.xml"
    f.write_text(MORE_CASES["name-trailing-newline"])
    status, _out, err = run_cli(["--root", str(root), "net-define", str(f)])
    assert_one_error_line(status, err)
    assert "'default\\n  '" in err, err


@pytest.mark.parametrize("brk", BREAKS + ["\x1b", "\t", "\x7f"])
@pytest.mark.parametrize("args", [
    ["net-start", "a{}b"], ["net-destroy", "a{}b"], ["net-undefine", "a{}b"],
    ["net-info", "a{}b"], ["net-dumpxml", "a{}b"], ["net-autostart", "a{}b"],
    ["net-uuid", "a{}b"], ["net-name", "a{}b"], ["net-edit", "a{}b"],
    ["net-define", "/nonexistent/a{}b.xml"], ["net-validate", "/nonexistent{}/"],
    ["net-update", "base", "add", "ip-dhcp-host", "<host mac='a{}b'/>", "--config"],
    ["net-update", "base", "add{}", "dns-txt", "<txt/>"],
    ["iface-define", "/nonexistent/a{}b.xml"], ["iface-undefine", "a{}b"],
    ["iface-dumpxml", "a{}b"], ["net-port-dumpxml", "base", "a{}b"], ["net-plan", "a{}b"],
])
def test_odd_arguments_give_one_line(root: Path, args: list[str], brk: str) -> None:
    argv = ["--root", str(root)] + [a.replace("{}", brk) for a in args]
    status, _out, err = run_cli(argv)
    assert_one_error_line(status, err)


@pytest.mark.parametrize("args", [
    ["net-define"], ["net-list", "--bogus\nline"], ["no\nsuch-verb"], ["net-list", "--\u2028"],
    ["net-update", "n", "add", "dns-txt", "x", "--parent-index", "1\n2"], [],
    ["net-start", "a", "b\nc"],
])
def test_usage_errors_give_one_line(root: Path, args: list[str]) -> None:
    status, _out, err = run_cli(["--root", str(root), *args])
    assert_one_error_line(status, err, want_status=2)


def test_os_and_internal_errors_give_one_line(root: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from kvmnet.cli import net

    def boom(ctx: object, a: object) -> int:
        raise RuntimeError("first line\nsecond line")

    monkeypatch.setattr(net, "cmd_info", boom)
    status, _out, err = run_cli(["--root", str(root), "net-info", "base"])
    assert_one_error_line(status, err)
    assert "first line\\nsecond line" in err

    def oserror(ctx: object, a: object) -> int:
        raise PermissionError(13, "Permission denied", "/x\ny")

    monkeypatch.setattr(net, "cmd_info", oserror)
    status, _out, err = run_cli(["--root", str(root), "net-info", "base"])
    assert_one_error_line(status, err)
    assert "'/x\\ny'" in err


def test_debug_adds_lines_but_the_error_stays_one_line(root: Path) -> None:
    status, _out, err = run_cli(["--root", str(root), "--debug", "net-info", "a\nb"])
    assert status == 1
    assert [line for line in err.splitlines() if line.startswith("error: ")] == [
        "error: " + err.split("error: ", 1)[1].rstrip("\n")]


@pytest.mark.parametrize("args", [
    ["net-define", "/nonexistent/a\nb.xml"], ["net-start", "no\nsuch"],
    ["net-destroy", "no\u2028such"], ["net-undefine", "no\x85such"],
])
def test_fast_path_gives_one_line(root: Path, args: list[str]) -> None:
    """The console script runs these without argparse (kvmnet.cli.entry): same rendering."""
    env = dict(os.environ, KVMNET_ROOT=str(root))
    p = subprocess.run([sys.executable, "-m", "kvmnet", *args], env=env, capture_output=True,
                       cwd=REPO, timeout=60, check=False)
    err = p.stderr.decode("utf-8", "replace")
    assert_one_error_line(p.returncode, err)


# -- the Python API ---------------------------------------------------------------------------
def test_str_of_every_error_is_one_line() -> None:
    exc = ValidationError(["first\nproblem", "second"], "net")
    assert str(exc) == "net: 2 problems: first\\nproblem; second"
    assert exc.problems == ["first\nproblem", "second"]  # the raw problems stay available
    assert str(KvmnetError("a\u2028b")) == "a\\u2028b"
    assert str(XMLParseError("bad\rvalue", "/network/name")) == "/network/name: bad\\rvalue"
    assert KvmnetError("x\ny").get_error_message() == "x\\ny"


def test_quote_and_one_line() -> None:
    assert quote("default\n  ") == "'default\\n  '"
    assert quote("plain") == "'plain'"
    assert quote("it's") == "'it\\'s'"
    assert quote("a\\b") == "'a\\\\b'"
    assert quote("\x85\u2028\t") == "'\\x85\\u2028\\t'"
    for brk in BREAKS:
        assert len(one_line(f"a{brk}b").splitlines()) == 1
    assert one_line(one_line("a\nb")) == one_line("a\nb")  # stable when applied twice
    assert one_line("é ü 日本") == "é ü 日本"  # printable text is left alone


def test_host_error_with_a_here_document_shows_its_first_line() -> None:
    from kvmnet.errors import HostError

    exc = HostError("nft failed with exit status 1: /dev/stdin:2:1: Error: x\nadd rule\n^^^",
                    "nft -f - <<'EOF'\nadd table inet kvmnet\nEOF", 2)
    assert str(exc) == ("nft failed with exit status 1: /dev/stdin:2:1: Error: x\\nadd rule\\n^^^ "
                        "(command: nft -f - <<'EOF' ..., errno 2)")
    assert exc.command is not None and exc.command.endswith("EOF")


def test_autostart_failures_share_one_line(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kvmnet.api import Connection
    from kvmnet.iface import interfaces

    monkeypatch.setattr(interfaces, "autostart", lambda conn: [])
    monkeypatch.setattr(Connection, "autostartAll", lambda self: [
        ("a", KvmnetError("subnet clash\nwith eth0")), ("b", None), ("c", KvmnetError("no dnsmasq"))])
    status, out, err = run_cli(["--root", str(root), "autostart"])
    assert_one_error_line(status, err)
    assert err == ("error: 2 problems: network 'a' did not start: subnet clash\\nwith eth0; "
                   "network 'c' did not start: no dnsmasq\n")
    assert "Network b started" in out
