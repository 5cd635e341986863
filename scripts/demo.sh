#!/usr/bin/env bash
# The main demo: defines the cookbook's `default` and `nat_net` networks in a throw-away
# KVMNET_ROOT and shows them the way virsh would.  Nothing outside that folder is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
root=$(mktemp -d /tmp/kvmnet-demo.XXXXXX)
trap 'rm -rf "$root"' EXIT
export KVMNET_ROOT=$root

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "Define the cookbook's two NAT networks (state lives in $root)"
run kvmnet net-define examples/networks/default.xml
run kvmnet net-define examples/networks/nat_net.xml
step "Mark 'default' to start at boot"
run kvmnet net-autostart default
step "List every network, active or not"
run kvmnet net-list --all
step "Details of one network"
run kvmnet net-info nat_net
step "The stored definition: kvmnet added a UUID and a bridge MAC, as libvirt does"
run kvmnet net-dumpxml default
step "Add a DHCP reservation to the persistent definition"
run kvmnet net-update default add ip-dhcp-host \
  "<host mac='52:54:00:00:00:10' name='kvm1' ip='192.168.122.10'/>" --config
run kvmnet net-dumpxml default
step "Bad input is refused with a diagnosis, and nothing changes"
printf '<network><name>bad</name><ip address="10.0.0.1" prefix="24"><dhcp><range start="10.0.1.2" end="10.0.1.9"/></dhcp></ip></network>' > "$root/bad.xml"
run kvmnet net-define "$root/bad.xml" || echo "(exit status $?)"
run kvmnet net-list --all
