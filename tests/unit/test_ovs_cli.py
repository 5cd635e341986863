"""``kvmnet ovs`` command lines that are refused before any database is opened (no root)."""
from __future__ import annotations

import io

import pytest

from kvmnet.cli.main import main
from kvmnet.ovs import vsctl


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(["ovs", *argv], stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("argv", "message"), [
    (["frobnicate"], "error: unknown command 'frobnicate'; use --help for help"),
    (["add-br"], "error: 'add-br' command requires at least 1 arguments"),
    (["list-br", "x"], "error: 'list-br' command requires at most 0 arguments"),
    (["--if-exists", "add-br", "br0"], "error: 'add-br' command has no '--if-exists' option"),
    (["show", "--", "--"], "error: missing command name (an empty command between '--')"),
    (["--db", "/tmp/x.sock", "show"], ("error: database '/tmp/x.sock' is not an OVSDB remote: "
                                       "write unix:PATH (or tcp:IP:PORT)")),
])
def test_refused_command_lines(argv: list[str], message: str) -> None:
    status, out, err = _run(*argv)
    assert (status, out, err) == (1, "", message + "\n")


def test_help_and_options_anywhere() -> None:
    status, out, _ = _run("--help")
    assert status == 0 and "add-port [--may-exist] BR PORT" in out
    opts, commands = vsctl.parse(["--db=unix:/x", "--no-wait", "add-port", "--may-exist", "br0",
                                  "p0", "tag=1", "--", "set", "Interface", "p0", "type=internal"])
    assert opts == {"--db": "unix:/x", "--no-wait": None}
    assert [(c.verb, c.options, c.args) for c in commands] == [
        ("add-port", {"--may-exist": None}, ["br0", "p0", "tag=1"]),
        ("set", {}, ["Interface", "p0", "type=internal"])]
