#!/usr/bin/env bash
# The Open vSwitch demo (`make demo` runs it after the main one, as root, after scripts/setup.sh):
# a private Open vSwitch, a bridge, a libvirt network on it and a real QEMU guest whose port
# `kvmnet ovs show` lists.  Everything runs in throw-away network
# namespaces with a temporary KVMNET_ROOT, removed again at the end (also on Ctrl-C).
# The story is in scripts/demo_ovs.py.
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
exec .venv/bin/python scripts/demo_ovs.py "$@"
