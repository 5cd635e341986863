from __future__ import annotations

import pytest

from tests.conformance import conformance_dir


@pytest.fixture(scope="session")
def conformance():
    base = conformance_dir()
    if base is None:
        pytest.skip("libvirt conformance corpus not found beside the repository")
    return base
