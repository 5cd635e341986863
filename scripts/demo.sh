#!/usr/bin/env bash
# The main demo (`make demo`, as root, after scripts/setup.sh): the cookbook's networks
# `default` and `nat_net` with a real QEMU guest that gets a lease, pings, moves to the other
# network with `kvmnet edit` and goes out through NAT.  Everything runs in throw-away network
# namespaces with a temporary KVMNET_ROOT, removed again at the end (also on Ctrl-C).
# The story and its sandbox are in scripts/demo.py.  `scripts/demo.sh ovs` runs the Open
# vSwitch chapter instead (scripts/demo_ovs.py: a private Open vSwitch, a bridge, a libvirt
# network on it and a real QEMU guest whose port `kvmnet ovs show` lists).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "error: the demo needs root: it creates network namespaces (run 'sudo make demo')" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "error: no .venv here; run scripts/setup.sh (or 'make demo') first" >&2
  exit 1
fi
export PATH="$PWD/.venv/bin:$PATH"
story=scripts/demo${1:+_$1}.py
[ -f "$story" ] || { echo "error: no demo '$1' (scripts/demo.sh [ovs])" >&2; exit 2; }
exec .venv/bin/python "$story" "${@:2}"
