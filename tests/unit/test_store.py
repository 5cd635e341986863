"""The on-disk store: layout, atomic writes, locking, fast listing and peeking."""
from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from kvmnet.config.store import (
    CorruptStoreError,
    Entry,
    Layout,
    Store,
    atomic_write,
    check_name,
    header_comment,
    peek_xml,
    strip_header,
)
from kvmnet.errors import InvalidArgError, XMLParseError
from kvmnet.paths import MAX_NAME_BYTES, Paths
from kvmnet.xmlio.canon import canonical_uuid

NET = """<network>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <forward mode='nat'/>
  <bridge name='{bridge}' stp='on' delay='0'/>
  <mac address='52:54:00:12:34:56'/>
  <ip address='192.168.150.1' netmask='255.255.255.0'>
  </ip>
</network>
"""
UUID = "0b5c8b1e-3c39-4e4b-9a55-1f6c2b0a7d01"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(Layout(tmp_path))


def snapshot(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = path.read_text()
    return out


def test_layout_matches_paths(tmp_path: Path) -> None:
    layout, paths = Layout(tmp_path), Paths.from_env(tmp_path)
    for attr in ("root", "etc", "networks", "autostart", "run_networks", "lock"):
        assert getattr(layout, attr) == getattr(paths, attr), attr


def test_layout_default_root_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KVMNET_ROOT", str(tmp_path))
    assert Layout().root == tmp_path
    monkeypatch.delenv("KVMNET_ROOT")
    assert Layout().root == Path("/")


def test_store_accepts_paths_object(tmp_path: Path) -> None:
    store = Store(Paths.from_env(tmp_path))
    store.write_config("a", NET.format(name="a", uuid=UUID, bridge="virbr0"))
    assert (tmp_path / "etc/kvmnet/networks/a.xml").is_file()


@pytest.mark.parametrize("name", ["", "a/b", ".", "..", ".hidden", "a\nb", "a\x00b", "tab\there",
                                  "x" * (MAX_NAME_BYTES + 1), "é" * 109])
def test_check_name_rejects(name: str) -> None:
    with pytest.raises(InvalidArgError):
        check_name(name)


@pytest.mark.parametrize("name", ["default", "a.b", "with space", "ünïcode", "x" * MAX_NAME_BYTES, "a-b_c:1"])
def test_check_name_accepts(name: str) -> None:
    check_name(name)


def test_unsafe_names_never_touch_files(store: Store) -> None:
    assert store.read_config("../../etc/passwd") is None
    assert store.entry("..") is None
    assert not store.is_active("../x")
    with pytest.raises(InvalidArgError):
        store.write_config("../evil", "<network/>")


def test_atomic_write_replaces_and_leaves_no_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "f.xml"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.xml"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_atomic_write_failure_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "f.xml"
    atomic_write(target, b"old")
    (tmp_path / "sub").mkdir()
    with pytest.raises(OSError):
        atomic_write(tmp_path / "sub", b"new")  # renaming a file over a directory fails
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.xml", "sub"]


def test_config_round_trip_with_header(store: Store) -> None:
    xml = NET.format(name="net1", uuid=UUID, bridge="virbr0")
    store.write_config("net1", xml)
    raw = store.config_path("net1").read_text()
    assert raw.startswith("<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE.")
    assert "kvmnet net-edit net1" in raw
    assert store.read_config("net1") == xml
    assert store.is_persistent("net1")
    assert store.entries() == [Entry("net1", persistent=True, active=False, autostart=False)]


def test_header_leaves_out_names_that_break_comments() -> None:
    assert "net-edit a--b" not in header_comment("a--b")
    assert "net-edit ends-" not in header_comment("ends-")
    assert strip_header(header_comment("x") + "<network/>") == "<network/>"
    assert strip_header("<network/>") == "<network/>"


def test_autostart_link_is_relative_and_removed_with_config(store: Store) -> None:
    store.write_config("n", NET.format(name="n", uuid=UUID, bridge="virbr0"))
    store.set_autostart("n", True)
    store.set_autostart("n", True)  # idempotent
    link = store.autostart_path("n")
    assert link.is_symlink() and os.readlink(link) == "../n.xml"
    assert link.resolve() == store.config_path("n").resolve()
    assert store.is_autostart("n")
    assert store.entry("n") == Entry("n", True, False, True)
    store.set_autostart("n", False)
    store.set_autostart("n", False)
    assert not store.is_autostart("n")
    store.set_autostart("n", True)
    assert store.delete_config("n")
    assert not os.path.lexists(link)
    assert store.entries() == []
    assert not store.delete_config("n")


def test_status_files_make_networks_active_or_transient(store: Store) -> None:
    store.write_config("p", NET.format(name="p", uuid=UUID, bridge="virbr0"))
    store.write_status("p", NET.format(name="p", uuid=UUID, bridge="virbr0"))
    store.write_status("t", NET.format(name="t", uuid="0b5c8b1e-3c39-4e4b-9a55-1f6c2b0a7d02",
                                       bridge="virbr1"))
    got = sorted(store.entries(), key=lambda e: e.name)
    assert got == [Entry("p", True, True, False), Entry("t", False, True, False)]
    assert store.is_active("t") and not store.is_persistent("t")
    assert store.read_status("t") is not None
    assert stat.S_IMODE(store.status_path("t").stat().st_mode) == 0o600
    assert store.delete_status("t")
    assert not store.delete_status("t")
    assert store.entry("t") is None


def test_listing_ignores_temporaries_and_junk(store: Store) -> None:
    store.write_config("ok", NET.format(name="ok", uuid=UUID, bridge="virbr0"))
    d = store.paths.networks
    (d / ".tmp-1-abc.xml").write_text("partial")
    (d / "notes.txt").write_text("x")
    (d / ".xml").write_text("x")
    assert [e.name for e in store.entries()] == ["ok"]


def test_peek_reads_fields_without_lxml() -> None:
    p = peek_xml(NET.format(name="a&amp;b", uuid=UUID.upper(), bridge="virbr3"))
    assert (p.name, p.uuid, p.mode, p.bridge, p.mac) == ("a&b", UUID, "nat", "virbr3",
                                                         "52:54:00:12:34:56")
    assert p.owns_bridge


def test_peek_defaults() -> None:
    assert peek_xml("<network><name>i</name></network>").mode == "none"
    assert peek_xml("<network><name>i</name><forward/></network>").mode == "nat"
    bridged = peek_xml("<network><name>b</name><forward mode='bridge'/>"
                       "<bridge name='br0'/></network>")
    assert bridged.bridge == "br0" and not bridged.owns_bridge
    compact = peek_xml("<network><name>w</name><uuid>0b5c8b1e3c394e4b9a551f6c2b0a7d01</uuid>"
                       "</network>")
    assert (compact.name, compact.uuid) == ("w", UUID)


def test_peek_ignores_nested_lookalikes() -> None:
    xml = ("<network><name>n</name><metadata><x:bridge xmlns:x='urn:x' name='fake'/>"
           "<uuid>nope</uuid></metadata><bridge name='real'/></network>")
    p = peek_xml(xml)
    assert p.bridge == "real" and p.uuid is None


@pytest.mark.parametrize("doc", [
    "<network><name>x</name>",
    "<domain/>",
    "<networkstatus><network><name>w</name></network></networkstatus>",
    "<!DOCTYPE network [<!ENTITY a 'b'>]><network><name>&a;</name></network>",
    "",
])
def test_peek_rejects(doc: str) -> None:
    with pytest.raises(XMLParseError):
        peek_xml(doc)


def test_corrupt_file_is_reported_with_fix(store: Store) -> None:
    store.paths.networks.mkdir(parents=True)
    (store.paths.networks / "bad.xml").write_text("<network><name>bad")
    with pytest.raises(CorruptStoreError, match="fix the file by hand or remove it"):
        store.peek_config("bad")
    (store.paths.networks / "bin.xml").write_bytes(b"\xff\xfe<network/>")
    with pytest.raises(CorruptStoreError, match="not UTF-8"):
        store.read_config("bin")


def test_canonical_uuid() -> None:
    assert canonical_uuid(UUID.replace("-", "").upper()) == UUID
    assert canonical_uuid(" " + UUID + " ") == UUID
    assert canonical_uuid("not-a-uuid") == "not-a-uuid"


def _try_lock(lock_path: str, queue: multiprocessing.Queue[bool]) -> None:
    import fcntl

    fd = os.open(lock_path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        queue.put(True)
    except BlockingIOError:
        queue.put(False)
    finally:
        os.close(fd)


def test_lock_excludes_other_processes_and_is_reentrant(store: Store) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[bool] = ctx.Queue()
    with store.locked():
        with store.locked():  # re-entrant in one process
            store.write_config("n", NET.format(name="n", uuid=UUID, bridge="virbr0"))
        proc = ctx.Process(target=_try_lock, args=(str(store.paths.lock), queue))
        proc.start()
        proc.join(30)
        assert queue.get(timeout=5) is False
    proc = ctx.Process(target=_try_lock, args=(str(store.paths.lock), queue))
    proc.start()
    proc.join(30)
    assert queue.get(timeout=5) is True


def test_reads_do_not_create_anything(tmp_path: Path) -> None:
    store = Store(Layout(tmp_path / "root"))
    assert store.entries() == []
    assert store.read_config("x") is None
    assert store.peek_status("x") is None
    assert not (tmp_path / "root").exists()


def _bridges(store: Store) -> dict[str, list[str | None]]:
    out: dict[str, list[str | None]] = {}
    for status in (False, True):
        for name, peek in store.peeks(status):
            out.setdefault(name, []).append(peek.bridge)
    return out


def test_peeks_read_every_file_and_skip_damaged_ones(store: Store) -> None:
    for i in range(3):
        store.write_config(f"n{i}", NET.format(name=f"n{i}", uuid=UUID[:-2] + f"{i:02d}",
                                               bridge=f"br{i}"))
    store.write_status("n0", NET.format(name="n0", uuid=UUID[:-2] + "00", bridge="live0"))
    assert _bridges(store) == {"n0": ["br0", "live0"], "n1": ["br1"], "n2": ["br2"]}
    store.config_path("n1").write_text("<network><name>n1</name>")  # torn by hand
    assert _bridges(store) == {"n0": ["br0", "live0"], "n2": ["br2"]}
