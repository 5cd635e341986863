"""A start or destroy killed at any instant converges (no root: a fake host stands in).

Every change the start and destroy code makes -- to the (fake) host, to the run record, to the
live status -- passes a tick before and after it; the test kills the process at tick k for
every k (a simulated SIGKILL: the exception escapes, and every later tick raises too, so no
clean-up code runs either), then plays the next commands a user would run and checks that
they converge: a network that looks active can be destroyed, one that does not can be started,
and after a final destroy nothing is left.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import pytest

from kvmnet import fileio
from kvmnet.config.store import Store
from kvmnet.engine.journal import Journal
from kvmnet.engine.steps import files as files_step
from kvmnet.engine.steps.dnsmasq import StartDnsmasq
from kvmnet.engine.steps.files import WriteFiles
from kvmnet.engine.steps.link import CreateBridge
from kvmnet.engine.steps.nft import NftTransaction
from kvmnet.errors import OperationInvalidError
from kvmnet.network import runtime
from kvmnet.network import start as starter
from kvmnet.network.runtime import Host, Runtime
from kvmnet.paths import Paths


class Killed(BaseException):
    """The simulated SIGKILL (a BaseException: the code under test catches Exception only)."""


class Clock:
    """Counts ticks; raises Killed from tick ``kill_at`` on (the process is dead from then)."""

    def __init__(self) -> None:
        self.count = 0
        self.kill_at: int | None = None
        self.dead = False

    def tick(self) -> None:
        if self.kill_at is None:
            return
        self.count += 1
        if self.dead or self.count >= self.kill_at:
            self.dead = True
            raise Killed

    def arm(self, kill_at: int | None) -> None:
        self.count, self.kill_at, self.dead = 0, kill_at, False


class World:
    """What exists on the fake host."""

    def __init__(self) -> None:
        self.links: set[str] = set()
        self.nft: set[str] = set()
        self.dnsmasq: set[str] = set()


class FakeNetlink:
    def __init__(self, world: World, clock: Clock) -> None:
        self.world, self.clock = world, clock

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def create_bridge(self, name: str, **_: Any) -> None:
        self.clock.tick()
        self.world.links.add(name)
        self.clock.tick()

    def set_link_up(self, name: str) -> None:
        pass

    def delete_link(self, name: str) -> None:
        self.clock.tick()
        self.world.links.discard(name)
        self.clock.tick()

    def link_info(self, name: str) -> dict[str, Any] | None:
        return {"kind": "bridge"} if name in self.world.links else None

    def addresses_within(self, spans: Any) -> list[Any]:
        return []


class FakeHost(Host):
    def __init__(self, world: World, clock: Clock) -> None:
        self.world, self.clock = world, clock

    def netlink(self) -> FakeNetlink:
        return FakeNetlink(self.world, self.clock)

    def nft_apply(self, document: str) -> None:
        self.clock.tick()
        verb, name = document.split()
        (self.world.nft.add if verb == "add" else self.world.nft.discard)(name)
        self.clock.tick()

    def sysctl_read(self, key: str) -> str | None:
        return "1"

    def sysctl_write(self, key: str, value: str) -> str | None:
        return "1"

    def dnsmasq_start(self, conf: str, pid_file: str, say: Any = None) -> int:
        self.clock.tick()
        self.world.dnsmasq.add(conf)
        Path(pid_file).write_text("4242\n")  # dnsmasq writes its pid file
        self.clock.tick()
        return 4242

    def dnsmasq_stop(self, pid_file: str, conf: str) -> None:
        self.clock.tick()
        self.world.dnsmasq.discard(conf)
        runtime.unlink(pid_file)
        self.clock.tick()


def program(paths: Paths, name: str, bridge: str) -> dict[str, Any]:
    rt = Runtime(paths, name)
    steps = (
        CreateBridge(name=bridge, stp=True, delay=0),
        NftTransaction(document=f"add {name}", destroy=f"delete {name}"),
        WriteFiles(files=[[str(rt.conf), "user=root\n", 0o644, "dnsmasq-conf"],
                          [str(rt.helper), "#!/bin/sh\n", 0o755, "files"]],
                   servers=[str(rt.servers), "/etc/resolv.conf"],
                   remove=[str(rt.leases), str(rt.leases) + ".lock"]),
        StartDnsmasq(conf=str(rt.conf), pid_file=str(rt.pid_file)),
    )
    return {
        "network": name, "uuid": "c0ffee00-0000-4000-8000-000000000001", "mode": "nat",
        "steps": [step.to_json() for step in steps],
        "status_xml": f"<network><name>{name}</name><bridge name='{bridge}'/></network>\n",
    }


class Env:
    def __init__(self, root: Path, clock: Clock) -> None:
        self.paths = Paths(root)
        self.store = Store(self.paths)
        self.world = World()
        self.clock = clock
        self.host = FakeHost(self.world, clock)

    def start(self, name: str = "net1", bridge: str = "virbr9") -> None:
        starter.start(program(self.paths, name, bridge), self.store, self.paths, self.host)

    def destroy(self, name: str = "net1") -> None:
        runtime.destroy(self.store, self.paths, name, self.host)

    def running(self, name: str = "net1", bridge: str = "virbr9") -> bool:
        rt = Runtime(self.paths, name)
        return (bridge in self.world.links and name in self.world.nft
                and str(rt.conf) in self.world.dnsmasq)

    def leftovers(self, name: str = "net1", bridge: str = "virbr9") -> list[str]:
        found = [f"link {x}" for x in self.world.links] + [f"nft {x}" for x in self.world.nft]
        found += [f"dnsmasq {x}" for x in self.world.dnsmasq]
        for directory in (self.paths.run_networks, self.paths.dnsmasq):
            if directory.is_dir():
                found += [f"file {p}" for p in directory.iterdir()]
        found += [f"claim {h}" for h in self.store.claims.status.holders("bridge", bridge)]
        return found


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """Ticks around every record, status and file change the start/destroy code makes."""
    clk = Clock()

    def ticking(fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            clk.tick()
            result = fn(*args, **kwargs)
            clk.tick()
            return result
        return wrapper

    monkeypatch.setattr(Journal, "save", ticking(Journal.save))
    monkeypatch.setattr(Journal, "delete", ticking(Journal.delete))
    monkeypatch.setattr(Store, "write_status", ticking(Store.write_status))
    monkeypatch.setattr(Store, "delete_status", ticking(Store.delete_status))
    monkeypatch.setattr(files_step, "write_file", ticking(files_step.write_file))
    monkeypatch.setattr(files_step, "unlink", ticking(files_step.unlink))
    monkeypatch.setattr(starter, "missing_programs", lambda steps: [])
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # hundreds of starts: durability is not tested here
    hook = threading.excepthook  # a "killed" teardown thread just ends, as in a real kill
    monkeypatch.setattr(threading, "excepthook",
                        lambda args: None if args.exc_type is Killed else hook(args))
    yield clk


def _ticks(tmp_path: Path, clock: Clock, destroy: bool) -> int:
    """How many ticks a whole start (or a start and a destroy) takes."""
    env = Env(tmp_path / "count", clock)
    if destroy:
        env.start()
    clock.arm(10**9)
    env.destroy() if destroy else env.start()
    total = clock.count
    clock.arm(None)
    return total


def _converges(env: Env) -> None:
    """The next commands after a kill: they work, and leave nothing after a final destroy."""
    env.clock.arm(None)
    if env.store.is_active("net1") and env.running():
        # truly up: a start is refused, a destroy works
        with pytest.raises(OperationInvalidError, match="already active"):
            env.start()
    else:
        env.start()  # not active, or active with nothing running: it starts cleanly
        assert env.running() and env.store.is_active("net1")
    env.destroy()
    assert not env.store.is_active("net1")
    assert env.leftovers() == []
    env.start()  # and again from the clean state
    assert env.running()
    env.destroy()
    assert env.leftovers() == []


@pytest.mark.parametrize("during", ["start", "destroy"])
def test_kill_at_every_step_converges(tmp_path: Path, clock: Clock, during: str) -> None:
    total = _ticks(tmp_path, clock, destroy=during == "destroy")
    assert total >= 8
    print(f"{during}: killed at each of {total} ticks")
    for k in range(1, total + 1):
        env = Env(tmp_path / f"k{k}", clock)
        if during == "destroy":
            env.start()
        clock.arm(k)
        with pytest.raises(Killed):
            env.destroy() if during == "destroy" else env.start()
        try:
            _converges(env)
        except BaseException as exc:
            raise AssertionError(f"killed at tick {k} of {total} during {during}: "
                                 f"{exc!r}; left {env.leftovers()}") from exc


def test_readers_see_a_network_inactive_once_its_destroy_began(tmp_path: Path,
                                                              clock: Clock) -> None:
    # the first change a destroy makes is dropping the live status: the kill right after it
    env = Env(tmp_path, clock)
    env.start()
    clock.arm(3)  # before/after delete_status's tick pair, then the next change
    with pytest.raises(Killed):
        env.destroy()
    clock.arm(None)
    assert env.running()  # nothing taken down yet ...
    assert not env.store.is_active("net1")  # ... but readers no longer call it active
    assert env.store.entries() == []
    env.start()  # finishes the teardown first, then starts
    assert env.running()


def test_ghost_status_without_record_does_not_block_start(tmp_path: Path, clock: Clock) -> None:
    # what an older kvmnet left when killed between deleting the record and the status
    env = Env(tmp_path, clock)
    env.start()
    env.destroy()
    env.store.write_status("net1", program(env.paths, "net1", "virbr9")["status_xml"])
    env.start()
    assert env.running()


def test_bridge_gone_from_an_active_network_is_an_interrupted_destroy(tmp_path: Path,
                                                                      clock: Clock) -> None:
    # net-destroy's head start deletes the bridge before the teardown drops the status
    env = Env(tmp_path, clock)
    env.start()
    env.world.links.discard("virbr9")
    env.start()
    assert env.running()
    env.destroy()
    assert env.leftovers() == []


def test_half_destroyed_network_gives_way_to_another_on_its_bridge(tmp_path: Path,
                                                                   clock: Clock) -> None:
    # a transient network killed mid-destroy has no name left to destroy; a new network that
    # wants its bridge finishes that teardown rather than fail or share the bridge
    env = Env(tmp_path, clock)
    env.start()
    clock.arm(3)
    with pytest.raises(Killed):
        env.destroy()
    clock.arm(None)
    env.start("net2", "virbr9")
    assert env.running("net2", "virbr9")
    assert "net1" not in env.world.nft and not (env.paths.run_networks / "net1.json").exists()
    env.destroy("net2")
    assert env.leftovers("net2") == []


def test_destroy_finishes_a_half_destroyed_network(tmp_path: Path, clock: Clock) -> None:
    env = Env(tmp_path, clock)
    env.start()
    clock.arm(3)
    with pytest.raises(Killed):
        env.destroy()
    clock.arm(None)
    env.destroy()  # no status any more, but a record: finish it
    assert env.leftovers() == []
    with pytest.raises(OperationInvalidError, match="not active"):
        env.destroy()


# -- stale temporary files ---------------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_next_write_removes_temporaries_of_dead_writers_only(tmp_path: Path) -> None:
    dead, live = _dead_pid(), os.getppid()
    stale = tmp_path / f".tmp-{dead}-0123456789ab-net1.json"
    busy = tmp_path / f".tmp-{live}-0123456789ab-net2.json"
    mine = tmp_path / f".tmp-{os.getpid()}-0123456789ab-net3.json"
    odd = tmp_path / ".tmp-notapid-net4.json"
    for p in (stale, busy, mine, odd):
        p.write_text("{}")
    getattr(fileio, "_swept", {}).pop(str(tmp_path), None)
    fileio.atomic_write(tmp_path / "net5.json", b"{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [busy.name, mine.name, odd.name, "net5.json"])
    # once per directory and process: a second write does not list the directory again
    stale.write_text("{}")
    fileio.atomic_write(tmp_path / "net5.json", b"{}")
    assert stale.exists()


def test_destroy_removes_temporaries_a_killed_start_left(tmp_path: Path, clock: Clock) -> None:
    env = Env(tmp_path, clock)
    env.start()
    rec = Journal.load(Runtime(env.paths, "net1").record)
    assert rec is not None
    rec.state = "starting"  # killed before it finished
    rec.save()
    dead = _dead_pid()
    for directory in (env.paths.run_networks, env.paths.dnsmasq):
        (directory / f".tmp-{dead}-0123456789ab-net1.conf").write_text("x")
        getattr(fileio, "_swept", {}).pop(str(directory), None)
    env.destroy()
    assert env.leftovers() == []


def test_next_start_removes_temporaries_a_clean_destroy_left(tmp_path: Path,
                                                             clock: Clock) -> None:
    # a clean destroy does not list the directories (a listing per 1,000 networks is ~1 ms):
    # the next write there does
    env = Env(tmp_path, clock)
    env.start()
    dead = _dead_pid()
    stale = [d / f".tmp-{dead}-0123456789ab-net1.conf"
             for d in (env.paths.run_networks, env.paths.dnsmasq)]
    for path in stale:
        path.write_text("x")
        getattr(fileio, "_swept", {}).pop(str(path.parent), None)
    env.destroy()
    env.start()
    assert not any(p.exists() for p in stale)
    env.destroy()
    assert env.leftovers() == []
