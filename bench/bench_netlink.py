#!/usr/bin/env python3
"""Benchmark of kvmnet's two paths to rtnetlink: hand-packed (hot path) vs pyroute2's public API.

kvmnet packs the messages of ``net-start``/``net-destroy`` itself (kvmnet.host.rtpack on
kvmnet.host.rtnl) and uses pyroute2's public ``IPRoute`` (kvmnet.host.iproute) for everything
else.  A hand-packed message stays only where it saves >= 5 ms on a hot verb; this prints the
numbers that decide it:

  * start-up, fresh interpreters (median of --runs, interleaved): ``import kvmnet.host.netlink``
    + an open socket (hand-packed) against ``from pyroute2 import IPRoute`` + ``IPRoute()`` and
    against ``from pyroute2.iproute.linux import IPRoute`` + ``IPRoute()`` (which still runs
    pyroute2's package ``__init__``);
  * (root only) the hot path's operations -- create bridge (STP, delay, MTU), add address, link
    up, address dump, route dump, link delete -- both ways, per operation on a warm socket and
    as a whole cold process in a throwaway network namespace.

Target: hand-packed import + socket median <= 35 ms.

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

# pyroute2's public client, as the cold verbs load it (kvmnet.host.iproute), and its
# "lighter" module path, which runs the same package __init__.
PUBLIC_SNIPPET = """
import json, time
c0, t0 = time.process_time(), time.perf_counter()
from pyroute2 import IPRoute
t1 = time.perf_counter()
ipr = IPRoute()
c2, t2 = time.process_time(), time.perf_counter()
ipr.close()
print(json.dumps({"total": (t2 - t0) * 1e3, "module": (t1 - t0) * 1e3, "socket": (t2 - t1) * 1e3,
                  "cpu": (c2 - c0) * 1e3}))
"""
LINUX_SNIPPET = PUBLIC_SNIPPET.replace("from pyroute2 import IPRoute",
                                       "from pyroute2.iproute.linux import IPRoute")

# The hot path of a cold net-start + net-destroy, both ways: create a bridge, add an address,
# bring it up, the conflict check's address dump and the route dump, delete the bridge.
COLD_PACKED = """
import json, time
t0 = time.perf_counter()
from kvmnet.host.netlink import Netlink
with Netlink() as nl:
    t1 = time.perf_counter()
    nl.create_bridge("kvbench0", stp=True, forward_delay_cs=0, mtu=1500, up=False)
    nl.add_address("kvbench0", "192.0.2.1", 24)
    nl.set_link_up("kvbench0")
    nl.addresses_within([(4, 0xC0000200, 0xC00002FF)])
    nl.list_routes()
    t2 = time.perf_counter()
    nl.delete_link("kvbench0")
    t3 = time.perf_counter()
print(json.dumps({"total": (t3 - t0) * 1e3, "open": (t1 - t0) * 1e3, "start": (t2 - t1) * 1e3,
                  "delete": (t3 - t2) * 1e3}))
"""
COLD_PUBLIC = """
import json, time
t0 = time.perf_counter()
from pyroute2 import IPRoute
with IPRoute() as ipr:
    t1 = time.perf_counter()
    ipr.link("add", ifname="kvbench0", kind="bridge", br_stp_state=1, br_forward_delay=0,
             mtu=1500)
    (idx,) = ipr.link_lookup(ifname="kvbench0")
    ipr.addr("add", index=idx, address="192.0.2.1", prefixlen=24, broadcast="192.0.2.255")
    ipr.link("set", index=idx, state="up")
    ipr.get_addr()
    ipr.get_routes()
    t2 = time.perf_counter()
    ipr.link("del", index=idx)
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


OPS = ("create_bridge", "add_address", "set_link_up", "address_dump", "route_dump",
       "delete_link")


