#!/usr/bin/env python3
"""Benchmark: ports on an Open vSwitch bridge through kvmnet's IDL path, beside ovs-vsctl.

Prints, for each N in --counts (on a private Open vSwitch, userspace datapath, that this script
starts with ``kvmnet ovs start`` in a network namespace it creates, with a temporary
KVMNET_ROOT; all removed at the end):

  * N ``add_port`` then N ``del_port`` through one :class:`kvmnet.ovs.client.Switch` (one OVSDB
    transaction each, not waiting for ovs-vswitchd: ``--no-wait``), and the same with N
    ``ovs-vsctl --no-wait add-port`` / ``del-port`` processes on the same daemon;
  * the growth from the smallest N to the largest ("x" columns: time(N) / time(N0), linear is
    N/N0), the issue's goal being 1,000 adds + 1,000 removes under 2 s and at most 12x 100's;
  * the kvmnet path again with ovs-vswitchd stopped ("kvmnet-db-only": the client and
    ovsdb-server alone, without the switch reconfiguring its bridge on every change);
  * with --wait-count M: M ports each way waiting for ovs-vswitchd to apply them (ovs-vsctl's
    default, what reports an interface's error), kvmnet and ovs-vsctl;
  * guest port plug+unplug per second (--plugs P): a tap made by the tun driver, its OVSDB port
    added, then the port removed and the tap deleted, as a guest's NIC on OVS costs.

The ports are real taps made beforehand (outside the timings), so ovs-vswitchd opens each one.
Nothing here asserts a time.  Needs root.

Usage: python bench/bench_ovs.py [--counts 100,1000] [--wait-count 100] [--plugs 500]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
KVMNET = REPO / ".venv" / "bin" / "kvmnet"
VSCTL = shutil.which("ovs-vsctl") or "/usr/bin/ovs-vsctl"


def _add_remove(sw: Any, n: int) -> list[float]:
    """Seconds for n add_port, then for n del_port, through one open switch."""
    t0 = time.perf_counter()
    for i in range(n):
        sw.add_port("bbench", f"bt{i}")
    t1 = time.perf_counter()
    for i in range(n):
        sw.del_port(f"bt{i}")
    return [t1 - t0, time.perf_counter() - t1]


def inner(args: argparse.Namespace) -> None:
    """Runs inside the namespace: every timing, printed as one JSON line."""
    sys.path.insert(0, str(REPO))
    from kvmnet.host import tap as taps
    from kvmnet.ovs.client import Switch

    db = "unix:" + str(Path(os.environ["KVMNET_ROOT"]) / "run" / "openvswitch" / "db.sock")
    counts = [int(c) for c in args.counts.split(",")]
    most = max(counts + [args.wait_count])
    batch = "".join(f"tuntap add dev bt{i} mode tap\nlink set bt{i} up\n" for i in range(most))
    subprocess.run(["ip", "-batch", "-"], input=batch, text=True, check=True)
    out: dict[str, object] = {}
    with Switch.open(db, wait=False) as sw:
        sw.add_bridge("bbench")
        for n in counts:
            out[f"kvmnet/{n}"] = _add_remove(sw, n)
        if args.wait_count:
            sw.sync(timeout=600)  # ovs-vswitchd catches up with the no-wait changes first
            sw.wait = True
            out[f"kvmnet-wait/{args.wait_count}"] = _add_remove(sw, args.wait_count)
            sw.wait = False

    def vsctl_loop(n: int, wait: bool) -> list[float]:
        flag = [] if wait else ["--no-wait"]
        times = []
        for verb in ("add-port", "del-port"):
            t0 = time.perf_counter()
            for i in range(n):
                argv = [VSCTL, f"--db={db}", *flag, verb]
                argv += ["bbench", f"bt{i}"]
                subprocess.run(argv, check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
        return times

    for n in counts:
        out[f"ovs-vsctl/{n}"] = vsctl_loop(n, False)
    if args.wait_count:
        with Switch.open(db) as sw:
            sw.sync(timeout=600)
        out[f"ovs-vsctl-wait/{args.wait_count}"] = vsctl_loop(args.wait_count, True)

    # The same client path with ovs-vswitchd stopped: OVSDB alone, without the switch
    # reconfiguring its bridge (O(ports) each time) on the same two CPUs.
    from kvmnet.host import process
    from kvmnet.ovs import daemon

    layout = daemon.Layout()
    pid = daemon.running_pid(layout, "ovs-vswitchd")
    if pid is not None:
        process.terminate(pid, expected_cmdline_contains=str(layout.pidfile("ovs-vswitchd")))
        with Switch.open(db, wait=False) as sw:
            for n in counts:
                out[f"kvmnet-db-only/{n}"] = _add_remove(sw, n)
        daemon.start()

    if args.plugs:
        from kvmnet.host.netlink import Netlink

        with Switch.open(db, wait=False) as sw, Netlink() as nl:
            t0 = time.perf_counter()
            for i in range(args.plugs):
                name = taps.create_tap("pl%d", mac=f"52:54:00:00:{i // 256 % 256:02x}:{i % 256:02x}",
                                       mtu=None, up=True)
                sw.add_port("bbench", name, iface_external_ids={"iface-id": str(i)})
                sw.del_port(name)
                nl.delete_link(name)
            out["plugs"] = [args.plugs / (time.perf_counter() - t0)]
    print(json.dumps(out))


def report(data: dict[str, list[float]], counts: list[int]) -> None:
    base = counts[0]
    print(f"{'path':<17}{'ports':>7}{'add s':>9}{'del s':>9}{'total s':>9}{'per port ms':>13}"
          f"{'x (vs ' + str(base) + ')':>12}")
    for who in ("kvmnet", "ovs-vsctl", "kvmnet-db-only", "kvmnet-wait", "ovs-vsctl-wait"):
        for key, (add, delete) in ((k, v) for k, v in data.items() if k.split("/")[0] == who):
            n = int(key.split("/")[1])
            total = add + delete
            first = data.get(f"{who}/{base}")
            growth = f"{total / sum(first):.1f}x" if first and n != base else ""
            print(f"{who:<17}{n:>7}{add:>9.3f}{delete:>9.3f}{total:>9.3f}"
                  f"{total / (2 * n) * 1000:>13.3f}{growth:>12}")
    if "plugs" in data:
        print(f"guest port plug+unplug on OVS (tap + OVSDB row): {data['plugs'][0]:.0f}/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="100,1000")
    parser.add_argument("--wait-count", type=int, default=100)
    parser.add_argument("--plugs", type=int, default=500)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        inner(args)
        return 0
    if os.geteuid() != 0:
        print("bench_ovs needs root (network namespaces)", file=sys.stderr)
        return 1
    ns = f"kvb-ovs-{uuid.uuid4().hex[:8]}"
    root = tempfile.mkdtemp(prefix="kvmnet-bench-ovs-")
    env = {**os.environ, "KVMNET_ROOT": root}
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", ns, str(KVMNET), "ovs", "start"], env=env,
                       check=True, capture_output=True)
        proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, __file__, "--inner",
                               "--counts", args.counts, "--wait-count", str(args.wait_count),
                               "--plugs", str(args.plugs)], env=env, check=False,
                              stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            return proc.returncode
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        report(data, [int(c) for c in args.counts.split(",")])
    finally:
        subprocess.run(["ip", "netns", "exec", ns, str(KVMNET), "ovs", "stop"], env=env,
                       check=False, capture_output=True)
        subprocess.run(["ip", "netns", "pids", ns], check=False)
        subprocess.run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
