#!/usr/bin/env python3
"""Benchmark of a guest's start to its DHCP lease, split into kvmnet's part and the guest's.

Runs as root in a throwaway network namespace (created and deleted here) with a temporary
KVMNET_ROOT: starts the cookbook's ``default`` network (examples/networks/default.xml), then
boots the tiny test guest (tests/functional/guest_image.py, cached in $KVMNET_TEST_CACHE) on it
``--runs`` times (after ``--warmup`` unmeasured boots), each time with a fresh MAC address, so
that every boot is a new guest asking for a new lease.  Per boot:

  * kvmnet's part: the ``kvmnet start`` command, from exec until it returns with QEMU running
    (CLI start-up, checks, plugging the tap into the bridge, QEMU's own set-up until it
    daemonizes, run records); QEMU's set-up is reported separately (the run record's
    ``launch_seconds``), as is the bare cost of one port plug (``ports.plug``, in process);
  * the guest's part: from ``start`` returning (QEMU running) to the guest's lease marker on
    its serial console, and to the lease showing in ``net-dhcp-leases`` (the lease file
    kvmnet's dnsmasq helper keeps, polled every 10 ms); the guest's own clock at its init and
    its lease is printed too (kernel boot under TCG is most of it);
  * ``kvmnet destroy``.

Prints medians (and min/max); asserts nothing.  Plug and unplug rates of many ports are in
bench/bench_ports.py.

Usage: python bench/bench_guests.py [--runs 5] [--warmup 1]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.functional.guest_image import MARKER, BuildUnavailable, GuestImage, build
from tests.functional.netns import NetNS

KVMNET = str(REPO / ".venv" / "bin" / "kvmnet")
NETWORK = "default"
POLL = 0.01
TIMEOUT = 300.0


def guest_xml(image: GuestImage, mac: str) -> str:
    return f"""<domain type='kvm'>
  <name>bench1</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type><kernel>{image.kernel}</kernel><initrd>{image.initrd}</initrd>
    <cmdline>{image.cmdline}</cmdline></os>
  <on_reboot>destroy</on_reboot>
  <devices>
    <interface type='network'><mac address='{mac}'/><source network='{NETWORK}'/></interface>
    <serial type='pty'/>
  </devices>
