"""CLI output shapes: virsh's verbs, messages, table layout and exit codes."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kvmnet.cli.main import main
from kvmnet.cli.output import format_table, safe_cell

REPO = Path(__file__).resolve().parents[2]
U1 = "6c2e0b5e-8a11-4b58-9d0e-2a9a6f1d3c01"


def cli(root: Path, *args: str, stdin: str = "") -> tuple[int, str, str]:
    """Run the CLI in-process (same code path as the console script)."""
    out, err = io.StringIO(), io.StringIO()
    rc = main(["--root", str(root), *args], stdout=out, stderr=err, stdin=io.StringIO(stdin))
    return rc, out.getvalue(), err.getvalue()


def run(root: Path, *args: str, exe: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI as a subprocess."""
    env = dict(os.environ, KVMNET_ROOT=str(root))
    cmd = (exe or [sys.executable, "-m", "kvmnet"]) + list(args)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, cwd=REPO,
                          check=False)


def netxml(name: str, net: str = "192.168.100", uuid: str | None = None) -> str:
    u = f"<uuid>{uuid}</uuid>" if uuid else ""
    return (f"<network>\n  <name>{name}</name>\n  {u}\n  <forward mode='nat'/>\n"
            f"  <ip address='{net}.1' netmask='255.255.255.0'>\n    <dhcp>\n"
            f"      <range start='{net}.2' end='{net}.254'/>\n    </dhcp>\n  </ip>\n</network>\n")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


def define(root: Path, tmp: Path, name: str, net: str = "192.168.100", uuid: str | None = None) -> Path:
    f = tmp / f"{name}.xml"
    f.write_text(netxml(name, net, uuid))
    rc, out, err = cli(root, "net-define", str(f))
    assert rc == 0, err
    assert out == f"Network {name} defined from {f}\n\n"
    return f


def test_empty_list_is_virsh_table(root: Path) -> None:
    rc, out, err = cli(root, "net-list")
    assert (rc, err) == (0, "")
    assert out == (" Name   State   Autostart   Persistent\n"
                   "----------------------------------------\n"
                   "\n")


def test_list_table_layout(root: Path, tmp_path: Path) -> None:
    define(root, tmp_path, "default")
    define(root, tmp_path, "isolated", "192.168.101")
    cli(root, "net-autostart", "isolated")
    rc, out, _ = cli(root, "net-list", "--all")
    assert rc == 0
    assert out == (" Name       State      Autostart   Persistent\n"
                   "-----------------------------------------------\n"
                   " default    inactive   no          yes\n"
                   " isolated   inactive   yes         yes\n"
                   "\n")
    # default: active networks only
    assert cli(root, "net-list")[1] == (" Name   State   Autostart   Persistent\n"
                                        "----------------------------------------\n\n")
    assert cli(root, "net-list", "--inactive", "--autostart")[1].splitlines()[2] == \
        " isolated   inactive   yes         yes"
    # quiet: no header, and (as vshTable) column widths come from the rows alone
    assert cli(root, "-q", "net-list", "--all")[1] == (" default    inactive   no    yes\n"
                                                       " isolated   inactive   yes   yes\n")


def test_list_name_uuid_json(root: Path, tmp_path: Path) -> None:
    define(root, tmp_path, "b", "192.168.101")
    define(root, tmp_path, "a", uuid=U1)
    assert cli(root, "net-list", "--all", "--name")[1] == "a\nb\n\n"
    uuids = cli(root, "net-list", "--all", "--uuid")[1].split()
    assert uuids[0] == U1 and len(uuids) == 2
    rc, out, _ = cli(root, "net-list", "--all", "--json")
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["a", "b"]
    assert rows[0] == {"name": "a", "uuid": U1, "state": "inactive", "active": False,
                       "autostart": False, "persistent": True}
    rc, out, err = cli(root, "net-list", "--name", "--uuid")
    assert rc == 1 and err == "error: Only one argument from --table, --name and --uuid may be specified.\n"


def test_info(root: Path, tmp_path: Path) -> None:
    define(root, tmp_path, "default", uuid=U1)
    rc, out, _ = cli(root, "net-info", "default")
    assert rc == 0
    assert out == ("Name:           default\n"
                   f"UUID:           {U1}\n"
                   "Active:         no\n"
                   "Persistent:     yes\n"
                   "Autostart:      no\n"
                   "Bridge:         virbr0\n"
                   "\n")
    assert cli(root, "net-info", U1)[1] == out  # by UUID too
    info = json.loads(cli(root, "net-info", "default", "--json")[1])
    assert info == {"name": "default", "uuid": U1, "active": False, "persistent": True,
                    "autostart": False, "bridge": "virbr0"}


