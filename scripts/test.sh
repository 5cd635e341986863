#!/usr/bin/env bash
# The whole test suite: static checks, then unit/golden, driver and functional tests.
# Functional tests need root (they create their own network namespaces).
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

echo "== mypy"
.venv/bin/mypy kvmnet || exit 1
echo "== pytest"
.venv/bin/pytest -q -p no:cacheprovider "$@"
rc=$?
if [ "$rc" = 5 ]; then
  echo "test: pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$rc"
