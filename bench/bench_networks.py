#!/usr/bin/env python3
"""Benchmark: starting and stopping NAT networks with DHCP, kvmnet beside libvirt.

Prints (all numbers are wall-clock times of cold CLI processes, as a user runs them):
  * cold ``kvmnet net-start`` and ``net-destroy`` of one NAT network with DHCP (median of --runs);
  * for each N in --counts: define+start of N networks one after another, then destroy+undefine
    of all, with per-network medians, the first and last tenth of define+start (flatness:
    "last/first"), the same for destroy+undefine ("down flat": stops with ~N networks active
    over stops with few), and the memory each active network costs (dnsmasq RSS and the host's MemAvailable drop);
  * the same through libvirt (virsh against the libvirt lab daemon) when the lab is available
    (``--libvirt``), side by side;
  * for kvmnet at N >= 100, how much the machine itself drifted meanwhile: one more network
    is defined, started, stopped and undefined in a second, empty namespace after every
    N/100 networks, and "drift" compares those reference timings in the last tenth with
    the first (on a noisy VM, minutes apart, it can be as large as the growth being measured);
    last/first and down flat are also shown divided by it.

Everything happens inside a network namespace this script creates (and the lab's own), with a
temporary KVMNET_ROOT; both are removed at the end.  Needs root.

Usage: python bench/bench_networks.py [--counts 1,10,100,1000] [--runs 10] [--libvirt]
"""
from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAB = Path(os.environ.get("KVMNET_LIBVIRT_LAB", "/work/shared/tools/libvirt-lab"))


def network_xml(name: str, i: int, bridge: str | None = None) -> str:
    a, b = divmod(i, 256)
    net = f"10.{100 + a}.{b}"
    br = f"  <bridge name='{bridge}'/>\n" if bridge else ""
    return (f"<network>\n  <name>{name}</name>\n  <forward mode='nat'/>\n{br}"
            f"  <ip address='{net}.1' netmask='255.255.255.0'>\n"
            f"    <dhcp>\n      <range start='{net}.2' end='{net}.254'/>\n    </dhcp>\n"
            "  </ip>\n</network>\n")


def mem_available_kib() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Side:
    """One implementation under test: how to run its CLI and where its dnsmasq pids are."""

    name = ""

    def define(self, path: str) -> None: ...
    def start(self, name: str) -> None: ...
    def destroy(self, name: str) -> None: ...
    def undefine(self, name: str) -> None: ...
    def dnsmasq_pids(self) -> list[int]: return []
    def close(self) -> None: ...


