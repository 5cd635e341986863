"""net-edit with a scripted $EDITOR: unchanged, edited, invalid-then-retry and friends."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

BASE = """<network>
  <name>default</name>
  <uuid>44b1bd4e-9a0f-4a3b-8c57-0e3f2d1c7b6a</uuid>
  <forward mode='nat'/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'/>
    </dhcp>
  </ip>
</network>
"""

# The "editor": each call takes the next step of a JSON plan and applies it to the file.
EDITOR = textwrap.dedent("""\
    import json, os, subprocess, sys
    plan_file = os.environ["EDIT_PLAN"]
    steps = json.load(open(plan_file))
    step = steps.pop(0)
    json.dump(steps, open(plan_file, "w"))
    path = sys.argv[1]
    text = open(path).read()
    kind = step["do"]
    if kind == "fail":
        sys.exit(3)
    if kind == "side":  # someone else changes the network while we edit
        subprocess.run(step["argv"], check=True, stdout=subprocess.DEVNULL)
    if "old" in step:
        assert step["old"] in text, (step["old"], text)
        text = text.replace(step["old"], step["new"])
    for marker in step.get("drop", []):
        text = "".join(line for line in text.splitlines(True) if marker not in line)
    if "text" in step:
        text = step["text"]
    open(path, "w").write(text)
    """)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    root = tmp_path / "root"
    editor = tmp_path / "editor.py"
    editor.write_text(EDITOR)
    e = dict(os.environ, KVMNET_ROOT=str(root), EDIT_PLAN=str(tmp_path / "plan.json"))
    e.pop("VISUAL", None)
    e["EDITOR"] = f"{sys.executable} {editor}"
    base = tmp_path / "base.xml"
    base.write_text(BASE)
    assert kvmnet(e, "net-define", str(base)).returncode == 0
    return e


def kvmnet(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kvmnet", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120, cwd=REPO, check=False)


def edit(env: dict[str, str], plan: Sequence[Mapping[str, object]], answers: str = "",
         target: str = "default") -> subprocess.CompletedProcess[str]:
    Path(env["EDIT_PLAN"]).write_text(json.dumps(plan))
    return kvmnet(env, "net-edit", target, stdin=answers)


def stored(env: dict[str, str]) -> bytes:
    return (Path(env["KVMNET_ROOT"]) / "etc/kvmnet/networks/default.xml").read_bytes()


def plan_left(env: dict[str, str]) -> list[object]:
    return list(json.loads(Path(env["EDIT_PLAN"]).read_text()))


CHANGE = {"do": "sub", "old": "192.168.122.254", "new": "192.168.122.200"}
BREAK = {"do": "sub", "old": "</network>", "new": "</netw"}


def test_no_change(env: dict[str, str]) -> None:
    before = stored(env)
    p = edit(env, [{"do": "keep"}])
    assert p.returncode == 0, p.stderr
    assert p.stdout == "Network default XML configuration not changed.\n\n"
    assert stored(env) == before


def test_change_is_defined(env: dict[str, str]) -> None:
    p = edit(env, [CHANGE])
    assert p.returncode == 0, p.stderr
    assert p.stdout == "Network default XML configuration edited.\n\n"
    assert b"192.168.122.200" in stored(env)
    assert "192.168.122.200" in kvmnet(env, "net-dumpxml", "default").stdout


def test_edit_by_uuid(env: dict[str, str]) -> None:
    p = edit(env, [CHANGE], target="44b1bd4e-9a0f-4a3b-8c57-0e3f2d1c7b6a")
    assert p.returncode == 0 and b"192.168.122.200" in stored(env)


def test_invalid_then_retry(env: dict[str, str]) -> None:
    fix = {"do": "sub", "old": "</netw", "new": "</network>"}
    p = edit(env, [BREAK, dict(fix)], answers="y\n")
    assert p.returncode == 0, p.stderr
    assert p.stderr.startswith("error: ") and "not well-formed" in p.stderr
    assert "Failed. Try again? [y,n,i,f,?]: " in p.stdout
    # the second editor run starts from the user's broken text, as virsh does; once fixed
    # it is unchanged from the original, so nothing is redefined
    assert p.stdout.endswith("Network default XML configuration not changed.\n\n")
    assert plan_left(env) == []


def test_invalid_semantics_then_retry_with_change(env: dict[str, str]) -> None:
    bad = {"do": "sub", "old": "192.168.122.254", "new": "10.0.0.254"}
    good = {"do": "sub", "old": "10.0.0.254", "new": "192.168.122.100"}
    p = edit(env, [bad, good], answers="y\n")
    assert p.returncode == 0, p.stderr
    assert "10.0.0.254" in p.stderr and p.stderr.count("error:") == 1
    assert p.stdout.endswith("Network default XML configuration edited.\n\n")
    assert b"192.168.122.100" in stored(env)


def test_invalid_then_no_discards(env: dict[str, str]) -> None:
    before = stored(env)
    p = edit(env, [BREAK], answers="n\n")
    assert p.returncode == 1
    assert p.stderr.count("error:") == 1 and "Traceback" not in p.stderr
    assert stored(env) == before


def test_invalid_then_end_of_input_discards(env: dict[str, str]) -> None:
    before = stored(env)
    p = edit(env, [BREAK], answers="")
    assert p.returncode == 1
    assert stored(env) == before


def test_help_and_force(env: dict[str, str]) -> None:
    before = stored(env)
    p = edit(env, [BREAK], answers="?\nzz\nf\ni\nn\n")
    assert p.returncode == 1
    assert "y - yes, start editor again" in p.stdout and "f - force" in p.stdout
    # each f/i redefines the same (still broken) text again, without the editor
    assert p.stderr.count("error:") == 3
    assert p.stdout.count("Failed. Try again?") == 5
    assert stored(env) == before


def test_editor_failure(env: dict[str, str]) -> None:
    before = stored(env)
    p = edit(env, [{"do": "fail"}])
    assert p.returncode == 1
    assert p.stderr.startswith("error: editor") and "status 3" in p.stderr
    assert stored(env) == before


def test_concurrent_change_is_detected(env: dict[str, str]) -> None:
    host = "<host mac='00:16:3e:00:00:01' ip='192.168.122.10'/>"
    side = {"do": "side", "old": "192.168.122.254", "new": "192.168.122.200",
            "argv": [sys.executable, "-m", "kvmnet", "net-update", "default", "add",
                     "ip-dhcp-host", host, "--config"]}
    p = edit(env, [side], answers="n\n")
    assert p.returncode == 1
    assert "changed by another user" in p.stderr
    after = stored(env)
    assert b"00:16:3e:00:00:01" in after and b"192.168.122.200" not in after  # theirs kept


def test_renaming_in_editor_defines_a_new_network(env: dict[str, str]) -> None:
    # as in libvirt, a new name in the editor defines another network; the copy still
    # carries the original's bridge, which is refused until the user drops it
    rename = {"do": "sub", "old": "<name>default</name>\n  <uuid>44b1bd4e-9a0f-4a3b-8c57-0e3f2d1c7b6a"
              "</uuid>", "new": "<name>copy</name>"}
    drop = {"do": "sub", "old": "192.168.122", "new": "192.168.123", "drop": ["<bridge", "<mac "]}
    p = edit(env, [rename, drop], answers="y\n")
    assert p.returncode == 0, p.stderr
    assert "bridge name 'virbr0' is already used by network 'default'" in p.stderr
    assert p.stdout.endswith("Network copy XML configuration edited.\n\n")
    assert kvmnet(env, "net-list", "--all", "--name").stdout == "copy\ndefault\n\n"


def test_missing_network(env: dict[str, str]) -> None:
    p = edit(env, [{"do": "keep"}], target="nope")
    assert p.returncode == 1 and p.stderr.startswith("error: network not found")
    assert len(plan_left(env)) == 1  # the editor never ran


TYPO = {"do": "sub", "old": "<forward mode='nat'/>", "new": "<forwad mode='nat'/>"}


def test_misspelling_is_refused_not_silently_isolated(env: dict[str, str]) -> None:
    """As virsh net-edit validates: a misspelt <forward> must not turn the NAT network into an
    isolated one behind the user's back (issue 11.4)."""
    before = stored(env)
    p = edit(env, [TYPO], answers="n\n")
    assert p.returncode == 1
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("error: network XML does not "
                                                             "validate: unknown element <forwad>")
    assert stored(env) == before


def test_misspelling_then_retry_fixes_it(env: dict[str, str]) -> None:
    fix = {"do": "sub", "old": "<forwad mode='nat'/>", "new": "<forward mode='route'/>"}
    p = edit(env, [TYPO, fix], answers="y\n")
    assert p.returncode == 0, p.stderr
    assert b"<forward mode='route'/>" in stored(env)


def test_answer_i_turns_validation_off(env: dict[str, str]) -> None:
    """virsh's 'i': define anyway; the unknown element is ignored (libvirt's behaviour), with
    a warning."""
    p = edit(env, [TYPO], answers="i\n")
    assert p.returncode == 0, p.stderr
    assert p.stderr.splitlines()[0].startswith("error: network XML does not validate")
    assert p.stderr.splitlines()[1].startswith("warning: network XML: ignoring unknown element "
                                               "<forwad> at /network/forwad")
    assert b"<forward" not in stored(env) and b"forwad" not in stored(env)
    assert p.stdout.endswith("Network default XML configuration edited.\n\n")
