"""kvmnet killed at random times during net-start and net-destroy: the next command converges.

Each iteration runs ``kvmnet net-start`` or ``net-destroy`` (or ``net-create`` for a transient
network) in the host namespace and SIGKILLs it 0-300 ms later, wherever it is; then one of the
commands a user would run next (net-list, net-info, net-start, net-destroy), with checks:

* a network reported active still runs (its dnsmasq and nft elements; its bridge too unless the
  kill came during a destroy, whose head start deletes the bridge first);
* a network reported inactive starts cleanly;
* after a destroy nothing is left: no link beyond the namespace's own, no nft element, no
  dnsmasq, no run-time or temporary file -- and the network starts again.

Bounded and seeded: ``KVMNET_KILL_ITERATIONS`` (default 40 for the persistent network, a
third of that for the transient one) and ``KVMNET_KILL_SEED`` (default: random, printed, and
named in every failure so that a run can be repeated).
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.functional.kvmnet_env import (
    IP,
    KVMNET,
    KvEnv,
    describe,
    error_lines,
    example,
    kvenv,
    requires_kvmnet_root,
)

pytestmark = requires_kvmnet_root
__all__ = ["kvenv"]

NAME, BRIDGE = "default", "virbr0"
ITERATIONS = int(os.environ.get("KVMNET_KILL_ITERATIONS", "40"))
MAX_DELAY = 0.3


def _seed() -> int:
    value = os.environ.get("KVMNET_KILL_SEED")
    return int(value) if value else random.SystemRandom().randrange(1 << 32)


class Run:
    """The state of one seeded run: what happened, for failure messages."""

    def __init__(self, kvenv: KvEnv, seed: int) -> None:
        self.kvenv = kvenv
        self.seed = seed
        self.rng = random.Random(seed)
        self.log: list[str] = []
        self.killed = self.finished = 0
        self.took: dict[str, float] = {}
        self.baseline = self.links()

    def fail(self, text: str) -> None:
        raise AssertionError(f"KVMNET_KILL_SEED={self.seed}: {text}\nsteps: "
                             + " | ".join(self.log[-8:]) + "\n" + self.kvenv.debug_state())

    def links(self) -> set[str]:
        out = self.kvenv.host.run([IP, "-o", "link", "show"]).stdout
        return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}

    def timed(self, verb: str, command: Callable[[], subprocess.CompletedProcess[str]]
              ) -> subprocess.CompletedProcess[str]:
        """Run a whole command, remembering how long ``verb`` takes here."""
        began = time.monotonic()
        proc = command()
        if proc.returncode == 0:
            self.took[verb] = time.monotonic() - began
        return proc

    def kill_during(self, *args: str) -> None:
        """Run ``kvmnet ARGS`` and SIGKILL it after a random delay (if still running).

        The delay is drawn from 0-300 ms, or from 0 to a little more than the command took
        when it ran whole here, if that is shorter: a kill after the end tests nothing.
        """
        delay = self.rng.uniform(0, min(MAX_DELAY, 1.1 * self.took.get(args[0], MAX_DELAY)))
        env = dict(os.environ, KVMNET_ROOT=str(self.kvenv.root))
        proc = subprocess.Popen([IP, "netns", "exec", self.kvenv.host.name, KVMNET, *args],
                                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # ip netns exec execs kvmnet itself
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        rc = proc.wait()
        killed = rc == -signal.SIGKILL
        if killed:
            self.settle()
        self.killed += killed
        self.finished += not killed
        self.log.append(f"{' '.join(args)} {'killed' if killed else f'exit {rc}'} "
                        f"at {delay * 1000:.0f} ms")

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until no kvmnet process is left in the namespace.  A killed net-destroy may
        leave its head start's child (kvmnet.cli.entry), which finishes the bridge deletion
        it asked the kernel for, as a request of the killed process itself would finish in
        the kernel; what the next command sees must not depend on that child's timing."""
        deadline = time.monotonic() + timeout
        while True:
            pids = subprocess.run([IP, "netns", "pids", self.kvenv.host.name], check=True,
                                  capture_output=True, text=True).stdout.split()
            left = []
            for pid in pids:
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        if KVMNET.encode() in f.read():
                            left.append(pid)
                except OSError:
                    continue
            if not left:
                return
            if time.monotonic() > deadline:
                self.fail(f"kvmnet processes still running {timeout} s after a kill: {left}")
            time.sleep(0.005)

    def active(self) -> bool | None:
        """What net-info says: True, False, or None when the network is unknown."""
        proc = self.kvenv.kv("net-info", NAME)
        if proc.returncode != 0:
            if "not found" not in proc.stderr:
                self.fail(describe(proc))
            return None
        fields = dict(line.split(":", 1) for line in proc.stdout.splitlines() if ":" in line)
        value = fields.get("Active", "").strip()
        listed = NAME in self.kvenv.ok("net-list", "--name").stdout.split()
        if listed != (value == "yes"):
            self.fail(f"net-info says Active: {value}, net-list {'lists' if listed else 'omits'}"
                      " it among the active networks")
        return value == "yes"

    def check_running(self, bridge_too: bool) -> None:
        kvenv = self.kvenv
        problems = []
        if not kvenv.dnsmasq_of(NAME):
            problems.append("no dnsmasq")
        table = kvenv.nft_table()
        if table is None or f'"{BRIDGE}"' not in table:
            problems.append("no nft elements")
        if bridge_too and not kvenv.link_exists(BRIDGE):
            problems.append(f"no link {BRIDGE}")
        if problems:
            self.fail("reported active, but " + ", ".join(problems))

    def check_clean(self, temporaries: bool = False) -> None:
        kvenv = self.kvenv
        try:
            kvenv.assert_clean(NAME, BRIDGE)
        except AssertionError as exc:
            self.fail(str(exc))
        extra = self.links() - self.baseline
        if extra:
            self.fail(f"links left: {sorted(extra)}")
        # temporary files of a killed writer go with the next write into their directory
        names = [p for d in (kvenv.run_dir, kvenv.dnsmasq_dir) if d.is_dir()
                 for p in d.iterdir() if not p.name.startswith(".tmp-")]
        if names:
            self.fail(f"run-time files left: {names}")
        if temporaries:
            temps = [str(p) for p in Path(kvenv.root).rglob(".tmp-*")]
            if temps:
                self.fail(f"temporary files left: {temps}")

    def expect(self, proc: subprocess.CompletedProcess[str], ok: bool, what: str) -> None:
        if (proc.returncode == 0) != ok or (not ok and len(error_lines(proc)) != 1):
            self.fail(f"{what}:\n{describe(proc)}")


