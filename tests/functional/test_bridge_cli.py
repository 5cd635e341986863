"""``kvmnet bridge ...`` side by side with the real ``brctl`` (bridge-utils 1.7), as root.

Every bridge and veth lives in a namespace made here; kvmnet and brctl both run inside it with
``ip netns exec`` (which also gives them the namespace's /sys, which brctl reads).  Outputs are
compared byte for byte, except the running timers of ``showstp`` and the ageing timers of
``showmacs``, which move between two calls: those are masked (and the comparison retried when
the STP state machine or the MAC table changes in between).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.kvmnet_env import KVMNET
from tests.functional.netns import NetNS, netns, requires_root, veth

_ = netns  # the namespace factory fixture

BRCTL = shutil.which("brctl") or "/usr/sbin/brctl"

pytestmark = [
    pytest.mark.root,
    requires_root,
    pytest.mark.skipif(not Path(BRCTL).exists(), reason="needs bridge-utils' brctl to compare"),
]

_TIMERS = re.compile(r"(hello timer|tcn timer|topology change timer|gc timer|message age timer|"
                     r"forward delay timer|hold timer)(\t+) *\d+\.\d\d")
_MAC_AGE = re.compile(r"(\tno\t\t) *\d+\.\d\d$", re.MULTILINE)


def mask_stp(text: str) -> str:
    return _TIMERS.sub(r"\1\2T", text)


def mask_running(text: str) -> str:
    """Also what STP changes on its own: port states and the flags lines."""
    text = re.sub(r"(\tstate\t\t) *[a-z]+", r"\1S", mask_stp(text))
    return re.sub(r"( flags\t\t\t).*", r"\1F", text)


def mask_macs(text: str) -> str:
    return _MAC_AGE.sub(r"\1T", text)


def _same(x: str) -> str:
    return x


class Lab:
    """One namespace holding the bridges; ``kv`` and ``brctl`` run inside it."""

    def __init__(self, ns: NetNS, root: Path) -> None:
        self.ns = ns
        self.root = root

    def kv(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.ns.run(["env", f"KVMNET_ROOT={self.root}", KVMNET, "bridge", *args],
                           check=False)

    def brctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.ns.run([BRCTL, *args], check=False)

    def ok(self, *args: str) -> str:
        proc = self.kv(*args)
        assert proc.returncode == 0 and proc.stderr == "", describe(proc)
        return proc.stdout

    def brok(self, *args: str) -> str:
        proc = self.brctl(*args)
        assert proc.returncode == 0, describe(proc)
        return proc.stdout

    def veth(self, name: str, *, up: bool = False) -> None:
        """A veth pair ``name``/``name``+``x`` inside the lab namespace."""
        self.ns.ip("link", "add", name, "type", "veth", "peer", "name", name + "x")
        if up:
            self.ns.ip("link", "set", name, "up")
            self.ns.ip("link", "set", name + "x", "up")

    def sysfs(self, path: str) -> str:
        return self.ns.run(["cat", f"/sys/class/net/{path}"]).stdout.strip()

    def same(self, *args: str, mask: Callable[[str], str] = _same, tries: int = 5
             ) -> subprocess.CompletedProcess[str]:
        """Run ``args`` with kvmnet and brctl until their (masked) outputs agree."""
        for _attempt in range(tries):
            ours, theirs = self.kv(*args), self.brctl(*args)
            if mask(ours.stdout) == mask(theirs.stdout):
                break
        assert mask(ours.stdout) == mask(theirs.stdout), (
            f"kvmnet bridge {' '.join(args)}:\n{ours.stdout!r}\nbrctl:\n{theirs.stdout!r}")
        return ours

    def state(self) -> Any:
        """What a refused command must leave alone: links, masters, up/down, STP settings.

        What STP itself changes as time passes (carrier, port states, topology change flags,
        timers) is masked."""
        links = sorted((d["ifname"], d.get("master"), "UP" in d.get("flags", []))
                       for d in self.ns.ip_json("link", "show"))
        bridges = self.brok("show")
        stp = [mask_running(self.brok("showstp", name)) for name in sorted(
            line.split("\t")[0] for line in bridges.splitlines()[1:] if not line.startswith("\t"))]
        return links, bridges, stp


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    return f"{proc.args} -> {proc.returncode}\nstdout: {proc.stdout!r}\nstderr: {proc.stderr!r}"


@pytest.fixture
def lab(netns: Callable[[str], NetNS], tmp_path: Path) -> Iterator[Lab]:
    yield Lab(netns("brcli"), tmp_path)


# -- output side by side ---------------------------------------------------------------------


def test_show_like_brctl(lab: Lab) -> None:
    assert lab.same("show").stdout == ""  # no bridges: brctl prints not even its header
    for name in ("zb", "ab", "mb"):
        lab.ok("addbr", name)
    for port in ("p10", "p2", "P3"):
        lab.veth(port)
        lab.ok("addif", "mb", port)
    lab.ok("stp", "ab", "on")
    out = lab.same("show").stdout
    assert out.splitlines()[1].startswith("ab\t\t8000.")
    assert "mb\t\t" in out and "\t\t\t\t\t\t\tp10\n" in out  # ports sorted as brctl: P3 p10 p2
    lab.same("show", "mb")
    lab.same("show", "zb", "ab", "zb")  # the order given, repeats included
    for args in (("show", "mb", "nosuch0"), ("show", "p2"), ("show", "nosuch0"),
                 ("show", "nosuch0", "nosuch1")):  # two problems, one line (issue 11.4)
        ours, theirs = lab.same(*args), lab.brctl(*args)
        assert ours.returncode == theirs.returncode == 1
        assert ours.stderr.startswith("error: ") and ours.stderr.count("\n") == 1


def test_showstp_like_brctl(lab: Lab) -> None:
    lab.ok("addbr", "st0")
    for port in ("a1", "a2", "a3"):
        lab.veth(port, up=port != "a3")
        lab.ok("addif", "st0", port)
    lab.ns.ip("link", "set", "st0", "up")
    lab.ok("hairpin", "st0", "a2", "on")
    lab.ok("setportprio", "st0", "a1", "7")
    lab.ok("setpathcost", "st0", "a2", "250")
    lab.ok("setbridgeprio", "st0", "4096")
    lab.same("showstp", "st0", mask=mask_stp)
    lab.ok("setfd", "st0", "30")  # STP states then change every 30 s at most
    lab.ok("stp", "st0", "on")
    text = lab.same("showstp", "st0", mask=mask_stp).stdout
    assert " hairpin mode\t\t   1\n" in text and "a1 (1)\n" in text
    lab.same("show")


def test_new_bridges_are_alike(lab: Lab) -> None:
    lab.ok("addbr", "bykv")
    lab.brok("addbr", "bybr")
    ours = mask_stp(lab.brok("showstp", "bykv")).replace("bykv", "X")
    theirs = mask_stp(lab.brok("showstp", "bybr")).replace("bybr", "X")
    assert ours == theirs
    assert lab.sysfs("bykv/operstate") == lab.sysfs("bybr/operstate") == "down"


def test_showmacs_like_brctl(lab: Lab, netns: Callable[[str], NetNS]) -> None:
    c1, c2 = netns("c1"), netns("c2")
    veth(lab.ns, "m1", c1, "eth0")
    veth(lab.ns, "m2", c2, "eth0")
    lab.ok("addbr", "mac0")
    lab.ok("addif", "mac0", "m1")
    lab.ok("addif", "mac0", "m2")
    lab.ns.ip("link", "set", "mac0", "up")
    c1.ip("addr", "add", "192.0.2.1/24", "dev", "eth0")
    c2.ip("addr", "add", "192.0.2.2/24", "dev", "eth0")
    # One datagram: ARP request and reply teach the bridge both clients' MAC addresses.
    send = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            "s.sendto(b'x', ('192.0.2.2', 9))")
    c1.run([sys.executable, "-c", send])
    macs = {c.ip_json("link", "show", "eth0")[0]["address"] for c in (c1, c2)}
    ours = lab.same("showmacs", "mac0", mask=mask_macs).stdout
    learned = {line.split("\t")[1]: line for line in ours.splitlines()[1:] if "\tno\t" in line}
    assert macs <= set(learned), ours
    rows = json.loads(lab.ok("showmacs", "mac0", "--json"))
    assert [r["mac"] for r in rows] == [line.split("\t")[1] for line in ours.splitlines()[1:]]
    by_mac = {r["mac"]: r for r in rows}
    for client, port in ((c1, "m1"), (c2, "m2")):
        row = by_mac[client.ip_json("link", "show", "eth0")[0]["address"]]
        assert row["port"] == port and row["is_local"] is False
        assert row["port_no"] == int(lab.sysfs(f"{port}/brport/port_no"), 0)
    # Entries added by hand: "permanent" ones are local, "static" ones are not; neither ages.
    lab.ns.ip("link", "set", "mac0", "down")  # no more learning: the table holds still
    lab.ns.run(["bridge", "fdb", "add", "02:00:00:00:00:01", "dev", "m1", "master", "static"])
    lab.ns.run(["bridge", "fdb", "add", "02:00:00:00:00:02", "dev", "m2", "master"])
    ours = lab.same("showmacs", "mac0", mask=mask_macs).stdout
    assert "  1\t02:00:00:00:00:01\tno\t\t   0.00\n" in ours, ours
    assert "  2\t02:00:00:00:00:02\tyes\t\t   0.00\n" in ours, ours


# -- values: set by one tool, read by the other ----------------------------------------------


def test_set_with_kvmnet_read_with_brctl(lab: Lab) -> None:
    lab.ok("addbr", "sv0")
    lab.veth("q1")
    lab.ok("addif", "sv0", "q1")
    for args in (("setageing", "sv0", "120.5"), ("setfd", "sv0", "4"), ("sethello", "sv0", "3"),
                 ("setmaxage", "sv0", "12"), ("setbridgeprio", "sv0", "0x1000"),
                 ("setpathcost", "sv0", "q1", "37"), ("setportprio", "sv0", "q1", "9"),
                 ("hairpin", "sv0", "q1", "on"), ("stp", "sv0", "on")):
        assert lab.ok(*args) == ""
    stp = lab.brok("showstp", "sv0")
    for expected in (" bridge id\t\t1000.", " ageing time\t\t 120.50\n",
                     "bridge forward delay\t   4.00\n", "bridge hello time\t   3.00\n",
                     "bridge max age\t\t  12.00\n", "path cost\t\t  37\n",
                     " hairpin mode\t\t   1\n"):
        assert expected in stp, stp
    assert lab.brok("show").splitlines()[1].split("\t")[3] == "yes"
    assert [lab.sysfs(f"sv0/bridge/{key}") for key in (
        "ageing_time", "forward_delay", "hello_time", "max_age", "priority", "stp_state")] == \
        ["12050", "400", "300", "1200", "4096", "1"]
    assert [lab.sysfs(f"q1/brport/{key}") for key in ("path_cost", "priority", "hairpin_mode")] \
        == ["37", "9", "1"]
    lab.ok("hairpin", "sv0", "q1", "off")
    lab.ok("stp", "sv0", "off")
    assert "hairpin" not in lab.brok("showstp", "sv0")
    assert lab.brok("show").splitlines()[1].split("\t")[3] == "no"


def test_set_with_brctl_read_with_kvmnet(lab: Lab) -> None:
    lab.brok("addbr", "sb0")
    lab.veth("r1")
    lab.brok("addif", "sb0", "r1")
    for args in (("setageing", "sb0", "77.25"), ("setfd", "sb0", "9"), ("sethello", "sb0", "4"),
                 ("setmaxage", "sb0", "30"), ("setbridgeprio", "sb0", "12345"),
                 ("setpathcost", "sb0", "r1", "1000"), ("setportprio", "sb0", "r1", "63"),
                 ("hairpin", "sb0", "r1", "on"), ("stp", "sb0", "on")):
        lab.brok(*args)
    data = json.loads(lab.ok("showstp", "sb0", "--json"))
    assert (data["forward_delay"], data["hello_time"], data["max_age"]) == (9.0, 4.0, 30.0)
    # 77.25 s is 7725 cs; the kernel keeps jiffies, so with HZ=250 it reads back 7724
    assert data["ageing_time"] == int(lab.sysfs("sb0/bridge/ageing_time")) / 100 >= 77.24
    assert data["priority"] == 12345 and data["bridge_id"].startswith("3039.")
    assert data["stp_enabled"] is True
    (port,) = data["ports"]
    assert (port["name"], port["path_cost"], port["priority"], port["hairpin"]) == \
        ("r1", 1000, 63, True)
    assert port["port_id"] == lab.sysfs("r1/brport/port_id")[2:].rjust(4, "0")
    lab.same("showstp", "sb0", mask=mask_stp)
    shown = json.loads(lab.ok("show", "--json"))
    assert shown == [{"name": "sb0", "bridge_id": data["bridge_id"], "stp_enabled": True,
                      "interfaces": ["r1"]}]


def test_add_and_delete_across_tools(lab: Lab) -> None:
    lab.veth("x1")
    lab.brok("addbr", "mix0")
    lab.ok("addif", "mix0", "x1")
    master = lab.ns.run(["readlink", "/sys/class/net/x1/master"]).stdout.strip()
    assert master.endswith("/mix0") and "x1" in lab.brok("show", "mix0")
    lab.brok("delif", "mix0", "x1")
    lab.ok("addif", "mix0", "x1")
    lab.ok("delif", "mix0", "x1")
    assert lab.brok("show", "mix0").endswith("\tno\t\t\n")
    lab.ok("delbr", "mix0")
    assert lab.kv("show", "mix0").returncode == 1
    lab.ok("addbr", "mix1")
    lab.brok("delbr", "mix1")
    assert lab.ok("show") == ""


# -- bad input ---------------------------------------------------------------------------------

# (arguments, words the error must contain, brctl refuses it too)
BAD = [
    (("addif", "b1", "lo"), "loopback", True),
    (("addif", "b1", "b1"), "bridge itself", True),
    (("addif", "b1", "b2"), "is a bridge device itself", True),
    (("addif", "b1", "nosuch0"), "interface nosuch0 does not exist", True),
    (("addif", "nosuch0", "p2"), "bridge nosuch0 does not exist", True),
    (("addif", "b2", "p1"), "already a member of bridge b1", True),
    (("addif", "b1", "p1"), "already a port of b1", True),
    (("addif", "p2", "p1"), "p2 is not a bridge", True),
    (("addbr", "abcdefghijklmnop"), "too long (16 bytes)", False),  # brctl truncates it
    (("addbr", "p2"), "already exists", True),
    (("addbr", "b1"), "already exists", True),
    (("delbr", "b1"), "b1 is still up; can't delete it", True),
    (("delbr", "nosuch0"), "doesn't exist", True),
    (("delbr", "p2"), "not a bridge", True),
    (("delif", "b2", "p1"), "not a port of b2 (it is a port of b1)", True),
    (("hairpin", "b2", "p1", "on"), "not a port of b2", False),  # brctl changes p1 anyway
    (("hairpin", "b1", "p1", "maybe"), "on/off", True),
    (("sethello", "b1", "0"), "out of range", True),
    (("setmaxage", "b1", "100"), "out of range", True),
    (("setfd", "b1", "40"), "out of range", True),
    (("setportprio", "b1", "p1", "64"), "out of range", True),
    (("setpathcost", "b1", "p1", "0"), "out of range", True),
    (("setpathcost", "b2", "p1", "5"), "not a port of b2", False),  # brctl changes p1 anyway
    (("setbridgeprio", "b1", "65536"), "out of range", False),  # brctl wraps it to 0
    (("setbridgeprio", "b1", "5x"), "bad priority", False),  # brctl reads 5
    (("setageing", "b1", "-1"), "negative", True),
    (("setageing", "b1", "abc"), "bad ageing time", True),
    (("stp", "b1", "maybe"), "on/off", True),
    (("showstp", "p2"), "not a bridge", True),
    (("showmacs", "nosuch0"), "does not exist", True),
    (("showstp", "abcdefghijklmnop"), "too long", True),
]


def test_bad_input_is_refused_and_changes_nothing(lab: Lab) -> None:
    lab.ok("addbr", "b1")
    lab.ok("addbr", "b2")
    lab.veth("p1", up=True)
    lab.veth("p2")
    lab.ok("addif", "b1", "p1")
    lab.ns.ip("link", "set", "b1", "up")
    lab.ok("stp", "b1", "on")
    before = lab.state()
    for args, words, brctl_refuses in BAD:
        proc = lab.kv(*args)
        assert proc.returncode == 1, describe(proc)
        assert proc.stdout == "" and proc.stderr.startswith("error: "), describe(proc)
        assert proc.stderr.count("\n") == 1 and words in proc.stderr, describe(proc)
        assert lab.state() == before, f"kvmnet bridge {' '.join(args)} changed something"
        if brctl_refuses:
            assert lab.brctl(*args).returncode != 0, args
            assert lab.state() == before, f"brctl {' '.join(args)} changed something"


def test_usage_errors(lab: Lab) -> None:
    for args in ((), ("addbr",), ("addif", "b1"), ("frobnicate",), ("show", "--bogus")):
        proc = lab.kv(*args)
        assert proc.returncode == 2 and proc.stderr.startswith("error: "), describe(proc)
