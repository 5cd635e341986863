#!/usr/bin/env bash
# One-time set-up on a fresh Debian 12 machine, run as root: the system packages kvmnet
# drives (iproute2, dnsmasq, nftables, Open vSwitch, QEMU, busybox's DHCP client) and a
# Python virtual environment with kvmnet and its pinned dependencies.  Safe to re-run:
# it skips what is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3 python3-venv python3-dev gcc
  iproute2 procps psmisc kmod
  dnsmasq-base nftables iptables
  openvswitch-switch
  qemu-system-x86 busybox udhcpc
  bridge-utils libxml2-utils
  pci.ids
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
stamp=.venv/.kvmnet-installed
if [ ! -x .venv/bin/python ] || [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: creating the Python environment in .venv"
  "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
  # compat mode: a plain .pth path entry, so that `kvmnet` starts without an import hook.
  .venv/bin/pip install -q -e '.[dev]' --config-settings editable_mode=compat
  touch "$stamp"
fi
# Byte-code ahead of time: with PYTHONDONTWRITEBYTECODE set, every cold kvmnet command would
# otherwise recompile its modules (tens of milliseconds per command).
.venv/bin/python -m compileall -q kvmnet .venv/lib/python3*/site-packages >/dev/null 2>&1 || true
