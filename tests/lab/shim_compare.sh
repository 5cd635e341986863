#!/bin/bash
# Run the same unmodified libvirt-python programs against libvirt 9.0 (the libvirt lab, with
# Debian's python3-libvirt) and against kvmnet (the same programs with only
# PYTHONPATH=$(kvmnet libvirt-shim)), side by side, and compare their results.
#
#   tests/lab/shim_compare.sh            # compare; exit 1 on any difference
#   tests/lab/shim_compare.sh --record   # also rewrite tests/shim_clients/cm_driver.libvirt-9.0.json
#
# Needs root, the lab (../shared/tools/libvirt-lab: apt-get install libvirt-daemon
# libvirt-clients dnsmasq-base iptables) and python3-libvirt (apt-get install python3-libvirt).
# Everything runs in namespaces made here: the lab's own (NS=shimcmp), and one for kvmnet
# (shimcmp-kv) with a temporary KVMNET_ROOT; both are deleted at the end.
# Not part of 'make test' (the test suite must not depend on the lab): the functional test
# tests/functional/test_shim_clients.py checks kvmnet against the recorded libvirt results.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
LAB_TOOLS=${LAB_TOOLS:-$REPO/../shared/tools/libvirt-lab}
[ -d "$LAB_TOOLS" ] || LAB_TOOLS=/work/shared/tools/libvirt-lab
export NS=shimcmp LIBVIRT_LAB_STATE=${TMPDIR:-/tmp}/kvmnet-shimcmp-lab
KVNS=shimcmp-kv
PY=${PYTHON:-$REPO/.venv/bin/python}
OUT=$(mktemp -d -t kvmnet-shimcmp.XXXXXX)
/usr/bin/python3 -c 'import libvirt' 2>/dev/null || { echo "python3-libvirt is not installed (apt-get install python3-libvirt)"; exit 2; }

cleanup() {
  "$LAB_TOOLS"/stop-daemon.sh >/dev/null 2>&1 || true
  ip netns del "$KVNS" 2>/dev/null || true   # ends the dnsmasq kvmnet started in it
  rm -rf "$ROOT"
}
ROOT=$(mktemp -d -t kvmnet-shimcmp-root.XXXXXX); chmod 755 "$ROOT"
trap cleanup EXIT
"$LAB_TOOLS"/start-daemon.sh quiet >/dev/null
ip netns add "$KVNS"; ip -n "$KVNS" link set lo up

ARGS=(network:///system cmnet 151 virbr51)
t0=$(date +%s%N)
"$LAB_TOOLS"/lab.sh /usr/bin/python3 "$REPO"/tests/shim_clients/cm_driver.py "${ARGS[@]}" > "$OUT"/libvirt.json
t1=$(date +%s%N)
ip netns exec "$KVNS" env PYTHONPATH="$("$REPO"/.venv/bin/kvmnet libvirt-shim)" KVMNET_ROOT="$ROOT" \
  "$PY" "$REPO"/tests/shim_clients/cm_driver.py "${ARGS[@]}" > "$OUT"/kvmnet.json
t2=$(date +%s%N)
echo "cm_driver: libvirt 9.0 $(( (t1 - t0) / 1000000 )) ms, kvmnet $(( (t2 - t1) / 1000000 )) ms (one process each, whole task list)"

# the constants: every VIR_* kvmnet's module exports, against python3-libvirt's value
PYTHONPATH="$("$REPO"/.venv/bin/kvmnet libvirt-shim)" "$PY" -c '
import json, libvirt
print(json.dumps({k: v for k, v in vars(libvirt).items() if k.startswith("VIR_")}))' > "$OUT"/kv_constants.json
rc=0
/usr/bin/python3 - "$OUT" <<'PY' || rc=$?
import json, sys, libvirt
out = sys.argv[1]
mine = json.load(open(f"{out}/kv_constants.json"))
wrong = {k: (v, getattr(libvirt, k, "missing")) for k, v in mine.items() if getattr(libvirt, k, None) != v}
print(f"constants: {len(mine)} exported by kvmnet, {len(wrong)} differ from python3-libvirt {libvirt.getVersion()}")
for k, (a, b) in sorted(wrong.items()):
    print(f"  {k}: kvmnet {a!r}, libvirt {b!r}")
a = json.load(open(f"{out}/libvirt.json")); b = json.load(open(f"{out}/kvmnet.json"))
diff = [(x[0], x[1], y[1]) for x, y in zip(a, b) if x != y]
print(f"cm_driver: {len(a)} steps, {len(a) - len(diff)} with libvirt's result")
for step, lv, kv in diff:
    print(f"  {step}: libvirt {lv!r}, kvmnet {kv!r}")
sys.exit(1 if diff or wrong or len(a) != len(b) else 0)
PY
if [ "${1:-}" = --record ]; then
  cp "$OUT"/libvirt.json "$REPO"/tests/shim_clients/cm_driver.libvirt-9.0.json
  echo "recorded tests/shim_clients/cm_driver.libvirt-9.0.json"
fi
rm -rf "$OUT"
exit $rc