</domain>
"""


class Sandbox:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="kvmnet-bench-guests-"))
        self.root.chmod(0o755)  # dnsmasq runs as nobody and reads its files here
        self.ns = NetNS("bguest")

    def kv(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, KVMNET_ROOT=str(self.root))
        proc = subprocess.run(["ip", "netns", "exec", self.ns.name, KVMNET, *args],
                              capture_output=True, text=True, env=env, check=False, timeout=120,
                              stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise RuntimeError(f"kvmnet {' '.join(args)} -> exit {proc.returncode}\n"
                               f"{proc.stdout}{proc.stderr}")
        return proc

    @property
    def log(self) -> Path:
        return self.root / "var" / "log" / "kvmnet" / "guests" / "bench1.log"

    @property
    def leases(self) -> Path:
        return self.root / "var" / "lib" / "kvmnet" / "dnsmasq" / f"{NETWORK}.status"

    def record(self) -> dict[str, object]:
        data = json.loads((self.root / "run" / "kvmnet" / "guests" / "bench1.json").read_text())
        assert isinstance(data, dict) and isinstance(data["info"], dict)
        return data["info"]  # the guest's journal: its info is the run record


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _has_lease(path: Path, mac: str) -> bool:
    try:
        entries = json.loads(path.read_text() or "[]")
    except (FileNotFoundError, ValueError):
        return False  # not there yet, or caught mid-rename
    return any(str(e.get("mac-address", "")).lower() == mac for e in entries)


def boot_once(sb: Sandbox, image: GuestImage, mac: str) -> dict[str, float | str]:
    sb.kv("define", str(_write(sb.root / "bench1.xml", guest_xml(image, mac))))
    t0 = time.monotonic()
    sb.kv("start", "bench1")
    t1 = time.monotonic()
    rec = sb.record()
    marker_rx = re.compile(re.escape(MARKER) + r" lease (\S+) dev eth0")
    t_marker = t_lease = None
    while t_marker is None or t_lease is None:
        now = time.monotonic()
        if now - t1 > TIMEOUT:
            raise RuntimeError(f"no lease within {TIMEOUT:.0f} s; console:\n{_read(sb.log)[-2000:]}")
        if t_marker is None and marker_rx.search(_read(sb.log)):
            t_marker = now
        if t_lease is None and _has_lease(sb.leases, mac):
            t_lease = now
        time.sleep(POLL)
    # The guest's own clock: kernel boot to /init, and the end of its DHCP exchange.
    text = ""
    deadline = time.monotonic() + 60
    while "tests done uptime" not in text and time.monotonic() < deadline:
        text = _read(sb.log)
        time.sleep(0.05)
    init_up = re.search(re.escape(MARKER) + r" init kernel \S+ uptime ([\d.]+)", text)
    done_up = re.search(re.escape(MARKER) + r" tests done uptime ([\d.]+)", text)
    assert mac in sb.kv("net-dhcp-leases", NETWORK).stdout  # what the poll saw, by the CLI
    t2 = time.monotonic()
    sb.kv("destroy", "bench1")
    t3 = time.monotonic()
    launch = rec.get("launch_seconds")
    return {
        "start": t1 - t0,
        "qemu_setup": float(launch) if isinstance(launch, (int, float)) else float("nan"),
        "to_marker": t_marker - t1,
        "to_leases": t_lease - t1,
        "guest_init_uptime": float(init_up.group(1)) if init_up else float("nan"),
        "guest_lease_uptime": float(done_up.group(1)) if done_up else float("nan"),
        "destroy": t3 - t2,
        "accel": str(rec.get("accel")),
    }


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _cli_floor(sb: Sandbox, n: int = 5) -> float:
    """Wall time of a trivial kvmnet command (interpreter start-up, imports, one lookup)."""
    times = []
    for _ in range(n):
        t = time.monotonic()
        sb.kv("list", "--all", "--name")
        times.append(time.monotonic() - t)
    return statistics.median(times)


def _plug_latency(root: str, network: str, n: int) -> list[float]:
    """One ``ports.plug`` + ``ports.unplug`` at a time, in process (inside the namespace)."""
    import kvmnet
    from kvmnet.port import ports

    conn = kvmnet.open(root)
    out = []
    for i in range(n):
        t = time.perf_counter()
        info = ports.plug(conn, network, mac=f"52:54:00:ee:00:{i:02x}", owner_name="bench")
        out.append(time.perf_counter() - t)
        ports.unplug(conn, info.uuid)
    return out


def _fmt(values: list[float], scale: float = 1.0, unit: str = "s", digits: int = 2) -> str:
    med = statistics.median(values) * scale
    return (f"{med:7.{digits}f} {unit}  (min {min(values) * scale:.{digits}f}, "
            f"max {max(values) * scale:.{digits}f})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_guests: needs root (it creates a network namespace)", file=sys.stderr)
        return 2
    missing = [t for t in ("ip", "dnsmasq", "nft", "qemu-system-x86_64") if not shutil.which(t)]
    if missing:
        print(f"bench_guests: missing {', '.join(missing)}; run scripts/setup.sh", file=sys.stderr)
        return 2
    try:
        image = build()
    except BuildUnavailable as exc:
        print(f"bench_guests: cannot build the test guest: {exc}", file=sys.stderr)
        return 2

    sb = Sandbox()
    results: list[dict[str, float | str]] = []
    try:
        sb.ns.create()
        sb.kv("net-define", str(REPO / "examples" / "networks" / f"{NETWORK}.xml"))
        sb.kv("net-start", NETWORK)
        for i in range(args.warmup + args.runs):
            r = boot_once(sb, image, f"52:54:00:be:00:{i:02x}")
            kept = i >= args.warmup
            if kept:
                results.append(r)
            print(f"  {'run' if kept else 'warm-up'} {i + 1 - args.warmup if kept else i + 1}: "
                  f"start {r['start']:.2f} s (QEMU set-up {r['qemu_setup']:.2f} s), "
                  f"lease marker +{r['to_marker']:.2f} s, net-dhcp-leases +{r['to_leases']:.2f} s,"
                  f" destroy {r['destroy']:.2f} s", flush=True)
        floor = _cli_floor(sb)
        plugs = sb.ns.call(_plug_latency, str(sb.root), NETWORK, 20)
    finally:
        sb.kv("destroy", "bench1", check=False)
        sb.kv("net-destroy", NETWORK, check=False)
        sb.ns.delete()
        shutil.rmtree(sb.root, ignore_errors=True)

    def col(key: str) -> list[float]:
        return [float(r[key]) for r in results]

    start, qemu = col("start"), col("qemu_setup")
    own = [s - q for s, q in zip(start, qemu)]
    marker, leases = col("to_marker"), col("to_leases")
    total = [s + m for s, m in zip(start, leases)]
    print(f"\nguest start to DHCP lease, median of {len(results)} boots of the tiny test guest on "
          f"'{NETWORK}' (accel {results[0]['accel']}; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs)")
    print(f"  kvmnet's part: 'kvmnet start' until QEMU runs   {_fmt(start)}")
    print(f"    QEMU's set-up until it daemonizes            {_fmt(qemu)}")
    print(f"    kvmnet itself (CLI, checks, plug, records)    {_fmt(own)}")
    print(f"      a trivial kvmnet command (CLI start-up)     {floor:7.2f} s")
    print(f"      one port plug (ports.plug, in process)      {_fmt(plugs, 1e3, 'ms')}")
    print("  the guest's part: QEMU running to ...")
    print(f"    lease marker on its console                   {_fmt(marker)}")
    print(f"    lease listed by net-dhcp-leases               {_fmt(leases)}")
    init_up, lease_up = col("guest_init_uptime"), col("guest_lease_uptime")
    print(f"    guest clock: kernel boot to /init             {_fmt(init_up)}")
    print(f"    guest clock: /init to lease (udhcpc)          "
          f"{_fmt([b - a for a, b in zip(init_up, lease_up)])}")
    print("      (default.xml has stp='on': the kernel holds a new bridge port in STP listening "
          "and\n       learning for 2 + 2 s before it forwards, as under libvirt)")
    print(f"  start to lease in net-dhcp-leases, total        {_fmt(total)}")
    print(f"  kvmnet destroy                                  {_fmt(col('destroy'))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