def test_dumpxml_uuid_name(root: Path, tmp_path: Path) -> None:
    define(root, tmp_path, "default", uuid=U1)
    rc, out, _ = cli(root, "net-dumpxml", "default")
    assert rc == 0 and out.startswith("<network>\n  <name>default</name>\n")
    assert out.endswith("</network>\n\n")  # virsh's empty line after the command
    assert f"<uuid>{U1}</uuid>" in out and "<bridge name='virbr0'" in out
    assert cli(root, "net-dumpxml", "--inactive", "default")[1] == out
    assert cli(root, "net-uuid", "default")[1] == f"{U1}\n\n"
    assert cli(root, "net-name", U1)[1] == "default\n\n"
    rc, _, err = cli(root, "net-uuid", U1)  # net-uuid looks up by name only, as virsh
    assert rc == 1 and err.startswith("error: network not found")


def test_autostart_and_undefine_messages(root: Path, tmp_path: Path) -> None:
    define(root, tmp_path, "default")
    assert cli(root, "net-autostart", "default") == (0, "Network default marked as autostarted\n\n", "")
    assert cli(root, "net-list", "--autostart", "--name", "--all")[1] == "default\n\n"
    assert cli(root, "net-autostart", "default", "--disable") == \
        (0, "Network default unmarked as autostarted\n\n", "")
    assert cli(root, "net-undefine", "default") == (0, "Network default has been undefined\n\n", "")
    assert cli(root, "net-list", "--all", "--name") == (0, "\n", "")


def test_update_messages(root: Path, tmp_path: Path) -> None:
    define(root, tmp_path, "default")
    host = "<host mac='00:16:3e:77:e2:ee' name='c' ip='192.168.100.12'/>"
    rc, out, err = cli(root, "net-update", "default", "add", "ip-dhcp-host", host, "--config")
    assert (rc, out, err) == (0, "Updated network default persistent config\n", "")
    frag = tmp_path / "host.xml"
    frag.write_text(host)
    rc, out, err = cli(root, "net-update", "default", "delete", "ip-dhcp-host", str(frag))
    assert (rc, out) == (0, "Updated network default persistent config\n"), err
    rc, _, err = cli(root, "net-update", "default", "frobnicate", "ip-dhcp-host", host)
    assert rc == 1 and err.startswith("error: unrecognized command name 'frobnicate'")
    rc, _, err = cli(root, "net-update", "default", "add", "ip-dhcp-hose", host)
    assert rc == 1 and err.startswith("error: unrecognized section name 'ip-dhcp-hose'")
    rc, _, err = cli(root, "net-update", "default", "add", "ip-dhcp-host", host, "--current",
                     "--config")
    assert rc == 1 and "mutually exclusive" in err
    rc, _, err = cli(root, "net-update", "default", "add", "ip-dhcp-host", host, "--live")
    assert rc == 1 and "not active" in err


def test_validate(root: Path, tmp_path: Path) -> None:
    f = tmp_path / "v.xml"
    f.write_text(netxml("v"))
    assert cli(root, "net-validate", str(f)) == (0, f"{f} validates\n\n", "")
    rc, out, _ = cli(root, "net-validate", "--canonical", str(f))
    assert rc == 0 and out.startswith("<network>\n  <name>v</name>\n  <forward mode='nat'/>")
    assert "<uuid>" not in out and "<mac " not in out and "virbr" not in out
    assert not root.exists()  # validation never writes