def _next_command(run: Run, during: str, start: Callable[[], subprocess.CompletedProcess[str]],
                  transient: bool) -> None:
    """One command a user would run next, chosen at random, and what it must do."""
    kvenv = run.kvenv
    state = run.active()
    if state:
        run.check_running(bridge_too=during != "destroy")
    verb = run.rng.choice(["net-list", "net-info", "net-start", "net-destroy"])
    run.log.append(f"then {verb} (active: {state})")
    if verb == "net-start":
        had_bridge = kvenv.link_exists(BRIDGE)
        proc = start()
        if state and during == "destroy" and proc.returncode != 0:
            # still up (its bridge too, when the start looked): refused; a destroy killed
            # after its head start deleted the bridge is finished by the start instead
            run.expect(proc, False, "a running network must refuse to start again")
            run.check_running(bridge_too=False)
        elif state and had_bridge:
            run.expect(proc, False, "a running network must refuse to start again")
        else:
            run.expect(proc, True, "a network that is not running must start")
            run.check_running(bridge_too=True)
    elif verb == "net-destroy":
        proc = kvenv.kv("net-destroy", NAME)
        if state:
            run.expect(proc, True, "an active network must be destroyed")
        if proc.returncode == 0 or not state:
            run.check_clean()  # destroyed, finished an interrupted destroy, or nothing to do
    elif verb == "net-list":
        kvenv.ok("net-list", "--all")
    # net-info: run.active() above already asked it


def _random_kills(kvenv: KvEnv, transient: bool, iterations: int) -> None:
    seed = _seed()
    print(f"random kills: KVMNET_KILL_SEED={seed} KVMNET_KILL_ITERATIONS={iterations}")
    run = Run(kvenv, seed)
    if transient:
        path = str(kvenv.write_xml(NAME, example("default")))

        def start() -> subprocess.CompletedProcess[str]:
            return kvenv.kv("net-create", path)
        start_args = ("net-create", path)
    else:
        kvenv.define(example("default"))

        def start() -> subprocess.CompletedProcess[str]:
            return kvenv.kv("net-start", NAME)
        start_args = ("net-start", NAME)

    for i in range(iterations):
        during = "start" if i % 2 == 0 else "destroy"
        state = run.active()
        if during == "start" and state:
            run.expect(run.timed("net-destroy", lambda: kvenv.kv("net-destroy", NAME)), True,
                       "set-up: destroy")
        if during == "destroy" and not state:
            run.expect(run.timed(start_args[0], start), True, "set-up: start")
        run.kill_during(*(start_args if during == "start" else ("net-destroy", NAME)))
        _next_command(run, during, start, transient)

    # the end: destroy whatever is there, start again, destroy: nothing may be left
    if run.active():
        run.expect(kvenv.kv("net-destroy", NAME), True, "final destroy")
    else:
        kvenv.kv("net-destroy", NAME)  # finishes a half-destroyed network; else "not active"
    run.check_clean()
    run.expect(start(), True, "start after the final destroy")
    run.check_running(bridge_too=True)
    run.expect(kvenv.kv("net-destroy", NAME), True, "last destroy")
    run.check_clean(temporaries=True)
    print(f"random kills: {run.killed} killed mid-way, {run.finished} finished before the kill")
    print("\n".join(run.log))