class Kvmnet(Side):
    name = "kvmnet"

    def __init__(self) -> None:
        self.ns = f"kvb-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        subprocess.run(["ip", "-n", self.ns, "link", "set", "lo", "up"], check=True)
        self.root = tempfile.mkdtemp(prefix="kvmnet-bench-")
        # As a real install's root ('/'): searchable by dnsmasq's user.  mkdtemp's 0700 would
        # make every start take the slower "dnsmasq keeps root" path (a notice, ~7 ms CPU).
        os.chmod(self.root, 0o755)
        exe = Path(sys.executable).parent / "kvmnet"
        self.cmd = ["ip", "netns", "exec", self.ns, "env", f"KVMNET_ROOT={self.root}",
                    str(exe) if exe.exists() else sys.executable] + ([] if exe.exists() else ["-m", "kvmnet"])

    def run(self, *args: str) -> None:
        p = subprocess.run(self.cmd + ["-q", *args], capture_output=True, text=True, check=False)
        if p.returncode != 0:
            raise RuntimeError(f"kvmnet {' '.join(args)} failed: {p.stderr.strip()}")

    def define(self, path: str) -> None: self.run("net-define", path)
    def start(self, name: str) -> None: self.run("net-start", name)
    def destroy(self, name: str) -> None: self.run("net-destroy", name)
    def undefine(self, name: str) -> None: self.run("net-undefine", name)

    def dnsmasq_pids(self) -> list[int]:
        run = Path(self.root, "run/kvmnet/networks")
        return [int(p.read_text()) for p in run.glob("*.pid") if p.read_text().strip()]

    def close(self) -> None:
        # destroy whatever is still active (by kvmnet itself: it stops only its own dnsmasq)
        run = Path(self.root, "run/kvmnet/networks")
        for rec in run.glob("*.json"):
            subprocess.run(self.cmd + ["-q", "net-destroy", rec.stem], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", self.ns], check=False)
        shutil.rmtree(self.root, ignore_errors=True)


class Libvirt(Side):
    name = "libvirt"

    def __init__(self) -> None:
        out = subprocess.run([str(LAB / "start-daemon.sh"), "quiet"], capture_output=True,
                             text=True, check=True).stdout
        self.lab = dict(w.split("=", 1) for w in out.split() if "=" in w)["LAB"]
        self.cmd = [str(LAB / "lab.sh"), "virsh", "-q", "-c", "network:///system"]

    def run(self, *args: str) -> None:
        p = subprocess.run(self.cmd + list(args), capture_output=True, text=True, check=False)
        if p.returncode != 0:
            raise RuntimeError(f"virsh {' '.join(args)} failed: {p.stderr.strip()}")

    def define(self, path: str) -> None: self.run("net-define", path)
    def start(self, name: str) -> None: self.run("net-start", name)
    def destroy(self, name: str) -> None: self.run("net-destroy", name)
    def undefine(self, name: str) -> None: self.run("net-undefine", name)

    def dnsmasq_pids(self) -> list[int]:
        pids = []
        for p in Path(self.lab, "run/libvirt/network").glob("*.pid"):
            try:
                pids.append(int(p.read_text()))
            except ValueError:
                pass
        return pids

    def close(self) -> None:
        subprocess.run([str(LAB / "stop-daemon.sh")], capture_output=True, check=False)


def seq(*calls: Callable[[], None]) -> Callable[[], None]:
    """One step made of several calls, for timing them together."""
    def run() -> None:
        for call in calls:
            call()
    return run


def timed(fn: Callable[[], None]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def med(xs: list[float]) -> str:
    return f"{statistics.median(xs):7.1f}" if xs else "    n/a"


def single(side: Side, tmp: Path, runs: int) -> dict[str, list[float]]:
    path = tmp / f"{side.name}-single.xml"
    path.write_text(network_xml("benchone", 4000, "kvbr-one"))
    side.define(str(path))
    starts, destroys = [], []
    for _ in range(runs):
        starts.append(timed(lambda: side.start("benchone")))
        destroys.append(timed(lambda: side.destroy("benchone")))
    side.undefine("benchone")
    return {"start": starts, "destroy": destroys}


def up_down(side: Side, path: Path, name: str) -> tuple[float, float]:
    """define+start, then destroy+undefine, of one more network (ms each)."""
    return (timed(seq(lambda: side.define(str(path)), lambda: side.start(name))),
            timed(seq(lambda: side.destroy(name), lambda: side.undefine(name))))


def interleaved(full: Side, tmp: Path, probes: int) -> tuple[float, float]:
    """Per-network cost with the N networks up, over the same in an empty namespace.

    The two are timed in turns (define+start, then destroy+undefine of one more network on
    each side), so a machine that speeds up or slows down over the minutes of a run affects
    both alike; "last/first" compares tenths minutes apart, and on a noisy VM that drift can
    be as large as the growth it is meant to show."""
    empty = Kvmnet()
    try:
        ups: dict[int, list[float]] = {0: [], 1: []}
        downs: dict[int, list[float]] = {0: [], 1: []}
        for j in range(probes):
            name = f"probe{j}"
            path = tmp / f"probe-{j}.xml"
            path.write_text(network_xml(name, 5000 + j))
            for k, side in ((0, empty), (1, full)):
                u, d = up_down(side, path, name)
                ups[k].append(u)
                downs[k].append(d)
        return (statistics.median(ups[1]) / statistics.median(ups[0]),
                statistics.median(downs[1]) / statistics.median(downs[0]))
    finally:
        empty.close()


class Reference:
    """An empty namespace where one network at a time is timed, to see the machine's drift."""

    def __init__(self, tmp: Path) -> None:
        self.side = Kvmnet()
        self.tmp = tmp
        self._count = 0

    def cycle(self) -> tuple[float, float]:
        """:func:`up_down` of one more network there."""
        name = f"ref{self._count}"
        path = self.tmp / f"ref-{self._count}.xml"
        path.write_text(network_xml(name, 6000 + self._count % 1000))
        self._count += 1
        return up_down(self.side, path, name)

    def close(self) -> None:
        self.side.close()


@dataclass
class Scale:
    """What one N run measured (times in ms, memory in KiB)."""

    up: list[float]
    down: list[float]
    rss_per_net: float
    mem_per_net: float
    failed_at: tuple[int, str] | None
    paired: tuple[float, float] | None
    ref_up: list[float]  # the empty namespace's define+start, timed during the up phase
    ref_down: list[float]  # its destroy+undefine, timed during the down phase

    @property
    def first(self) -> list[float]:
        return self.up[:max(1, len(self.up) // 10)]

    @property
    def last(self) -> list[float]:
        return self.up[-max(1, len(self.up) // 10):]

    def flat(self) -> float:
        """Median of the last tenth of define+start over the first tenth's."""
        return _ratio(self.last, self.first)

    def down_flat(self) -> float:
        """The same for destroy+undefine, which runs in define order: its first tenth stops
        networks while ~N are active, its last tenth while few are."""
        tenth = max(1, len(self.down) // 10)
        return _ratio(self.down[:tenth], self.down[-tenth:])

    def drift(self) -> tuple[float, float] | None:
        """How much slower the empty namespace ran in the tenths that flat() and down_flat()
        compare: (last over first tenth of the up phase, first over last of the down phase)."""
        if len(self.ref_up) < 10 or len(self.ref_down) < 10:
            return None
        up, down = len(self.ref_up) // 10, len(self.ref_down) // 10
        return (_ratio(self.ref_up[-up:], self.ref_up[:up]),
                _ratio(self.ref_down[:down], self.ref_down[-down:]))


def _ratio(over: list[float], under: list[float]) -> float:
    return statistics.median(over) / statistics.median(under) if over and under else 0.0


def scale(side: Side, tmp: Path, n: int, probes: int = 0) -> Scale:
    ref = Reference(tmp) if isinstance(side, Kvmnet) and n >= 100 else None
    try:
        return _scale(side, tmp, n, probes, ref)
    finally:
        if ref is not None:
            ref.close()


def _scale(side: Side, tmp: Path, n: int, probes: int, ref: Reference | None) -> Scale:
    names = [f"bn{n}x{i}" for i in range(n)]
    stride = max(1, n // 100)
    ref_up: list[float] = []
    ref_down: list[float] = []
    up: list[float] = []
    mem0 = mem_available_kib()
    failed_at: tuple[int, str] | None = None
    for i, name in enumerate(names):
        path = tmp / f"{side.name}-{name}.xml"
        path.write_text(network_xml(name, i))
        try:
            up.append(timed(seq(lambda path=path: side.define(str(path)), lambda name=name: side.start(name))))
        except RuntimeError as exc:
            failed_at = (i + 1, str(exc).splitlines()[0][:200])
            names = names[:i + 1]
            break
        if ref is not None and i % stride == 0:
            ref_up.append(ref.cycle()[0])
    pids = side.dnsmasq_pids()
    rss = sum(rss_kib(p) for p in pids)
    mem_drop = max(0, mem0 - mem_available_kib())
    paired = interleaved(side, tmp, probes) if probes and isinstance(side, Kvmnet) else None
    active = len(up)
    down: list[float] = []
    for i, name in enumerate(names):
        if failed_at is not None and i == len(names) - 1:
            # the network whose define or start failed: clean up, untimed
            for step in (side.destroy, side.undefine):
                try:
                    step(name)
                except RuntimeError:
                    pass
            continue

        down.append(timed(seq(lambda name=name: side.destroy(name), lambda name=name: side.undefine(name))))
        if ref is not None and i % stride == 0:
            ref_down.append(ref.cycle()[1])
    return Scale(up=up, down=down,
                 rss_per_net=rss / max(1, len(pids)), mem_per_net=mem_drop / max(1, active),
                 failed_at=failed_at, paired=paired, ref_up=ref_up, ref_down=ref_down)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--counts", default="1,10,100", help="comma-separated N (e.g. 1,10,100,1000)")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--libvirt", action="store_true", help="also time libvirt through the lab")
    ap.add_argument("--probes", type=int, default=15,
                    help="networks timed in turns with an empty namespace once N are up "
                         "(kvmnet; 0: none)")
    ap.add_argument("--libvirt-max", type=int, default=200,
                    help="largest N tried with libvirt (it stops at 129 here)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_networks: needs root (it creates a network namespace)", file=sys.stderr)
        return 1
    compileall.compile_dir(str(REPO / "kvmnet"), quiet=1)
    counts = [int(c) for c in a.counts.split(",") if c]
    sides: list[Side] = [Kvmnet()]
    if a.libvirt:
        if shutil.which("virsh") and (LAB / "start-daemon.sh").exists():
            sides.append(Libvirt())
        else:
            print("libvirt: virsh or the lab is missing; timing kvmnet alone")
    tmp = Path(tempfile.mkdtemp(prefix="kvmnet-bench-xml-"))
    results: dict[str, dict[str, object]] = {}
    try:
        for side in sides:
            results[side.name] = {"single": single(side, tmp, a.runs)}
        print(f"\n== one NAT network with DHCP, cold CLI, median of {a.runs} (ms)")
        print(f"{'':12}{'net-start':>12}{'net-destroy':>14}")
        for name, r in results.items():
            s = r["single"]
            print(f"{name:12}{med(s['start']):>12}{med(s['destroy']):>14}")  # type: ignore[index]
        if "libvirt" in results:
            k, lv = results["kvmnet"]["single"], results["libvirt"]["single"]
            rs = statistics.median(k["start"]) / statistics.median(lv["start"])  # type: ignore[index]
            rd = statistics.median(k["destroy"]) / statistics.median(lv["destroy"])  # type: ignore[index]
            print(f"kvmnet/libvirt: start {rs:.2f}x (target <= 1.0x), destroy {rd:.2f}x "
                  "(target <= 0.25x)")
        for n in counts:
            print(f"\n== N = {n}: define+start each, then destroy+undefine each (per network, ms)")
            print(f"{'':10}{'up median':>10}{'down median':>12}{'first 10%':>11}{'last 10%':>10}"
                  f"{'last/first':>11}{'down flat':>10}{'dnsmasq RSS':>13}{'mem/net':>10}{'total up':>10}"
                  f"{'total down':>11}")
            for side in sides:
                if side.name == "libvirt" and n > a.libvirt_max:
                    print(f"{side.name:10}  skipped (N > --libvirt-max {a.libvirt_max})")
                    continue
                sc = scale(side, tmp, n, a.probes if n >= 10 else 0)
                up, down = sc.up, sc.down
                print(f"{side.name:10}{med(up):>10}{med(down):>12}{med(sc.first):>11}"
                      f"{med(sc.last):>10}{sc.flat():>10.2f}x{sc.down_flat():>9.2f}x"
                      f"{sc.rss_per_net/1024:>10.1f} MiB"
                      f"{sc.mem_per_net/1024:>7.1f} MiB{sum(up)/1000:>9.1f}s{sum(down)/1000:>10.1f}s")
                if sc.paired:
                    pu, pd = sc.paired
                    print(f"{'':10}interleaved with an empty namespace ({a.probes} pairs): "
                          f"define+start {pu:.2f}x, destroy+undefine {pd:.2f}x with {n} up")
                drift = sc.drift()
                if drift:
                    du, dd = drift
                    print(f"{'':10}drift of an empty namespace timed every {max(1, n // 100)} "
                          f"networks: up {du:.2f}x, down {dd:.2f}x; divided by it, last/first "
                          f"{sc.flat() / du:.2f}x, down flat {sc.down_flat() / dd:.2f}x")
                if sc.failed_at:
                    at, msg = sc.failed_at
                    print(f"{'':10}stopped at network {at}: {msg}")
    finally:
        for side in sides:
            side.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
