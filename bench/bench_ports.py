#!/usr/bin/env python3
"""Benchmark of guest ports (kvmnet.port.ports): plug and unplug many taps on one network.

Runs as root in a throwaway network namespace (created and deleted here) with a temporary
KVMNET_ROOT: defines and starts a NAT network, then in one process

  * plugs N ports one after the other (``ports.plug``: tap + MAC + MTU by ioctl, netlink master
    and up, two run-time records): ports/s, median and p95 per plug;
  * unplugs them all at once (``ports.unplug_many``: taps deleted from up to 64 threads, whose
    kernel RCU waits overlap);
  * plug + unplug of the N ports together: ports/s (target >= 200/s);
  * one-at-a-time ``ports.unplug`` of a further batch (each tap deletion waits for the kernel's
    RCU grace periods, ~15 ms, which one caller cannot overlap);
  * the bare host steps of one tap: create by ioctl (with MAC and MTU), netlink set master, set
    up (target: well under 5 ms together).

With ``--ovs`` the same runs twice, one after the other on the same loaded machine: on the
Linux bridge network above, then on a bridge-mode network on an Open vSwitch bridge (a private
Open vSwitch, ``kvmnet ovs start``, userspace datapath, in its own namespace): each plug is a
tap plus an OVSDB Port/Interface row with libvirt's external_ids, each unplug removes both
(target plug + unplug >= 200/s).  Both print where the time goes: the wall time of each
engine step (median), the CPU per port of kvmnet and of each daemon, and, on Open vSwitch,
one ``ports.settle`` of all the ports (what a guest start waits for once) and how much CPU
ovs-vswitchd spends on a plain tap that is not even its port, created and deleted in the
namespace while the bridge has all the ports: it reconfigures every bridge on each link
change it hears of, O(ports) each time.

Usage: python bench/bench_ports.py [--ports 1000] [--serial 100] [--ovs]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
TARGET_PER_S = 200.0

OVS_NETWORK = """<network>
  <name>bench</name>
  <forward mode='bridge'/>
  <bridge name='ovsbench'/>
  <virtualport type='openvswitch'/>
  <portgroup name='v10' default='yes'><vlan><tag id='10'/></vlan></portgroup>
</network>
"""

NETWORK = """<network>
  <name>bench</name>
  <forward mode='nat'/>
  <bridge name='virbr-bench' stp='off'/>
  <ip address='192.168.250.1' netmask='255.255.255.0'/>
