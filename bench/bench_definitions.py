#!/usr/bin/env python3
"""Benchmark of kvmnet's definition store and CLI start-up.

Prints:
  * the interpreter's own start-up (``python -c pass``), the floor under the rest;
  * cold ``kvmnet net-list`` (a new process each time, median of 20) with 0 and
    200 defined networks, plus ``net-list --all`` and ``--all --uuid`` at 200;
  * the time to define 200 networks with ``kvmnet net-define`` (one process per
    network, sequential) and through the API in one process.

Targets: cold net-list median <= 60 ms; 200 defines <= 5 s.

Byte-code is compiled first (``compileall``): an installed package ships it,
and ``PYTHONDONTWRITEBYTECODE`` would otherwise make every run recompile.

When ``virsh`` and the libvirt lab (/work/shared/tools/libvirt-lab) are present,
``--virsh`` times ``virsh net-list`` the same way; otherwise that part is skipped.

Usage: python bench/bench_definitions.py [--runs 20] [--count 200] [--virsh] [--check]
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAB = Path(os.environ.get("KVMNET_LIBVIRT_LAB", "/work/shared/tools/libvirt-lab"))
LIST_TARGET_MS = 60.0
DEFINE_TARGET_S = 5.0


def kvmnet_command() -> list[str]:
    script = Path(sys.executable).parent / "kvmnet"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "kvmnet"]


def network_xml(i: int) -> str:
    third, fourth = divmod(i, 256)
    return (f"<network>\n  <name>bench{i:03d}</name>\n  <forward mode='nat'/>\n"
            f"  <ip address='10.{100 + third}.{fourth}.1' netmask='255.255.255.0'>\n"
            f"    <dhcp>\n      <range start='10.{100 + third}.{fourth}.2' "
            f"end='10.{100 + third}.{fourth}.254'/>\n    </dhcp>\n  </ip>\n</network>\n")


def timed_runs(cmd: list[str], env: dict[str, str], runs: int) -> list[float]:
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
        out.append((time.perf_counter() - start) * 1000)
    return out


def report_ms(label: str, samples: list[float], target: float | None = None) -> bool:
    med = statistics.median(samples)
    verdict = ""
    ok = True
    if target is not None:
        ok = med <= target
        verdict = f"  (target <= {target:.0f} ms: {'ok' if ok else 'MISSED'})"
    print(f"{label:<46} median {med:7.1f} ms   min {min(samples):7.1f}   "
          f"max {max(samples):7.1f}{verdict}")
    return ok


def bench_list(root: Path, runs: int, label: str, args: list[str]) -> bool:
    env = dict(os.environ, KVMNET_ROOT=str(root))
    return report_ms(label, timed_runs(kvmnet_command() + args, env, runs), LIST_TARGET_MS)


def define_cli(root: Path, files: list[Path]) -> float:
    env = dict(os.environ, KVMNET_ROOT=str(root))
    cmd = kvmnet_command()
    start = time.perf_counter()
    for f in files:
        subprocess.run(cmd + ["-q", "net-define", str(f)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def define_api(root: Path, docs: list[str]) -> float:
    sys.path.insert(0, str(REPO))
    import kvmnet

    start = time.perf_counter()
    with kvmnet.open(str(root)) as conn:
        for doc in docs:
            conn.networkDefineXML(doc)
    return time.perf_counter() - start


def bench_virsh(runs: int) -> None:
    lab = LAB / "lab.sh"
    if shutil.which("virsh") is None or not lab.exists():
        print("virsh side by side: skipped (virsh or the libvirt lab is not available)")
        return
    start = subprocess.run([str(LAB / "start-daemon.sh"), "quiet"], capture_output=True, text=True,
                           check=False)
    if start.returncode != 0:
        print(f"virsh side by side: skipped (lab did not start: {start.stderr.strip()[:200]})")
        return
    try:
        cmd = [str(lab), "virsh", "-c", "network:///system", "net-list"]
        report_ms("virsh net-list (lab daemon, cold client)", timed_runs(cmd, dict(os.environ), runs))
    finally:
        subprocess.run([str(LAB / "stop-daemon.sh")], capture_output=True, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--virsh", action="store_true", help="also time virsh via the libvirt lab")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    compileall.compile_dir(str(REPO / "kvmnet"), quiet=1)
    ok = True
    with tempfile.TemporaryDirectory(prefix="kvmnet-bench-") as tmp:
        tmpdir = Path(tmp)
        files = []
        for i in range(args.count):
            f = tmpdir / f"bench{i:03d}.xml"
            f.write_text(network_xml(i))
            files.append(f)
        print(f"kvmnet command: {' '.join(kvmnet_command())}; python {sys.version.split()[0]}; "
              f"{os.cpu_count()} cpus")

        # The floor under every number below: starting the interpreter (with site-packages).
        report_ms("python -c pass (interpreter start-up floor)",
                  timed_runs([sys.executable, "-c", "pass"], dict(os.environ), args.runs))
        empty = tmpdir / "empty"
        ok &= bench_list(empty, args.runs, "cold net-list, 0 networks", ["net-list"])

        cli_root = tmpdir / "cli"
        seconds = define_cli(cli_root, files)
        good = seconds <= DEFINE_TARGET_S
        print(f"{'define ' + str(args.count) + ' networks, CLI (1 process each)':<46} "
              f"{seconds:7.2f} s  ({seconds / args.count * 1000:.1f} ms each; "
              f"target <= {DEFINE_TARGET_S:.0f} s: {'ok' if good else 'MISSED'})")
        ok &= good

        api_root = tmpdir / "api"
        seconds = define_api(api_root, [f.read_text() for f in files])
        good = seconds <= DEFINE_TARGET_S
        print(f"{'define ' + str(args.count) + ' networks, API (1 process)':<46} "
              f"{seconds:7.2f} s  ({seconds / args.count * 1000:.1f} ms each; "
              f"target <= {DEFINE_TARGET_S:.0f} s: {'ok' if good else 'MISSED'})")
        ok &= good

        n = args.count
        ok &= bench_list(cli_root, args.runs, f"cold net-list, {n} networks (none active)",
                         ["net-list"])
        ok &= bench_list(cli_root, args.runs, f"cold net-list --all, {n} networks", ["net-list", "--all"])
        ok &= bench_list(cli_root, args.runs, f"cold net-list --all --uuid, {n} networks",
                         ["net-list", "--all", "--uuid"])
    if args.virsh:
        bench_virsh(args.runs)
    else:
        print("virsh side by side: not requested (--virsh)")
    return 1 if (args.check and not ok) else 0


if __name__ == "__main__":
    raise SystemExit(main())
