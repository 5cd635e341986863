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


def test_the_api_package_exports_every_public_name() -> None:
    # kvmnet.api was one module before it became a package: each of its public names stays
    # importable from kvmnet.api itself (the CLI and users write `from kvmnet.api import ...`)
    assert sorted(api.__all__) == sorted(set(api.__all__))
    for name in api.__all__:
        assert getattr(api, name) is not None, name
    assert {"Connection", "Network", "canonicalNetworkXML", "check_size", "sort_key",
            "MAX_XML_BYTES", "SNAPSHOT_SECONDS", "UPDATE_COMMANDS", "UPDATE_SECTIONS",
            "VIR_NETWORK_SECTION_DNS_SRV", "VIR_CONNECT_LIST_NETWORKS_NO_AUTOSTART",
            "VIR_NETWORK_UPDATE_AFFECT_CONFIG", "VIR_NETWORK_CREATE_VALIDATE"} <= set(api.__all__)
    assert len([n for n in api.__all__ if n.startswith("VIR_")]) == 30