def test_plan_prints_what_start_would_apply_and_changes_nothing(root: Path, tmp_path: Path) -> None:
    f = define(root, tmp_path, "default")
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    rc, out, err = cli(root, "net-plan", "default")
    assert rc == 0, err
    for header in ("### links", "### addresses", "### sysctls", "### nftables", "### dnsmasq-conf"):
        assert header in out
    assert "ip link add virbr" in out and "type bridge" in out
    assert "sysctl -w net.ipv4.ip_forward=1" in out
    assert "table inet kvmnet" in out and "masquerade" in out
    assert "dhcp-range=" in out and "no-resolv" in out
    rc, out, _ = cli(root, "net-plan", "default", "--section", "addresses")
    assert rc == 0 and out.startswith("ip addr add ") and "/24 dev virbr" in out
    rc, out, _ = cli(root, "net-plan", str(f), "--json")
    import json
    doc = json.loads(out)
    assert doc["mode"] == "nat" and set(doc) >= {"links", "addresses", "sysctls", "nftables",
                                                  "dnsmasq-conf", "dnsmasq-hosts"}
    rc, _, err = cli(root, "net-plan", "default", "--section", "bogus")
    assert rc == 1 and "unknown plan section" in err
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_inactive_network_has_no_leases_and_cannot_be_destroyed(root: Path, tmp_path: Path) -> None:
    define(root, tmp_path, "default")
    rc, _, err = cli(root, "net-dhcp-leases", "default")
    assert rc == 1 and "not active" in err and err.count("\n") == 1
    rc, _, err = cli(root, "net-destroy", "default")
    assert rc == 1 and "not active" in err

def test_usage_errors_exit_2(root: Path) -> None:
    for args in ([], ["net-foo"], ["net-info"], ["net-update", "a", "add", "ip-dhcp-host", "<x/>",
                                                 "--parent-index", "one"], ["net-list", "--bogus"]):
        rc, _out, err = cli(root, *args)
        assert rc == 2 and err.startswith("error: "), args
        assert "Traceback" not in err
    assert cli(root, "net-foo")[2].startswith("error: unknown command: 'net-foo'")


