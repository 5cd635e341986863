#!/usr/bin/env python3
"""Benchmark of kvmnet's rtnetlink adapter (kvmnet.host.netlink): start-up and kernel calls.

Prints:
  * import + first socket: in a fresh interpreter, the time from before
    ``import kvmnet.host.netlink`` to an open rtnetlink socket (``Netlink().open()``, which
    loads pyroute2's message classes), median of 20 interpreters; also split into the module
    import and the socket/pyroute2 part, as CPU time (less sensitive to other load on the
    machine), the increment over the standard modules a kvmnet host command loads anyway, and,
    for reference, what pyroute2's asyncio-based ``IPRoute`` (the adapter's previous transport)
    adds on top in the same way;
  * (root only) create-bridge + add address + link up + delete in a throwaway network
    namespace: per-operation medians on a warm socket, and a cold process doing all of it
    (import + socket + the four calls), median of 20.

Target: import + socket median <= 35 ms.

Byte-code is compiled first (``compileall`` of kvmnet and pyroute2): an installed package ships
it, and ``PYTHONDONTWRITEBYTECODE`` would otherwise make every interpreter recompile.

Usage: python bench/bench_netlink.py [--runs 20] [--check]
"""
from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
IMPORT_TARGET_MS = 35.0

# Each snippet prints a JSON object of millisecond timings measured inside the interpreter.
IMPORT_SNIPPET = """
import json, time
c0, t0 = time.process_time(), time.perf_counter()
from kvmnet.host.netlink import Netlink
t1 = time.perf_counter()
nl = Netlink(); nl.open()
c2, t2 = time.process_time(), time.perf_counter()
nl.close()
print(json.dumps({"total": (t2 - t0) * 1e3, "module": (t1 - t0) * 1e3, "socket": (t2 - t1) * 1e3,
                  "cpu": (c2 - c0) * 1e3}))
"""

# Only pyroute2's four message classes (ifinfmsg, ifaddrmsg, rtmsg,
# nlmsgerr) through the same stand-in package, without kvmnet.host.netlink and without a socket.
FLOOR_SNIPPET = """
import json, time
t0 = time.perf_counter()
from kvmnet.host.rtnl import _pyroute2
p = _pyroute2(); p.ifaddrmsg; p.rtmsg
t1 = time.perf_counter()
print(json.dumps({"total": (t1 - t0) * 1e3}))
"""

# The same after the standard modules every kvmnet host command loads anyway (typing for the
# CLI, logging for every host adapter, socket): what the netlink adapter itself adds.
INCREMENT_SNIPPET = """
import json, time, typing, logging, socket
t0 = time.perf_counter()
from kvmnet.host.netlink import Netlink
nl = Netlink(); nl.open()
t1 = time.perf_counter()
print(json.dumps({"total": (t1 - t0) * 1e3}))
"""

IPROUTE_SNIPPET = """
import json, time
from kvmnet.host.netlink import Netlink
nl = Netlink(); nl.open()
from kvmnet.host.rtnl import _pyroute2
t0 = time.perf_counter()
ipr = _pyroute2().IPRoute(groups=0)
t1 = time.perf_counter()
ipr.close()
import sys
print(json.dumps({"iproute": (t1 - t0) * 1e3, "asyncio": "asyncio" in sys.modules}))
"""

COLD_SNIPPET = """
import json, time
t0 = time.perf_counter()
from kvmnet.host.netlink import Netlink
with Netlink() as nl:
    t1 = time.perf_counter()
    nl.create_bridge("kvbench0", stp=True, forward_delay_cs=0, mtu=1500, up=False)
    nl.add_address("kvbench0", "192.0.2.1", 24)
    nl.set_link_up("kvbench0")
    t2 = time.perf_counter()
    nl.delete_link("kvbench0")
    t3 = time.perf_counter()
print(json.dumps({"total": (t3 - t0) * 1e3, "open": (t1 - t0) * 1e3, "start": (t2 - t1) * 1e3,
                  "delete": (t3 - t2) * 1e3}))
"""


def compile_bytecode() -> None:
    spec = importlib.util.find_spec("pyroute2")
    targets = [REPO / "kvmnet"]
    if spec is not None and spec.submodule_search_locations:
        targets += [Path(p) for p in spec.submodule_search_locations]
    for target in targets:
        compileall.compile_dir(str(target), quiet=1)