</network>
"""


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _mac(i: int) -> str:
    return f"52:54:00:{(i >> 16) & 0xFF:02x}:{(i >> 8) & 0xFF:02x}:{i & 0xFF:02x}"


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` used so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _time_steps() -> dict[str, list[float]]:
    """Wall time of every engine step and undo this process runs, by kind (the hosts'
    perform/revert wrapped: the bench's own instrument, not kvmnet's)."""
    from kvmnet.engine.host import Host
    from kvmnet.port.plugs.ovs import SharedOvsHost

    times: dict[str, list[float]] = {}

    def timed(method: Any, label: Any) -> Any:
        def run(self: Any, what: Any, *args: Any) -> Any:
            t = time.perf_counter()
            try:
                return method(self, what, *args)
            finally:
                times.setdefault(label(what), []).append(time.perf_counter() - t)
        return run

    for cls in (Host, SharedOvsHost):
        cls.perform = timed(cls.perform, lambda step: step.kind)  # type: ignore[method-assign]
        cls.revert = timed(cls.revert,  # type: ignore[method-assign]
                           lambda handler: f"undo {handler.kind}")
    return times


def _kvmnet(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "kvmnet", *args], cwd=REPO,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"kvmnet {' '.join(args)}: exit {proc.returncode}: {proc.stderr}")


def inner(n: int, serial: int, ovs: bool = False) -> dict[str, float]:
    """The measurement itself, inside the namespace."""
    root = tempfile.mkdtemp(prefix="kvmnet-bench-ports-",
                            dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    os.environ["KVMNET_ROOT"] = root
    try:
        if ovs:
            _kvmnet("ovs", "start")
            _kvmnet("ovs", "add-br", "ovsbench")
        return _measure(root, n, serial, ovs)
    finally:
        if ovs:
            _kvmnet("ovs", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _measure(root: str, n: int, serial: int, ovs: bool) -> dict[str, float]:
    import kvmnet
    from kvmnet.host import tap
    from kvmnet.host.netlink import Netlink
    from kvmnet.port import ports

    out: dict[str, Any] = {}
    conn = kvmnet.open(root)
    conn.notify = lambda text: None  # type: ignore[method-assign]
    daemons: dict[str, int] = {}
    if ovs:
        from kvmnet.ovs import daemon

        state = daemon.status(root)
        daemons = {d: int(state[d]) for d in daemon.DAEMONS}
    times = _time_steps()
    try:
        conn.networkDefineXML(OVS_NETWORK if ovs else NETWORK).create()
        # warm-up: imports, the first netlink socket, the parsed network
        ports.unplug(conn, ports.plug(conn, "bench", mac=_mac(0)).uuid)
        times.clear()
        dcpu0 = {d: _cpu_s(pid) for d, pid in daemons.items()}

        per_plug: list[float] = []
        uuids: list[str] = []
        cpu0 = time.process_time()  # this process's own CPU: what the machine's load does not add
        t0 = time.perf_counter()
        for i in range(1, n + 1):
            t = time.perf_counter()
            info = ports.plug(conn, "bench", mac=_mac(i), owner_name=f"g{i}",
                              owner_uuid=str(uuid.UUID(int=i)))
            per_plug.append(time.perf_counter() - t)
            uuids.append(info.uuid)
        plug_s = time.perf_counter() - t0
        cpu_plug = time.process_time() - cpu0
        dcpu1 = {d: _cpu_s(pid) for d, pid in daemons.items()}
        assert len(ports.list_ports(conn, "bench")) == n
        if ovs:
            t = time.perf_counter()
            ports.settle(conn, uuids)  # ovs-vswitchd took them all (one sync)
            out["settle_all_ms"] = (time.perf_counter() - t) * 1e3
            out["vswitchd_ms_per_bare_tap"] = _bare_taps(daemons["ovs-vswitchd"])
        dcpu2 = {d: _cpu_s(pid) for d, pid in daemons.items()}
        cpu1 = time.process_time()
        t0 = time.perf_counter()
        failures = ports.unplug_many(conn, uuids)
        unplug_s = time.perf_counter() - t0
        cpu_ms = (cpu_plug + time.process_time() - cpu1) * 1e3 / n
        dcpu3 = {d: _cpu_s(pid) for d, pid in daemons.items()}
        out["daemon_cpu_ms"] = {d: ((dcpu1[d] - dcpu0[d]) + (dcpu3[d] - dcpu2[d])) * 1e3 / n
                                for d in daemons}
        out["steps_ms"] = {kind: statistics.median(v) * 1e3 for kind, v in sorted(times.items())}
        assert not failures, failures[:3]
        assert not ports.list_ports(conn, "bench")
        out.update(ports=n, plug_per_s=n / plug_s, plug_median_ms=statistics.median(per_plug) * 1e3,
                   plug_p95_ms=_pct(per_plug, 0.95) * 1e3, unplug_many_per_s=n / unplug_s,
                   plug_unplug_per_s=n / (plug_s + unplug_s), cpu_ms_per_plug_unplug=cpu_ms)

        # one-at-a-time unplug
        infos = [ports.plug(conn, "bench", mac=_mac(i)) for i in range(n + 1, n + 1 + serial)]
        per_unplug: list[float] = []
        for info in infos:
            t = time.perf_counter()
            ports.unplug(conn, info.uuid)
            per_unplug.append(time.perf_counter() - t)
        out.update(unplug_serial_median_ms=statistics.median(per_unplug) * 1e3,
                   unplug_serial_per_s=len(per_unplug) / sum(per_unplug))

        if ovs:
            leftovers = [n for _, n in socket.if_nameindex() if n.startswith("vnet")]
            assert not leftovers, leftovers
            return out
        # the bare host steps of one tap
        steps: list[float] = []
        with Netlink() as nl:
            for i in range(50):
                t = time.perf_counter()
                name = tap.create_tap("vbench%d", mac=tap.host_side_mac(_mac(i)), mtu=1500)
                nl.set_master(name, "virbr-bench")
                nl.set_link_up(name)
                steps.append(time.perf_counter() - t)
                nl.delete_link(name)
        out["tap_create_attach_up_median_ms"] = statistics.median(steps) * 1e3
        leftovers = [n for _, n in socket.if_nameindex() if n.startswith("vnet")]
        assert not leftovers, leftovers
    finally:
        try:
            conn.lookupNetwork("bench").destroy()
        except kvmnet.KvmnetError:
            pass
    return out


def _bare_taps(vswitchd: int, count: int = 50) -> float:
    """ovs-vswitchd's CPU (ms) per tap created and deleted in its namespace that is no port
    of it: its reaction to link changes alone."""
    from kvmnet.host import tap
    from kvmnet.host.netlink import Netlink

    cpu0 = _cpu_s(vswitchd)
    with Netlink() as nl:
        for i in range(count):
            nl.delete_link(tap.create_tap("vbare%d", mac=tap.host_side_mac(_mac(i)), mtu=1500,
                                          up=True))
    time.sleep(0.5)  # let it finish reacting
    return (_cpu_s(vswitchd) - cpu0) * 1e3 / count


def _run(ns_args: list[str], ovs: bool) -> dict[str, Any] | None:
    """One measurement in a namespace of its own; None (after printing why) on failure."""
    ns = f"kvh-bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, __file__, "--inner",
                               *ns_args, *(["--ovs"] if ovs else [])],
                              capture_output=True, text=True, cwd=REPO, check=False)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    if proc.returncode != 0:
        print(proc.stdout + proc.stderr, file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _report(r: dict[str, Any], ovs: bool) -> None:
    where = "an Open vSwitch bridge (tap + OVSDB row)" if ovs else "a Linux bridge"
    print(f"guest ports on {where}, {r['ports']} ports, one process "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"  plug (one at a time):        {r['plug_per_s']:8.1f} ports/s   median "
          f"{r['plug_median_ms']:.2f} ms, p95 {r['plug_p95_ms']:.2f} ms")
    print(f"  unplug all (unplug_many):    {r['unplug_many_per_s']:8.1f} ports/s")
    ok = "ok" if r["plug_unplug_per_s"] >= TARGET_PER_S else "BELOW TARGET"
    print(f"  plug + unplug:               {r['plug_unplug_per_s']:8.1f} ports/s   (target >= "
          f"{TARGET_PER_S:.0f}/s: {ok})")
    steps = ", ".join(f"{k} {v:.2f}" for k, v in r["steps_ms"].items())
    print(f"  wall per step, median ms:    {steps}")
    cpu = {"kvmnet": r["cpu_ms_per_plug_unplug"], **r["daemon_cpu_ms"]}
    total = sum(cpu.values())
    print("  CPU per plug + unplug, ms:   " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
          + f"; together {total:.2f} ms: {os.cpu_count()} idle CPUs could do at most "
          f"{(os.cpu_count() or 1) * 1e3 / total:.0f}/s")
    if "settle_all_ms" in r:
        print(f"  settle all {r['ports']} ports (one sync, each Interface's error): "
              f"{r['settle_all_ms']:.1f} ms")
        print(f"  ovs-vswitchd CPU per plain tap created + deleted beside {r['ports']} ports: "
              f"{r['vswitchd_ms_per_bare_tap']:.2f} ms (it reconfigures on every link change)")
    print(f"  unplug one at a time:        {r['unplug_serial_per_s']:8.1f} ports/s   median "
          f"{r['unplug_serial_median_ms']:.2f} ms (kernel RCU wait per deletion)")
    if "tap_create_attach_up_median_ms" in r:
        print(f"  tap create+MAC+MTU (ioctl) + netlink master + up: median "
              f"{r['tap_create_attach_up_median_ms']:.2f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ports", type=int, default=1000)
    ap.add_argument("--serial", type=int, default=100)
    ap.add_argument("--ovs", action="store_true",
                    help="on an Open vSwitch bridge (a private OVS in the namespace)")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        print(json.dumps(inner(args.ports, args.serial, args.ovs)))
        return 0
    if os.geteuid() != 0:
        print("bench_ports: needs root (it creates a network namespace)", file=sys.stderr)
        return 2
    ns_args = ["--ports", str(args.ports), "--serial", str(args.serial)]
    # with --ovs the Linux bridge first, under the same conditions, for comparison
    for ovs in ((False, True) if args.ovs else (False,)):
        r = _run(ns_args, ovs)
        if r is None:
            return 1
        _report(r, ovs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
