"""The claim index behind define's UUID and bridge checks (kvmnet.config.claims).

What a user relies on: define refuses what another network uses and picks the lowest free
virbrN, whether the index is fresh, left over from a crash, missing (an older kvmnet), or
blind to files copied into the store by hand."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kvmnet.api import Connection
from kvmnet.config.claims import BRIDGE, UUID, decode, encode
from kvmnet.config.define import ClaimedOthers, OtherList, define, gather
from kvmnet.config.store import Layout, Store, peek_xml
from kvmnet.errors import ConflictError, NotFoundError

U = "0b5c8b1e-3c39-4e4b-9a55-1f6c2b0a7d{:02x}"


def xml(name: str, i: int | None = None, bridge: str | None = None,
        mode: str = "none") -> str:
    uuid = f"<uuid>{U.format(i)}</uuid>" if i is not None else ""
    br = f"<bridge name='{bridge}'/>" if bridge else ""
    fwd = f"<forward mode='{mode}'/>" if mode != "none" else ""
    return f"<network><name>{name}</name>{uuid}{fwd}{br}</network>"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(Layout(tmp_path))


def fresh(store: Store) -> Store:
    """Another process's view of the same store."""
    return Store(store.paths)


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")
                  if p.is_file() or p.is_symlink())


def test_defines_use_the_index_and_see_every_other_network(store: Store) -> None:
    for i in range(5):
        define(fresh(store), xml(f"n{i}", i))
    s = fresh(store)
    others, previous = gather(s, "new")
    assert isinstance(others, ClaimedOthers) and previous == []
    assert others.bridges() == {f"virbr{i}" for i in range(5)}
    assert others.uuid_user(U.format(3)) == "n3"
    assert others.bridge_users("virbr2") == [("n2", True)]
    assert define(s, xml("new")).bridge_name == "virbr5"
    with pytest.raises(ConflictError, match="uuid .* is already used by network 'n1'"):
        define(fresh(store), xml("dup", 1))
    with pytest.raises(ConflictError, match="bridge name 'virbr4' is already used by network"
                                            " 'n4'"):
        define(fresh(store), xml("dupbr", bridge="virbr4"))
    # a network's own claims are no conflict: redefining keeps its bridge
    assert define(fresh(store), xml("n2", 2)).bridge_name == "virbr2"


def test_undefine_and_redefine_release_what_the_old_file_claimed(store: Store) -> None:
    define(store, xml("a", 1))
    define(store, xml("b", 2))
    assert define(fresh(store), xml("a", 1, bridge="lab0")).bridge_name == "lab0"
    # virbr0 is free again, and the next generated name takes it
    assert define(fresh(store), xml("c")).bridge_name == "virbr0"
    Connection(store.paths.root).networkLookupByName("b").undefine()
    s = fresh(store)
    assert s.claims.valid()
    others, _ = gather(s, "x")
    assert others.uuid_user(U.format(2)) is None and others.bridge_users("virbr1") == []
    assert define(s, xml("d", 2)).bridge_name == "virbr1"


def test_live_states_claim_too_and_leave_no_file_when_gone(store: Store) -> None:
    define(store, xml("a", 1))
    s = fresh(store)
    s.write_status("t", xml("t", 7, bridge="virbr9"))  # a transient network's live state
    with pytest.raises(ConflictError, match="'t'"):
        define(fresh(store), xml("x", bridge="virbr9"))
    with pytest.raises(ConflictError, match="'t'"):
        define(fresh(store), xml("y", 7))
    assert fresh(store).delete_status("t")
    define(fresh(store), xml("x", bridge="virbr9"))
    # once no network is active, run/ holds no claim file (only empty directories)
    assert files_under(store.paths.run) == []


def test_a_claim_left_by_a_crash_is_no_conflict(store: Store) -> None:
    define(store, xml("a", 1))
    s = fresh(store)
    # a crash after the claims were made but before the file was written
    s.claims.config.claim("ghost", peek_xml(xml("ghost", 9, bridge="virbr5")))
    s.claims.status.claim("a", peek_xml(xml("a", 1, bridge="virbr6")))  # a is not active
    assert define(fresh(store), xml("b", 9, bridge="virbr5")).bridge_name == "virbr5"
    assert define(fresh(store), xml("c", bridge="virbr6")).bridge_name == "virbr6"
    # a generated name never lands on a claimed one, stale or not
    assert define(fresh(store), xml("d")).bridge_name == "virbr1"