def fresh(snippets: dict[str, str], runs: int,
          prefix: list[str] | None = None) -> dict[str, list[dict[str, float]]]:
    """Run each snippet in ``runs`` fresh interpreters, interleaved (snippet A, B, C, A, B, ...)
    so that a busy moment on the machine slows every snippet alike; returns their timings."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    cmds = {name: [*(prefix or []), sys.executable, "-c", code] for name, code in snippets.items()}
    for cmd in cmds.values():
        subprocess.run(cmd, env=env, check=True, capture_output=True)  # warm the page cache
    out: dict[str, list[dict[str, float]]] = {name: [] for name in cmds}
    for _ in range(runs):
        for name, cmd in cmds.items():
            proc = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
            out[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(float(r[key]) for r in rows)


def spread(rows: list[dict[str, float]], key: str) -> str:
    values = sorted(float(r[key]) for r in rows)
    return f"median {statistics.median(values):6.1f} ms  (min {values[0]:.1f}, max {values[-1]:.1f})"


def interpreter_floor(runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def warm_operations(runs: int) -> dict[str, float]:
    """Per-call medians on one open socket, inside the current (test) namespace."""
    from kvmnet.host.netlink import Netlink

    samples: dict[str, list[float]] = {"create_bridge": [], "add_address": [],
                                       "set_link_up": [], "delete_link": []}
    with Netlink() as nl:
        nl.list_links()  # socket open, classes loaded
        for _ in range(runs):
            steps: list[tuple[str, Callable[[], object]]] = [
                ("create_bridge", lambda: nl.create_bridge("kvbench0", stp=True, forward_delay_cs=0,
                                                           mtu=1500, up=False)),
                ("add_address", lambda: nl.add_address("kvbench0", "192.0.2.1", 24)),
                ("set_link_up", lambda: nl.set_link_up("kvbench0")),
                ("delete_link", lambda: nl.delete_link("kvbench0")),
            ]
            for name, step in steps:
                t0 = time.perf_counter()
                step()
                samples[name].append((time.perf_counter() - t0) * 1e3)
    return {name: statistics.median(values) for name, values in samples.items()}


def namespace_part(runs: int) -> None:
    from tests.functional.netns import NetNS, have_root

    if not have_root():
        print("\n(create/address/up/delete skipped: needs root to create a network namespace)")
        return
    with NetNS("bench") as ns:
        warm = ns.call(warm_operations, runs)
        print("\nkernel calls on a warm socket, in a throwaway namespace "
              f"(median of {runs}):")
        for name, ms in warm.items():
            print(f"  {name:14} {ms:6.2f} ms")
        print(f"  {'all four':14} {sum(warm.values()):6.2f} ms")
        cold = fresh({"cold": COLD_SNIPPET}, runs, prefix=["ip", "netns", "exec", ns.name])["cold"]
        print(f"\ncold process in the namespace: import + socket + create/address/up + delete "
              f"(median of {runs}):")
        print(f"  total            {spread(cold, 'total')}")
        print(f"  import + socket  {spread(cold, 'open')}")
        print(f"  create+addr+up   {spread(cold, 'start')}")
        print(f"  delete           {spread(cold, 'delete')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--check", action="store_true",
                        help=f"exit 1 if import + socket exceeds {IMPORT_TARGET_MS:.0f} ms")
    args = parser.parse_args()

    compile_bytecode()
    print(f"python -c pass (interpreter start-up, wall): median {interpreter_floor(args.runs):.1f} ms")
    timings = fresh({"import": IMPORT_SNIPPET, "floor": FLOOR_SNIPPET, "increment": INCREMENT_SNIPPET,
                     "iproute": IPROUTE_SNIPPET}, args.runs)
    rows = timings["import"]
    print(f"\nfresh interpreters, {args.runs} runs each, interleaved:")
    print(f"  import kvmnet.host.netlink + Netlink().open(): {spread(rows, 'total')}"
          f"   target <= {IMPORT_TARGET_MS:.0f} ms")
    print(f"    import kvmnet.host.netlink (no pyroute2):   {spread(rows, 'module')}")
    print(f"    open (pyroute2's link classes + socket):    {spread(rows, 'socket')}")
    print(f"    the same in CPU time (process_time):        {spread(rows, 'cpu')}")
    print(f"  all 4 pyroute2 classes alone (same loader):   {spread(timings['floor'], 'total')}")
    print(f"  after typing+logging+socket (loaded anyway):  {spread(timings['increment'], 'total')}")
    ref = timings["iproute"]
    print(f"  reference: pyroute2 IPRoute on top of that:   {spread(ref, 'iproute')}"
          f"   (imports asyncio: {ref[0]['asyncio']})")
    namespace_part(args.runs)

    total = median(rows, "total")
    if args.check and total > IMPORT_TARGET_MS:
        print(f"\nFAIL: import + socket {total:.1f} ms > {IMPORT_TARGET_MS:.0f} ms")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
