#!/usr/bin/env python3
"""Benchmark of SR-IOV hostdev networks on a fake sysfs tree (no SR-IOV hardware needed).

The cookbook host's tree (``tests/fake_sysfs.py``: an 82599ES whose PF eth1 has ``--vfs`` VFs)
in a temporary folder, ``$KVMNET_SYSFS`` pointing at it, a temporary ``KVMNET_ROOT``; no root:

  * cold ``kvmnet net-start`` / ``net-destroy`` of ``passthrough_net`` (``<pf dev='eth1'/>``),
    each a fresh process: the start discovers the VF pool in sysfs and journals it;
  * allocating and plugging a port per VF until the pool is exhausted (``ports.plug`` on the
    recording host: the sysfs reads and the record scans are real, the driver writes and
    netlink settings are recorded): ms per port (the first pays for the imports; each
    allocation reads every live port record to know which VFs are taken).

Usage: python bench/bench_hostdev.py [--vfs 63] [--runs 10]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PASSTHROUGH = ("<network><name>passthrough_net</name><forward mode='hostdev' managed='yes'>"
               "<pf dev='eth1'/></forward></network>")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vfs", type=int, default=63)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    from tests.fake_sysfs import FakeSysfs, cookbook_host

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        fake = FakeSysfs(base / "sys")
        cookbook_host(fake, numvfs=args.vfs)
        env = {**os.environ, "KVMNET_ROOT": str(base / "cli"), "KVMNET_SYSFS": str(fake.root)}
        xml = base / "passthrough_net.xml"
        xml.write_text(PASSTHROUGH)

        def kvmnet(*argv: str) -> float:
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "kvmnet", *argv], env=env,
                                  capture_output=True, text=True, check=False)
            if done.returncode:
                raise SystemExit(f"kvmnet {' '.join(argv)}: {done.stderr.strip()}")
            return time.perf_counter() - started

        kvmnet("net-define", str(xml))
        starts, stops = [], []
        for _ in range(args.runs):
            starts.append(kvmnet("net-start", "passthrough_net"))
            stops.append(kvmnet("net-destroy", "passthrough_net"))
        print(f"cold net-start of a {args.vfs}-VF pool: median "
              f"{statistics.median(starts) * 1000:.1f} ms; net-destroy "
              f"{statistics.median(stops) * 1000:.1f} ms ({args.runs} runs)")

        os.environ["KVMNET_SYSFS"] = str(fake.root)
        import kvmnet as kv
        from kvmnet.engine.recording import RecordingHost
        from kvmnet.port import ports

        conn = kv.open(str(base / "api"))
        conn.networkCreateXML(PASSTHROUGH)
        host = RecordingHost()
        times = []
        for i in range(args.vfs):
            started = time.perf_counter()
            ports.plug(conn, "passthrough_net", mac=f"52:54:00:00:{i // 256:02x}:{i % 256:02x}",
                       host=host)
            times.append(time.perf_counter() - started)
        print(f"{args.vfs} VF ports, one per VF (recording host): first "
              f"{times[0] * 1000:.2f} ms, median {statistics.median(times) * 1000:.2f} ms, "
              f"last {times[-1] * 1000:.2f} ms per port")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