def warm_operations(runs: int) -> dict[str, dict[str, float]]:
    """Per-call medians on one open socket each way, inside the current (test) namespace."""
    from pyroute2 import IPRoute

    from kvmnet.host.netlink import Netlink

    samples = {way: {op: [] for op in OPS} for way in ("packed", "public")}
    idx: dict[str, int] = {}  # the public side's bridge index, per round
    with Netlink() as nl, IPRoute() as ipr:
        nl.list_links()
        ipr.get_links()
        for _ in range(runs):
            packed: list[tuple[str, Callable[[], object]]] = [
                ("create_bridge", lambda: nl.create_bridge("kvbench0", stp=True,
                                                           forward_delay_cs=0, mtu=1500,
                                                           up=False)),
                ("add_address", lambda: nl.add_address("kvbench0", "192.0.2.1", 24)),
                ("set_link_up", lambda: nl.set_link_up("kvbench0")),
                ("address_dump", lambda: nl.addresses_within([(4, 0xC0000200, 0xC00002FF)])),
                ("route_dump", nl.list_routes),
                ("delete_link", lambda: nl.delete_link("kvbench0")),
            ]
            public: list[tuple[str, Callable[[], object]]] = [
                ("create_bridge", lambda: idx.update(bridge=(ipr.link(
                    "add", ifname="kvbench1", kind="bridge", br_stp_state=1, br_forward_delay=0,
                    mtu=1500) and ipr.link_lookup(ifname="kvbench1")[0]))),
                ("add_address", lambda: ipr.addr("add", index=idx["bridge"], address="192.0.2.1",
                                                 prefixlen=24, broadcast="192.0.2.255")),
                ("set_link_up", lambda: ipr.link("set", index=idx["bridge"], state="up")),
                ("address_dump", ipr.get_addr),
                ("route_dump", ipr.get_routes),
                ("delete_link", lambda: ipr.link("del", index=idx["bridge"])),
            ]
            for way, steps in (("packed", packed), ("public", public)):
                for name, step in steps:
                    t0 = time.perf_counter()
                    step()
                    samples[way][name].append((time.perf_counter() - t0) * 1e3)
    return {way: {op: statistics.median(v) for op, v in ops.items()}
            for way, ops in samples.items()}


def namespace_part(runs: int) -> None:
    from tests.functional.netns import NetNS, have_root

    if not have_root():
        print("\n(hot-path operations skipped: needs root to create a network namespace)")
        return
    with NetNS("bench") as ns:
        warm = ns.call(warm_operations, runs)
        print(f"\nhot-path kernel calls on a warm socket, in a throwaway namespace (median of "
              f"{runs}, ms):")
        print(f"  {'operation':14} {'hand-packed':>11} {'pyroute2':>9} {'saved':>7}")
        for op in OPS:
            a, b = warm["packed"][op], warm["public"][op]
            print(f"  {op:14} {a:11.2f} {b:9.2f} {b - a:7.2f}")
        ta, tb = sum(warm["packed"].values()), sum(warm["public"].values())
        print(f"  {'all':14} {ta:11.2f} {tb:9.2f} {tb - ta:7.2f}")
        cold = fresh({"packed": COLD_PACKED, "public": COLD_PUBLIC}, runs,
                     prefix=["ip", "netns", "exec", ns.name])
        print(f"\ncold process in the namespace: import + socket + create/address/up/dumps + "
              f"delete (median of {runs}):")
        for key, label in (("total", "total"), ("open", "import + socket"),
                           ("start", "create..dumps"), ("delete", "delete")):
            print(f"  {label:16} hand-packed {spread(cold['packed'], key)}")
            print(f"  {'':16} pyroute2    {spread(cold['public'], key)}")
        saved = median(cold["public"], "total") - median(cold["packed"], "total")
        print(f"  hand-packed saves {saved:.1f} ms per cold net-start/net-destroy pair")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--check", action="store_true",
                        help=f"exit 1 if import + socket exceeds {IMPORT_TARGET_MS:.0f} ms")
    args = parser.parse_args()

    compile_bytecode()
    print(f"python -c pass (interpreter start-up, wall): median {interpreter_floor(args.runs):.1f} ms")
    timings = fresh({"import": IMPORT_SNIPPET, "increment": INCREMENT_SNIPPET,
                     "public": PUBLIC_SNIPPET, "linux": LINUX_SNIPPET}, args.runs)
    rows = timings["import"]
    print(f"\nfresh interpreters, {args.runs} runs each, interleaved:")
    print(f"  hand-packed: import kvmnet.host.netlink + open: {spread(rows, 'total')}"
          f"   target <= {IMPORT_TARGET_MS:.0f} ms")
    print(f"    import kvmnet.host.netlink (no pyroute2):     {spread(rows, 'module')}")
    print(f"    open (socket):                                {spread(rows, 'socket')}")
    print(f"    the same in CPU time (process_time):          {spread(rows, 'cpu')}")
    print(f"    after typing+logging+socket (loaded anyway):  "
          f"{spread(timings['increment'], 'total')}")
    for key, label in (("public", "from pyroute2 import IPRoute"),
                       ("linux", "from pyroute2.iproute.linux import IPRoute")):
        print(f"  pyroute2: {label} + IPRoute():")
        print(f"    total                                         {spread(timings[key], 'total')}")
        print(f"    import                                        {spread(timings[key], 'module')}")
        print(f"    CPU time                                      {spread(timings[key], 'cpu')}")
    namespace_part(args.runs)

    total = median(rows, "total")
    if args.check and total > IMPORT_TARGET_MS:
        print(f"\nFAIL: import + socket {total:.1f} ms > {IMPORT_TARGET_MS:.0f} ms")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