def test_random_kills_of_start_and_destroy_converge(kvenv: KvEnv) -> None:
    _random_kills(kvenv, transient=False, iterations=ITERATIONS)


def test_random_kills_of_a_transient_network_converge(kvenv: KvEnv) -> None:
    _random_kills(kvenv, transient=True, iterations=max(2, ITERATIONS // 3))


@pytest.mark.parametrize("kind", ["status", "undo"])
def test_destroy_killed_midway_converges(kvenv: KvEnv, kind: str) -> None:
    """The kill points of a destroy: right after the status went, and after the undo."""
    name = kvenv.start(example("default"))
    proc = kvenv.kv("net-destroy", name, env={"KVMNET_FAULT_KILL_AFTER": kind})
    assert proc.returncode in (-9, 137), describe(proc)
    assert kvenv.info(name).get("Active") == "no"  # the teardown began: not active
    assert NAME not in kvenv.ok("net-list", "--name").stdout.split()
    kvenv.ok("net-start", name)  # finishes the teardown, then starts
    assert kvenv.info(name).get("Active") == "yes"
    kvenv.ok("net-destroy", name)
    kvenv.assert_clean(name, BRIDGE)


@pytest.mark.parametrize("then", ["net-destroy", "net-create", "other"])
def test_transient_destroy_killed_midway_converges(kvenv: KvEnv, then: str) -> None:
    """A transient network's status is its only definition: once it went, the name is gone
    from listings, but net-destroy NAME, net-create of the same network, or another network
    that wants its bridge finish the teardown."""
    path = kvenv.write_xml(NAME, example("default"))
    kvenv.ok("net-create", str(path))
    # --debug: not the plain command line, so no head start deletes the bridge early
    proc = kvenv.kv("--debug", "net-destroy", NAME, env={"KVMNET_FAULT_KILL_AFTER": "status"})
    assert proc.returncode in (-9, 137), describe(proc)
    assert NAME not in kvenv.ok("net-list", "--all", "--name").stdout.split()
    assert kvenv.link_exists(BRIDGE) and kvenv.dnsmasq_of(NAME)  # left by the kill
    if then == "net-destroy":
        kvenv.ok("net-destroy", NAME)
        kvenv.assert_clean(NAME, BRIDGE)
        return
    if then == "other":  # same bridge, another name and subnet
        other = example("default").replace("<name>default</name>", "<name>other</name>")
        other = other.replace("192.168.122.", "192.168.123.")
        path = kvenv.write_xml("other", other)
    proc = kvenv.ok("net-create", str(path))
    assert "finishing" in proc.stderr, describe(proc)
    if then == "other":
        kvenv.assert_clean(NAME, "nothing")  # the half-destroyed one is gone, bridge aside
    kvenv.ok("net-destroy", "other" if then == "other" else NAME)
    kvenv.assert_clean(NAME, BRIDGE)
    kvenv.assert_clean("other", BRIDGE)


def test_start_finishes_a_destroy_cut_short_after_the_bridge_went(kvenv: KvEnv) -> None:
    """net-destroy's head start deletes the bridge before the status goes: a kill in between
    (here: the bridge deleted by hand) must not leave a network that cannot start."""
    name = kvenv.start(example("default"))
    kvenv.host.run([IP, "link", "del", BRIDGE])
    proc = kvenv.ok("net-start", name)
    assert "interrupted destroy" in proc.stderr, describe(proc)
    assert len(kvenv.dnsmasq_of(name)) == 1 and kvenv.link_exists(BRIDGE)
    kvenv.ok("net-destroy", name)
    kvenv.assert_clean(name, BRIDGE)
