#!/usr/bin/env bash
# The whole test suite: static checks (mypy, ruff), then unit/golden, driver and functional tests.
# Functional tests need root (they create their own network namespaces).
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

echo "== mypy"
.venv/bin/mypy kvmnet || exit 1
echo "== ruff"
.venv/bin/ruff check kvmnet tests bench scripts || exit 1
echo "== pytest"
# As root (CI, or a developer's full run) every test must run: a skip fails the run.
if [ "$(id -u)" = 0 ]; then export KVMNET_REQUIRE_ALL=1; fi
.venv/bin/pytest -q -rs -p no:cacheprovider "$@"
rc=$?
if [ "$rc" = 5 ]; then
  echo "test: pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$rc"
