#!/usr/bin/env bash
# The main demo (`make demo`, as root, after scripts/setup.sh): the cookbook's networks
# `default` and `nat_net` with a real QEMU guest that gets a lease, pings, moves to the other
# network with `kvmnet edit` and goes out through NAT.  Everything runs in throw-away network
# namespaces with a temporary KVMNET_ROOT, removed again at the end (also on Ctrl-C).
# The story and its sandbox are in scripts/demo.py.
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
exec .venv/bin/python scripts/demo.py "$@"
