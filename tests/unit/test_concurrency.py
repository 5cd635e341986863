"""Many kvmnet processes at once: no lost definition, no torn file, no shared bridge."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kvmnet.config.store import Layout, Store, peek_xml
from kvmnet.xmlio.network import parse_network

REPO = Path(__file__).resolve().parents[2]


def netxml(name: str, third: int, hosts: int = 0, uuid: str | None = None) -> str:
    u = f"<uuid>{uuid}</uuid>" if uuid else ""
    host_lines = "".join(
        f"<host mac='00:16:3e:00:{third:02x}:{i:02x}' ip='10.{third}.0.{i + 10}'/>"
        for i in range(hosts))
    return (f"<network><name>{name}</name>{u}<forward mode='nat'/>"
            f"<ip address='10.{third}.0.1' netmask='255.255.255.0'><dhcp>"
            f"<range start='10.{third}.0.100' end='10.{third}.0.200'/>{host_lines}"
            "</dhcp></ip></network>\n")


def spawn(root: Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, KVMNET_ROOT=str(root))
    return subprocess.Popen([sys.executable, "-m", "kvmnet", *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        results.append((p.returncode, out, err))
    return results


def test_32_processes_define_different_networks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    files = []
    for i in range(32):
        f = tmp_path / f"net{i}.xml"
        f.write_text(netxml(f"net{i}", i))
        files.append(f)
    results = finish([spawn(root, "net-define", str(f)) for f in files])
    assert [r[0] for r in results] == [0] * 32, [r[2] for r in results if r[0]]

    store = Store(Layout(root))
    names = {e.name for e in store.entries()}
    assert names == {f"net{i}" for i in range(32)}
    bridges, uuids = set(), set()
    for name in names:
        text = store.read_config(name)
        assert text is not None
        net = parse_network(text)  # every file complete and parseable
        assert net.name == name
        bridges.add(net.bridge_name)
        uuids.add(net.uuid)
    # the lock made bridge assignment race-free: virbr0..virbr31, each once
    assert bridges == {f"virbr{i}" for i in range(32)}
    assert len(uuids) == 32
    leftovers = [p.name for p in store.paths.networks.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_concurrent_redefine_of_one_network_never_tears(tmp_path: Path) -> None:
    root = tmp_path / "root"
    uuid = "9d3c2a1b-0f4e-4d6c-8b7a-112233445566"
    variants = []
    for i in range(16):
        f = tmp_path / f"v{i}.xml"
        # different sizes so that a torn or interleaved write could not parse as any of them
        f.write_text(netxml("shared", 7, hosts=i * 7, uuid=uuid))
        variants.append(f)
    procs = [spawn(root, "net-define", str(f)) for f in variants]
    # readers running at the same time must always see a whole file
    readers = [spawn(root, "net-dumpxml", "shared") for _ in range(8)]
    results = finish(procs)
    assert all(r[0] == 0 for r in results), [r[2] for r in results]
    for rc, out, err in finish(readers):
        if rc == 0:
            parse_network(out)
        else:
            assert "not found" in err  # a reader may run before the first define lands

    store = Store(Layout(root))
    text = store.read_config("shared")
    assert text is not None
    net = parse_network(text)
    assert net.uuid == uuid and net.bridge_name == "virbr0"
    assert net.ips[0].dhcp is not None
    assert len(net.ips[0].dhcp.hosts) in {i * 7 for i in range(16)}
    assert peek_xml(text).mac is not None


def test_define_and_undefine_race_leaves_consistent_store(tmp_path: Path) -> None:
    root = tmp_path / "root"
    files = []
    for i in range(8):
        f = tmp_path / f"n{i}.xml"
        f.write_text(netxml(f"n{i}", 40 + i))
        files.append(f)
    assert all(r[0] == 0 for r in finish([spawn(root, "net-define", str(f)) for f in files]))
    procs = []
    for i in range(8):
        procs.append(spawn(root, "net-autostart", f"n{i}"))
        if i % 2:
            procs.append(spawn(root, "net-undefine", f"n{i}"))
    finish(procs)
    store = Store(Layout(root))
    assert {e.name for e in store.entries()} == {f"n{i}" for i in range(0, 8, 2)}
    # no autostart link outlives its definition
    links = {p.name for p in store.paths.autostart.iterdir()}
    assert links <= {f"n{i}.xml" for i in range(0, 8, 2)}