def test_files_copied_in_by_hand_are_seen(store: Store) -> None:
    define(store, xml("a", 1))
    # migrating from libvirt: a definition copied into the directory, not through kvmnet
    (store.paths.networks / "copied.xml").write_text(xml("copied", 5, bridge="virbr1"))
    s = fresh(store)
    assert not s.claims.valid()
    others, _ = gather(s, "n", rebuild=False)  # a reader: reads every file, writes nothing
    assert isinstance(others, OtherList) and others.bridge_users("virbr1") == [("copied", True)]
    assert not s.claims.valid()
    with pytest.raises(ConflictError, match="'copied'"):
        define(fresh(store), xml("b", bridge="virbr1"))
    assert fresh(store).claims.valid()  # define rebuilt the index
    assert define(fresh(store), xml("b")).bridge_name == "virbr2"
    with pytest.raises(ConflictError, match="'copied'"):
        define(fresh(store), xml("c", 5))


def test_a_store_from_before_the_index_is_indexed_on_first_define(store: Store) -> None:
    for i in range(3):
        define(store, xml(f"n{i}", i))
    fresh(store).write_status("n1", xml("n1", 1, bridge="virbr1"))
    for path in (store.paths.etc / ".claims", store.paths.run / ".claims"):
        shutil.rmtree(path)
    assert not fresh(store).claims.valid()
    with pytest.raises(ConflictError, match="'n1'"):
        define(fresh(store), xml("x", 1))
    assert fresh(store).claims.valid()
    others, _ = gather(fresh(store), "x")
    assert others.bridge_users("virbr1") == [("n1", True), ("n1", True)]  # config and state


def test_damaged_file_claims_nothing(store: Store) -> None:
    define(store, xml("a", 1))
    store.config_path("a").write_text("<network><name>a</name")  # damaged (and unindexed)
    # its UUID and bridge are free for another network (the file is repaired by redefining)
    assert define(fresh(store), xml("b", 1, bridge="virbr0")).bridge_name == "virbr0"


def test_bridge_mode_networks_share_a_host_bridge_through_the_index(store: Store) -> None:
    define(store, xml("h1", 1, bridge="br0", mode="bridge"))
    define(fresh(store), xml("h2", 2, bridge="br0", mode="bridge"))
    with pytest.raises(ConflictError, match="already used by network 'h[12]'"):
        define(fresh(store), xml("nat", bridge="br0"))
    define(fresh(store), xml("own", 3, bridge="virbr3"))
    with pytest.raises(ConflictError, match="bridge that network 'own' creates"):
        define(fresh(store), xml("h3", bridge="virbr3", mode="bridge"))


def test_lookup_by_uuid_through_the_index_and_without_it(store: Store) -> None:
    define(store, xml("a", 1))
    define(fresh(store), xml("b", 2))
    conn = Connection(store.paths.root)
    assert conn.networkLookupByUUIDString(U.format(2).upper()).name() == "b"
    with pytest.raises(NotFoundError):
        conn.networkLookupByUUIDString(U.format(3))
    (store.paths.networks / "c.xml").write_text(xml("c", 3))  # index no longer trusted
    assert Connection(store.paths.root).networkLookupByUUIDString(U.format(3)).name() == "c"


def test_readers_create_nothing(tmp_path: Path) -> None:
    store = Store(Layout(tmp_path / "root"))
    others, previous = gather(store, "x", rebuild=False)
    assert others.bridges() == set() and previous == []
    with pytest.raises(NotFoundError):
        Connection(store.paths.root).networkLookupByUUIDString(U.format(1))
    assert not (tmp_path / "root").exists()


def test_autostart_directory_keeps_the_index_trusted(store: Store) -> None:
    define(store, xml("a", 1))
    conn = Connection(store.paths.root)
    conn.networkLookupByName("a").setAutostart(True)
    assert fresh(store).claims.valid()


@pytest.mark.parametrize("value", ["virbr0", "a/b", ".hidden", "50%", "%2F", "x" * 200])
def test_values_survive_as_directory_names(value: str) -> None:
    key = encode(value)
    assert key is not None and "/" not in key and not key.startswith(".")
    assert decode(key) == value


def test_values_too_long_or_empty_are_not_indexed(store: Store) -> None:
    assert encode("") is None and encode("x" * 201) is None
    assert decode("50%zz") == "50%zz"  # not made by encode: taken as it is
    tree = store.claims.config
    tree.claim("a", peek_xml(xml("a", 1, bridge="y" * 300)))
    assert tree.holders(BRIDGE, "y" * 300) == [] and tree.holders(UUID, U.format(1)) == ["a"]
    assert tree.values(BRIDGE) == []


def test_an_index_that_cannot_be_written_never_blocks_a_write(store: Store) -> None:
    define(store, xml("a", 1))
    uuid_dir = store.paths.etc / ".claims" / UUID
    shutil.rmtree(uuid_dir)
    uuid_dir.write_text("in the way")  # claims of UUIDs can no longer be made
    define(fresh(store), xml("b", 2))
    assert store.read_config("b") is not None
    assert not fresh(store).claims.valid()
    # the checks still see every network (by reading the files)
    with pytest.raises(ConflictError, match="'b'"):
        define(fresh(store), xml("c", 2))
    with pytest.raises(ConflictError, match="'a'"):
        define(fresh(store), xml("d", bridge="virbr0"))
