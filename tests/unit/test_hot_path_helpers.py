"""The small stand-ins that keep net-start and net-destroy off heavy standard modules agree
with what they stand in for: ``jsontext`` with ``json``, ``shell_quote`` with ``shlex``, the
netlink address arithmetic with ``ipaddress``, the lease file with ``json.dumps(indent=2)``,
``run_quick`` with what a program does, and ``tasks``' jobs after the reply."""
from __future__ import annotations

import collections
import ipaddress
import json
import os
import pickle
import random
import shlex
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from kvmnet import jsontext
from kvmnet.errors import HostError
from kvmnet.fileio import FileLock
from kvmnet.host.netlink import _interface
from kvmnet.host.nltypes import Link
from kvmnet.host.process import SIGHUP, SIGKILL, SIGTERM, signal_name
from kvmnet.host.run import run_quick, shell_form, shell_quote
from kvmnet.network.leases import helper_main, load, status_text
from kvmnet.tasks import Task, afterwards
from kvmnet.tuples import NamedTuple as LightNamedTuple

REPO = Path(__file__).resolve().parents[2]


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return rng.randrange(-10**12, 10**12)
    if kind == 1:
        return rng.choice([0.5, -1e300, 3.14159, 1e-7, 0.0])
    if kind == 2:
        return "".join(rng.choice('ab"\\\n\t\x01é€😀 /<>&') for _ in range(rng.randrange(12)))
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return ""
    if kind in (5, 6):
        return {f"k{rng.randrange(99)}\"é": _random_value(rng, depth + 1)
                for _ in range(rng.randrange(5))}
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(5))]


def test_jsontext_writes_what_json_writes_and_reads_what_it_reads() -> None:
    rng = random.Random(12)
    for _ in range(2000):
        value = _random_value(rng)
        text = jsontext.dumps(value)
        assert text == json.dumps(value, ensure_ascii=False, allow_nan=False)
        assert jsontext.loads(text) == value
        for variant in (json.dumps(value), json.dumps(value, indent=1), f" \n{text}\t\r\n"):
            assert jsontext.loads(variant) == value


@pytest.mark.parametrize("bad", ["", "   ", "{", "[1,]", "1 2", '{"a": 1} x', "NaN",
                                 "Infinity", '"\\x"', "{'a': 1}", "[1] [2]", "tru"])
