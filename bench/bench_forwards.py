#!/usr/bin/env python3
"""Benchmark: 1,000 port forwards added in one command and removed again.

Prints (wall-clock times of cold CLI processes, as a user runs them; medians of --runs):
  * ``net-forward-add NET 198.51.100.7 tcp 10000-10999 TARGET`` (1,000 forwards, one to one,
    live: one nft transaction of element changes) and the matching ``net-forward-remove``;
  * one more forward added and removed while the 1,000 are there (an element change in a
    map of 1,000);
  * ``net-destroy`` + ``net-start`` of the network with the 1,000 forwards in its definition;
  * the rules a packet can meet, counted in ``nft -j list ruleset`` (kvmnet's two tables):
    with 1 forward and with 1,000 -- the same number, since forwards are map elements.

Byte-code is compiled first, as an installed package ships it.  Everything happens inside a network namespace this script creates, with a temporary
KVMNET_ROOT; both are removed at the end.  Needs root.

Usage: python bench/bench_forwards.py [--runs 5] [--count 1000]
"""
from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

LISTEN = "198.51.100.7"
TARGET = "192.168.150.10"
NETWORK = ("<network xmlns:kvmnet='https://kvmnet.dev/xmlns/network/1'>\n  <name>fwbench</name>\n"
           "  <forward mode='nat'/>\n  <bridge name='virbr-fb' stp='off'/>\n"
           "  <ip address='192.168.150.1' netmask='255.255.255.0'/>\n{forwards}</network>\n")


def kvmnet_command() -> list[str]:
    script = Path(sys.executable).parent / "kvmnet"
    return [str(script)] if script.exists() else [sys.executable, "-m", "kvmnet"]


class Bench:
    def __init__(self, ns: str, root: str) -> None:
        self.ns = ns
        self.env = dict(os.environ, KVMNET_ROOT=root)

    def kv(self, *args: str) -> float:
        start = time.perf_counter()
        proc = subprocess.run(["ip", "netns", "exec", self.ns, *kvmnet_command(), *args],
                              env=self.env, capture_output=True, text=True, check=False)
        took = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"kvmnet {' '.join(args)} failed:\n{proc.stderr}")
        return took

    def ruleset(self) -> list[dict[str, object]]:
        out = subprocess.run(["ip", "netns", "exec", self.ns, "nft", "-j", "list", "ruleset"],
                             capture_output=True, text=True, check=True).stdout
        return list(json.loads(out)["nftables"])

    def counts(self) -> tuple[int, int]:
        """(rules in kvmnet's tables, forwards map elements)."""
        items = self.ruleset()
        rules = sum(1 for i in items if "rule" in i
                    and i["rule"]["table"] in ("kvmnet", "kvmnet_forwards"))  # type: ignore[index]
        elems = sum(len(i["map"].get("elem", [])) for i in items  # type: ignore[union-attr]
                    if "map" in i and i["map"]["name"] == "dnat4")  # type: ignore[index]
        return rules, elems


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:8.1f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--count", type=int, default=1000)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_forwards: needs root (it works in a network namespace it creates)")
        return 1
    # an installed package ships its byte-code; without it every cold command compiles
    compileall.compile_dir(str(Path(__file__).resolve().parent.parent / "kvmnet"), quiet=1)
    ns = f"kvb-fwd-{uuid.uuid4().hex[:8]}"
    root = tempfile.mkdtemp(prefix="kvmnet-bench-fwd-")
    os.chmod(root, 0o755)  # dnsmasq's user searches it, as a real install's /
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        b = Bench(ns, root)
        path = Path(root) / "net.xml"
        path.write_text(NETWORK.format(forwards=""))
        b.kv("net-define", str(path))
        b.kv("net-start", "fwbench")
        ports = f"10000-{10000 + args.count - 1}"
        b.kv("net-forward-add", "fwbench", LISTEN, "udp", "9", TARGET)
        rules_one, _ = b.counts()
        adds, removes, one_add, one_remove = [], [], [], []
        rules_many = elems_many = 0
        for _ in range(args.runs):
            adds.append(b.kv("net-forward-add", "fwbench", LISTEN, "tcp", ports, TARGET))
            rules_many, elems_many = b.counts()
            one_add.append(b.kv("net-forward-add", "fwbench", LISTEN, "tcp", "80", TARGET))
            one_remove.append(b.kv("net-forward-remove", "fwbench", LISTEN, "tcp", "80"))
            removes.append(b.kv("net-forward-remove", "fwbench", LISTEN, "tcp", ports))
        # the forwards in the definition: a restart renders them into its start
        b.kv("net-forward-add", "fwbench", LISTEN, "tcp", ports, TARGET, "--config")
        restarts = []
        for _ in range(args.runs):
            down = b.kv("net-destroy", "fwbench")
            restarts.append(down + b.kv("net-start", "fwbench"))
        _, elems_restarted = b.counts()
        print(f"forwards: {args.count} in one command (tcp {ports}), {args.runs} runs, medians")
        print(f"  net-forward-add    {args.count:5d} forwards  {ms(adds)}")
        print(f"  net-forward-remove {args.count:5d} forwards  {ms(removes)}")
        print(f"  net-forward-add        1 more       {ms(one_add)}  (with {args.count} there)")
        print(f"  net-forward-remove     1 more       {ms(one_remove)}")
        print(f"  net-destroy + net-start with {args.count} {ms(restarts)}  "
              f"({elems_restarted} forwards back after the start)")
        print(f"  rules in kvmnet's tables: {rules_one} with 1 forward, {rules_many} with "
              f"{elems_many} forwards (map elements)")
        b.kv("net-destroy", "fwbench")
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
