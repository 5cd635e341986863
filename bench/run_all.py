#!/usr/bin/env python3
"""Run every benchmark in this folder, one after another; each prints its own numbers.

Benchmarks are not tests: nothing here asserts a time.  Pass ``--quick`` for small sizes.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

QUICK = {
    "bench_definitions.py": ["--runs", "10", "--count", "50"],
    "bench_networks.py": ["--counts", "1,10", "--runs", "5", "--libvirt"],
    "bench_netlink.py": [],
    "bench_ports.py": ["--ports", "100"],
    "bench_guests.py": ["--runs", "2"],
    "bench_forwards.py": ["--runs", "2"],
    "bench_ovs.py": ["--counts", "100", "--wait-count", "20", "--plugs", "100"],
    "bench_hostdev.py": ["--runs", "3"],
}
FULL = {
    "bench_definitions.py": ["--virsh"],
    "bench_networks.py": ["--counts", "1,10,100,1000", "--runs", "10", "--libvirt"],
    "bench_netlink.py": [],
    "bench_ports.py": [],
    "bench_guests.py": ["--runs", "5"],
    "bench_forwards.py": ["--runs", "5"],
    "bench_ovs.py": [],
    "bench_hostdev.py": [],
}


def main() -> int:
    plan = QUICK if "--quick" in sys.argv[1:] else FULL
    status = 0
    for name, args in plan.items():
        path = HERE / name
        if not path.exists():
            continue
        print(f"\n######## {name} {' '.join(args)}", flush=True)
        status |= subprocess.run([sys.executable, str(path), *args], check=False).returncode
    return status


if __name__ == "__main__":
    raise SystemExit(main())