def test_console_script_and_module(root: Path, tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "kvmnet"
    if not exe.exists():
        pytest.skip("console script not installed in this environment")
    define(root, tmp_path, "default")
    a = run(root, "net-list", "--all", exe=[str(exe)])
    b = run(root, "net-list", "--all")
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout and " default " in a.stdout


def test_errors_without_and_with_debug(root: Path) -> None:
    p = run(root, "net-info", "missing")
    assert p.returncode == 1
    assert p.stderr == ("error: network not found: no network with matching name or uuid "
                        "'missing'; run 'kvmnet net-list --all' to see the defined networks\n")
    p = run(root, "--debug", "net-info", "missing")
    assert p.returncode == 1 and "Traceback" in p.stderr and "error: network not found" in p.stderr
    p = run(root, "net-info", "missing", "--debug")
    assert "Traceback" in p.stderr


def test_net_list_does_not_import_lxml(root: Path, tmp_path: Path) -> None:
    define(root, tmp_path, "default")
    code = ("import sys; from kvmnet.cli.main import main; rc = main(['net-list', '--all']); "
            "print('LXML' if 'lxml' in sys.modules else 'NOLXML'); "
            "print('PYROUTE2' if 'pyroute2' in sys.modules else 'NOPYROUTE2')")
    p = run(root, "-c", code, exe=[sys.executable])
    assert p.returncode == 0, p.stderr
    assert "NOLXML" in p.stdout and "NOPYROUTE2" in p.stdout


def test_table_cells_are_made_safe() -> None:
    assert safe_cell("plain") == ("plain", 5)
    assert safe_cell("tab\there") == ("tab\\x09here", 11)
    assert safe_cell("日本") == ("日本", 4)
    out = format_table(["Name", "X"], [["日本", "y"], ["a", "b"]])
    assert out.splitlines() == [" Name   X", "-----------", " 日本   y", " a      b"]


def test_lazy_parser_knows_every_verb() -> None:
    from kvmnet.cli.main import _modules, _verb_in, build_parser

    verbs = [v for mod in _modules() for v in mod.VERBS]
    assert len(verbs) == len(set(verbs)), "a verb is claimed by two command modules"
    full = build_parser()
    sub = next(a for a in full._actions if a.dest == "verb")
    assert sorted(sub.choices) == sorted(verbs)  # type: ignore[arg-type]
    for verb in verbs:  # the one-verb parser of every verb knows it
        only = next(a for a in build_parser(verb)._actions if a.dest == "verb")
        assert list(only.choices) == [verb]  # type: ignore[arg-type]
    assert _verb_in(["--root", "/x", "-q", "net-list", "--all"]) == "net-list"
    assert _verb_in(["--debug", "net-info", "net-list"]) == "net-info"
    assert _verb_in(["--root", "net-list"]) is None  # net-list is the --root value here
    assert _verb_in(["nonsense"]) is None and _verb_in([]) is None


def test_help(root: Path) -> None:
    p = run(root, "--help")
    assert p.returncode == 0 and "net-define" in p.stdout and "net-dhcp-leases" in p.stdout
    p = run(root, "net-update", "--help")
    assert p.returncode == 0 and "--parent-index" in p.stdout


def test_list_and_info_show_live_state(root: Path, tmp_path: Path) -> None:
    from kvmnet.config.store import Layout, Store

    define(root, tmp_path, "persist")
    store = Store(Layout(root))
    live = cli(root, "net-dumpxml", "persist")[1].rstrip("\n") + "\n"
    store.write_status("persist", live)  # what the host layer writes when it starts one
    store.write_status("trans", netxml("trans", "192.168.102", U1))
    rc, out, _ = cli(root, "net-list")
    assert out == (" Name      State    Autostart   Persistent\n"
                   "--------------------------------------------\n"
                   " persist   active   no          yes\n"
                   " trans     active   no          no\n"
                   "\n")
    assert cli(root, "net-list", "--transient", "--name")[1] == "trans\n\n"
    assert cli(root, "net-list", "--inactive", "--name")[1] == "\n"
    info = cli(root, "net-info", "trans")[1]
    assert "Active:         yes\nPersistent:     no\n" in info
    assert "<name>trans</name>" in cli(root, "net-dumpxml", "trans")[1]
    rc, _, err = cli(root, "net-undefine", "trans")
    assert rc == 1 and "transient" in err


# -- the plain net-start/net-destroy forms skip argparse (kvmnet.cli.entry) --------------------


def test_plain_forms_are_recognised_exactly() -> None:
    from kvmnet.cli.entry import plain

    assert plain(["net-start", "n1"]) == (None, False, "net-start", "n1")
    assert plain(["-q", "--root", "/r", "net-destroy", "n1"]) == ("/r", True, "net-destroy", "n1")
    assert plain(["--quiet", "net-destroy", "n1"]) == (None, True, "net-destroy", "n1")
    assert plain(["net-define", "n1.xml"]) == (None, False, "net-define", "n1.xml")
    assert plain(["-q", "net-undefine", "n1"]) == (None, True, "net-undefine", "n1")
    for argv in (["net-start"], ["net-start", "n1", "extra"], ["net-start", "--help"],
                 ["net-start", "-x"], ["--debug", "net-start", "n1"], ["net-list", "n1"],
                 ["--root", "net-start", "n1"], ["net-start", "--", "n1"], [], ["-q"],
                 ["net-create", "n1.xml"], ["--qu", "net-start", "n1"],
                 ["net-define", "-"], ["net-define", "n1.xml", "--validate"]):
        assert plain(argv) is None, argv


def test_plain_forms_answer_as_the_parser_path(root: Path, tmp_path: Path) -> None:
    # "net-start -- NAME" is not a plain form, so it goes through argparse: both paths must
    # print the same thing and exit alike, for successes and for each kind of error.
    define(root, tmp_path, "inactive1")
    bad = tmp_path / "bad.xml"
    bad.write_text("<network><name>x</name>")
    clash = tmp_path / "clash.xml"
    clash.write_text(netxml("inactive1", uuid="0b5c8b1e-3c39-4e4b-9a55-1f6c2b0a7d99"))
    for args in (("net-start", "nosuch"), ("net-destroy", "nosuch"),
                 ("net-destroy", "inactive1"), ("net-start", "bad/name"),
                 ("-q", "net-destroy", "nosuch"), ("net-undefine", "nosuch"),
                 ("net-define", str(tmp_path / "missing.xml")), ("net-define", str(bad)),
                 ("net-define", str(clash)), ("net-define", str(tmp_path))):
        verb_at = args.index(args[-2])
        full = (*args[:verb_at + 1], "--", args[-1])
        quick, parsed = run(root, *args), run(root, *full)
        assert (quick.returncode, quick.stdout, quick.stderr) == \
            (parsed.returncode, parsed.stdout, parsed.stderr), args
        assert quick.returncode == 1 and quick.stderr.startswith("error: "), quick.stderr
    good = tmp_path / "good.xml"
    good.write_text(netxml("good", "192.168.101"))
    quick, parsed = run(root, "net-define", str(good)), run(root, "net-define", "--", str(good))
    assert (quick.returncode, quick.stdout, quick.stderr) == \
        (parsed.returncode, parsed.stdout, parsed.stderr) == \
        (0, f"Network good defined from {good}\n\n", "")
    quick = run(root, "net-undefine", "good")
    assert (quick.returncode, quick.stdout, quick.stderr) == \
        (0, "Network good has been undefined\n\n", "")
