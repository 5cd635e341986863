"""One limit on a network's name (issue 11.4), the same in validation and in the store, and
chosen so that every file kvmnet makes from the name -- also under its temporary name while
it is written -- fits Linux's 255-byte file name."""
from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest

from kvmnet import fileio
from kvmnet.cli.main import main
from kvmnet.config.define import prepare
from kvmnet.config.store import Store, check_name, name_problem
from kvmnet.errors import KvmnetError
from kvmnet.fileio import atomic_write
from kvmnet.network.leases import status_path
from kvmnet.network.runtime import Runtime
from kvmnet.paths import FILE_NAME_MAX_BYTES, MAX_NAME_BYTES, Paths

#: The longest PID Linux hands out (pid_max is at most 2**22): the longest temporary names.
LONGEST_PID = 4194304


def name_of(size: int) -> str:
    """A name of exactly ``size`` UTF-8 bytes, with two-byte characters in it."""
    return "é" * (size // 2) + "x" * (size % 2)


def doc(name: str) -> str:
    return (f"<network><name>{name}</name><forward mode='nat'/>"
            "<dns><host ip='192.168.5.3'><hostname>h</hostname></host></dns>"
            "<ip address='192.168.5.1' netmask='255.255.255.0'><dhcp>"
            "<range start='192.168.5.2' end='192.168.5.9'/>"
            "<host mac='52:54:00:00:00:01' ip='192.168.5.4'/></dhcp></ip></network>")


@pytest.mark.parametrize("size", [MAX_NAME_BYTES - 1, MAX_NAME_BYTES, MAX_NAME_BYTES + 1,
                                  200, 201, 250, 251])
def test_validation_and_store_agree(size: int) -> None:
    """Before: validation stopped at 200 bytes and the store at 250."""
    name = name_of(size)
    store_ok = name_problem(name) is None
    try:
        prepare(doc(name))
        define_ok = True
    except KvmnetError as exc:
        define_ok = False
        assert f"{MAX_NAME_BYTES} bytes" in str(exc)
    assert store_ok == define_ok == (size <= MAX_NAME_BYTES)


def test_guests_share_the_limit() -> None:
    from kvmnet.guests.store import name_problem as guest_problem

    assert guest_problem(name_of(MAX_NAME_BYTES)) is None
    problem = guest_problem(name_of(MAX_NAME_BYTES + 1))
    assert problem is not None and problem.startswith("guest name")


def test_one_constant() -> None:
    """No module keeps its own copy of the limit."""
    pkg = Path(__file__).resolve().parents[2] / "kvmnet"
    own = [str(p.relative_to(pkg)) for p in pkg.rglob("*.py")
           if re.search(r"^MAX_NAME_BYTES\s*=\s*\d", p.read_text(), re.MULTILINE)]
    assert own == []


def test_every_file_of_a_network_at_the_limit_fits(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Define a network whose name is exactly at the limit, then write every file that define
    and start make from its name (the paths come from kvmnet's own code: the stored files, the
    compiled start program, the run-time layout), each with the longest temporary name."""
    root = tmp_path / "r"
    name = name_of(MAX_NAME_BYTES)
    f = tmp_path / "n.xml"
    f.write_text(doc(name))
    err = io.StringIO()
    assert main(["--root", str(root), "net-define", str(f)], stdout=io.StringIO(),
                stderr=err) == 0, err.getvalue()
    assert main(["--root", str(root), "net-autostart", name], stdout=io.StringIO(),
                stderr=err) == 0, err.getvalue()
    paths = Paths(root)
    store = Store(paths)
    rt = Runtime(paths, name)
    files = {Path(p) for p in (store.status_path(name), rt.record, rt.pid_file, rt.conf,
                                rt.servers, rt.helper, rt.leases,
                                status_path(paths.dnsmasq, name), paths.ports / name / "x.json")}
    # every path the compiled start program writes or names
    program = paths.programs / f"{name}.json"
    assert sorted(p.name for p in paths.programs.iterdir()) == [f"{name}.json",
                                                                 f"{name}.json.lock"]

    def strings(o: object) -> list[str]:
        if isinstance(o, str):
            return [o]
        if isinstance(o, dict):
            return [s for k, v in o.items() for s in strings(k) + strings(v)]
        if isinstance(o, list):
            return [s for v in o for s in strings(v)]
        return []

    for s in strings(json.loads(program.read_text())):
        files |= {Path(p) for p in re.findall(re.escape(str(root)) + r"[^\s'\"]*", s)
                  if name in p}
    named = {p for p in files if name in p.name}
    assert {p.name[len(name):] for p in named} >= {".xml", ".json", ".conf", ".hostsfile",
                                                   ".addnhosts", ".status", ".helper"}
    monkeypatch.setattr(os, "getpid", lambda: LONGEST_PID)
    for p in sorted(files):
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(p, b"x")  # raises ENAMETOOLONG if the temporary name does not fit
        with fileio.FileLock(f"{p}.lock"):
            pass
    longest = max(len(p.name.encode()) for p in paths.root.rglob("*") if name in p.name)
    assert longest <= FILE_NAME_MAX_BYTES
    assert len(fileio.temp_name("", f"{name}.hostsfile").encode()) <= FILE_NAME_MAX_BYTES


def test_over_the_limit_is_refused_with_the_limit(tmp_path: Path) -> None:
    f = tmp_path / "n.xml"
    f.write_text(doc(name_of(MAX_NAME_BYTES + 1)))
    err = io.StringIO()
    assert main(["--root", str(tmp_path / "r"), "net-define", str(f)], stdout=io.StringIO(),
                stderr=err) == 1
    assert f"limit is {MAX_NAME_BYTES} bytes" in err.getvalue() or \
        f"longer than {MAX_NAME_BYTES} bytes" in err.getvalue()
    with pytest.raises(KvmnetError):
        check_name(name_of(MAX_NAME_BYTES + 1))
