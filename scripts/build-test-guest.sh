#!/usr/bin/env bash
# Build (or refresh) the tiny test guest the guest functional tests boot: a Debian cloud kernel
# and a busybox initramfs, fetched with 'apt-get download' (never installed on this host) into
# $KVMNET_TEST_CACHE (default ~/.cache/kvmnet-test-guest).  Needs apt/dpkg and Debian's package
# registry the first time; later runs reuse the cache.  Pass --force to rebuild.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m tests.functional.guest_image "$@"
