#!/usr/bin/env bash
# The Open vSwitch demo (`make demo` runs it after the main one, as root, after scripts/setup.sh):
# a private Open vSwitch, a bridge, a libvirt network on it and a real QEMU guest whose port
# `kvmnet ovs show` lists.  Everything runs in throw-away network
# namespaces with a temporary KVMNET_ROOT, removed again at the end (also on Ctrl-C).
# The story is in scripts/demo_ovs.py; the checks and the set-up are scripts/demo.sh's.
exec "$(dirname "$0")/demo.sh" --story scripts/demo_ovs.py "$@"
