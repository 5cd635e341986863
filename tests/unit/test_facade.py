"""The facade hands out every object the command line works on (kvmnet.api.Connection)."""
from __future__ import annotations

from pathlib import Path

import pytest

import kvmnet
from kvmnet import api
from kvmnet.errors import NotFoundError


def test_connection_hands_out_the_other_objects(tmp_path: Path) -> None:
    conn = kvmnet.open(str(tmp_path))
    assert conn.interfaces().paths.root == conn.paths.root
    assert conn.guests().listAllDomains() == []
    with conn.bridges() as br:
        assert hasattr(br, "show")
    with pytest.raises(NotFoundError):
        conn.listNetworkPorts("no-such-network")
    assert conn.listNetworkPorts(None) == []  # ports plugged straight into a bridge: none


def test_guest_constants_come_through_the_facade() -> None:
    from kvmnet import guests

    assert api.VIR_DOMAIN_AFFECT_LIVE == guests.VIR_DOMAIN_AFFECT_LIVE == 1
    assert api.VIR_CONNECT_LIST_DOMAINS_INACTIVE == guests.VIR_CONNECT_LIST_DOMAINS_INACTIVE
    with pytest.raises(AttributeError):
        api.VIR_DOMAIN_NO_SUCH_CONSTANT  # noqa: B018 - the lookup is the test