def test_jsontext_refuses_what_json_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        json.loads(bad, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
    with pytest.raises(ValueError):
        jsontext.loads(bad)


def test_jsontext_refuses_values_json_cannot_hold() -> None:
    with pytest.raises(ValueError):
        jsontext.dumps([float("nan")])
    with pytest.raises(TypeError):
        jsontext.dumps({"a": object()})


def test_shell_quote_is_shlex_quote() -> None:
    rng = random.Random(5)
    words = ["", "plain", "a b", "it's", "$HOME", "x;y", "é", "--conf-file=/a/b.conf", "a\nb",
             "-", "@%+=:,./-_", "'", '"', "*"]
    words += ["".join(rng.choice("ab '\"$é;_-=/") for _ in range(rng.randrange(8)))
              for _ in range(500)]
    for word in words:
        assert shell_quote(word) == shlex.quote(word)
    assert shell_form(words) == shlex.join(words)


def test_netlink_address_arithmetic_is_ipaddress() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        if rng.random() < 0.5:
            address = str(ipaddress.IPv4Address(rng.getrandbits(32)))
            prefixlen = rng.randrange(33)
        else:
            address = str(ipaddress.IPv6Address(rng.getrandbits(128) >> rng.randrange(129)))
            prefixlen = rng.randrange(129)
        ip = ipaddress.ip_interface(f"{address}/{prefixlen}")
        version, text, broadcast = _interface(address, prefixlen)
        assert (version, text) == (ip.version, str(ip.ip))
        expected = (str(ip.network.broadcast_address)
                    if ip.version == 4 and prefixlen < 31 else None)
        assert broadcast == expected


@pytest.mark.parametrize(("address", "prefixlen"), [("10.0.0.256", 24), ("10.0.0.1", 33),
                                                    ("::1", 129), ("10.0.0.1", -1), ("x", 8),
                                                    ("010.0.0.1", 24)])
def test_netlink_address_arithmetic_refuses_what_ipaddress_refuses(address: str,
                                                                   prefixlen: int) -> None:
    with pytest.raises(ValueError):
        ipaddress.ip_interface(f"{address}/{prefixlen}")
    with pytest.raises(ValueError):
        _interface(address, prefixlen)


def test_lease_file_keeps_libvirts_layout(tmp_path: Path) -> None:
    leases: list[dict[str, Any]] = [{"ip-address": "10.0.0.2", "mac-address": "52:54:00:00:00:01",
               "hostname": "g1", "expiry-time": 1700000000, "type": "ipv4"},
              {"ip-address": "fd00::2", "client-id": "00:01", "iaid": "7", "type": "ipv6"}]
    cases: list[list[dict[str, Any]]] = [[], [{}], leases]
    for value in cases:
        assert status_text(value) == json.dumps(value, indent=2) + "\n"
    status = tmp_path / "net.status"
    env = {"DNSMASQ_LEASE_EXPIRES": str(int(time.time()) + 3600)}
    assert helper_main(str(status), ["add", "52:54:00:00:00:09", "10.0.0.9", "g9"], env) == ""
    assert json.loads(status.read_text())[0]["hostname"] == "g9"
    assert load(str(status)) == json.loads(status.read_text())
    assert helper_main(str(status), ["init"], {}).split()[1:4] == ["52:54:00:00:00:09",
                                                                    "10.0.0.9", "g9"]


def test_signal_names() -> None:
    assert [signal_name(s) for s in (SIGHUP, SIGKILL, SIGTERM)] == ["SIGHUP", "SIGKILL", "SIGTERM"]
    assert signal_name(10) == "signal 10"


def test_run_quick_returns_status_and_both_streams() -> None:
    code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    status, output = run_quick([sys.executable, "-c", code], timeout=10)
    assert status == 3
    assert sorted(output.split()) == ["err", "out"]
    assert run_quick(["true"], timeout=10) == (0, "")
    status, _ = run_quick([sys.executable, "-c", "import os; os.kill(os.getpid(), 9)"],
                          timeout=10)
    assert status == -9


def test_run_quick_does_not_wait_for_a_daemon_holding_its_output(tmp_path: Path) -> None:
    # the program forks a child that keeps stdout open for 3 s, then leaves a mark; the
    # program itself exits at once, as a daemonizing dnsmasq's parent does
    mark = tmp_path / "mark"
    code = textwrap.dedent(f"""
        import os, sys, time
        if os.fork() == 0:
            time.sleep(3)
            open({str(mark)!r}, "w").close()
            os._exit(0)
        print("ready")
    """)
    status, output = run_quick([sys.executable, "-c", code], timeout=10)
    assert (status, output) == (0, "ready\n")
    assert not mark.exists()  # returned while the daemon still held the pipe


def test_run_quick_errors_read_like_a_diagnosis(tmp_path: Path) -> None:
    with pytest.raises(HostError, match="not found in PATH: install the dnsmasq-base package"):
        run_quick(["/nonexistent/dnsmasq"], timeout=5)
    script = tmp_path / "noexec"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(HostError, match="cannot be executed"):
        run_quick([str(script)], timeout=5)
    with pytest.raises(HostError, match="did not finish within 0.3 s"):
        run_quick(["sleep", "5"], timeout=0.3)


def test_tasks_run_beside_and_join() -> None:
    seen: list[int] = []
    tasks = [Task(seen.append, n) for n in range(20)]
    for task in tasks:
        task.join()
    assert sorted(seen) == list(range(20))


def test_a_job_runs_at_once_in_a_library(tmp_path: Path) -> None:
    done: list[str] = []
    afterwards(lambda: done.append("x"), lock=str(tmp_path / "l.lock"))
    assert done == ["x"]


def test_a_job_after_the_reply_runs_in_a_child_that_holds_its_lock(tmp_path: Path) -> None:
    """The console script's way: the command ends first; its job goes on in a child that
    holds the lock until it is done, so whoever needs the result waits for the lock."""
    result = tmp_path / "result"
    lock = tmp_path / "job.lock"
    code = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(REPO)!r})
        from kvmnet import tasks
        tasks.defer_jobs()
        def job():
            time.sleep(0.5)
            open({str(result)!r}, "w").write(str(os.getpid()))
        tasks.afterwards(job, lock={str(lock)!r})
        print("reply", os.getpid(), flush=True)
        tasks.detach_jobs()
        os._exit(0)
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=10, check=True)
    assert p.stdout.split()[0] == "reply"
    assert not result.exists()  # the command ended (and its output closed) before the job
    with FileLock(lock):  # held by the child until its job is done
        assert result.read_text() != p.stdout.split()[1]  # written by another process
    assert os.path.getsize(result) > 0


class Point(LightNamedTuple):
    """A point."""

    x: int
    y: int = 2
    z: str = "z"

    def norm(self) -> int:
        return abs(self.x) + abs(self.y)


Real = collections.namedtuple("Real", ["x", "y", "z"], defaults=[2, "z"])


def test_the_named_tuple_stand_in_behaves_as_namedtuple() -> None:
    for args, kwargs in [((1,), {}), ((1, 5), {}), ((1,), {"z": "q"}), ((), {"x": 3, "y": 4}),
                         ((1, 2, "a"), {})]:
        p, r = Point(*args, **kwargs), Real(*args, **kwargs)
        assert tuple(p) == tuple(r) and p == r and hash(p) == hash(r)
        assert (p.x, p.y, p.z) == (r.x, r.y, r.z)
        assert repr(p) == repr(r).replace("Real", "Point")
        assert pickle.loads(pickle.dumps(p)) == p and type(pickle.loads(pickle.dumps(p))) is Point
        assert p._asdict() == r._asdict()
        assert p._replace(y=7) == r._replace(y=7) and type(p._replace(y=7)) is Point
    assert Point._fields == Real._fields == Point.__match_args__
    assert Point(3, -4).norm() == 7 and Point.__doc__ == "A point."
    assert isinstance(Point(1), tuple) and Point.__module__ == __name__
    for args, kwargs in [((), {}), ((1, 2, "a", 4), {}), ((1,), {"x": 2}), ((1,), {"w": 0})]:
        with pytest.raises(TypeError):
            Real(*args, **kwargs)
        with pytest.raises(TypeError):
            Point(*args, **kwargs)
    with pytest.raises(ValueError):
        Point(1)._replace(w=1)
    match Point(1, 9):
        case Point(a, b):
            assert (a, b) == (1, 9)
    link = Link(ifname="br0", ifindex=3, kind="bridge", mac=None, mtu=1500, state="up",
                operstate=None, master=None, master_ifindex=None)
    assert link.ifname == "br0" and link[1] == 3 and "ifname='br0'" in repr(link)
