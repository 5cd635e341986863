from __future__ import annotations

import os

import pytest

from tests.conformance import conformance_dir


@pytest.fixture(scope="session")
def conformance():
    base = conformance_dir()
    if base is None:
        pytest.skip("libvirt conformance corpus not found beside the repository")
    return base


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    """With KVMNET_REQUIRE_ALL=1 (set by scripts/test.sh as root, so in CI) a skip is a failure.

    Every test here runs on a Debian machine set up by scripts/setup.sh; a skip there means
    something is missing, and must not pass silently.
    """
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("KVMNET_REQUIRE_ALL") == "1" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped where every test must run (KVMNET_REQUIRE_ALL=1): {reason}"
