"""The VF adapters against the real kernel, in a throwaway namespace, on a fake sysfs tree.

This machine has no SR-IOV NIC: the PCI side is the cookbook host's fake tree
(``tests/fake_sysfs.py``), and the namespace holds real links with the names that tree gives
its interfaces (veths ``eth1``, the PF, and ``eth2``, VF 0's interface).  What runs for real:
reading a link's addresses and its VF list over rtnetlink, and the kernel's parsing of the VF
settings request (a veth has no VFs, so the kernel accepts the message and its driver refuses
the change: EOPNOTSUPP, not the EINVAL of a malformed request).
"""
from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from tests.fake_sysfs import FakeSysfs, cookbook_host
from tests.functional.netns import NetNS, have_root

pytestmark = [pytest.mark.root, pytest.mark.skipif(
    not have_root(), reason="needs root and iproute2 to create network namespaces")]

PASSTHROUGH = ("<network><name>passthrough_net</name><forward mode='hostdev' managed='yes'>"
               "<pf dev='eth1'/></forward></network>")


def _plug_on_the_real_host(sysfs_root: str, state: str) -> dict[str, Any]:
    """In the namespace: start the pool, plug a port through the real host adapters."""
    os.environ["KVMNET_SYSFS"] = sysfs_root
    import kvmnet
    from kvmnet.errors import HostError
    from kvmnet.host import vf
    from kvmnet.port import ports

    conn = kvmnet.open(state)
    conn.networkCreateXML(PASSTHROUGH)
    out: dict[str, Any] = {"addresses": vf.addresses("eth2")}
    try:
        ports.plug(conn, "passthrough_net", mac="52:54:00:6d:90:02", owner_name="vm1")
    except HostError as exc:
        out["plug_error"] = exc.message
    out["records"] = sorted(p.name for p in (conn.paths.ports / "passthrough_net").glob("*"))
    try:
        vf.set_vf("eth1", 0, {"mac": "52:54:00:6d:90:02", "vlan": 42, "spoofchk": True})
    except HostError as exc:
        out["set_errno"] = exc.errno
    return out


def test_vf_adapters_on_real_links_fake_hardware(tmp_path: Path) -> None:
    fake = FakeSysfs(tmp_path / "sys")
    cookbook_host(fake, numvfs=2)
    with NetNS("vf") as ns:
        ns.ip("link", "add", "eth1", "type", "veth", "peer", "name", "peer1")
        ns.ip("link", "add", "eth2", "type", "veth", "peer", "name", "peer2")
        ns.ip("addr", "add", "192.0.2.5/24", "dev", "eth2")
        got = ns.call(_plug_on_the_real_host, str(fake.root), str(tmp_path / "root"))
    # eth2 (VF 0's interface) carries an address: in use by the host, so VF 1 was chosen;
    # eth1 (the "PF") lists no VF 1, which the VF read says; the plug left nothing behind
    assert got["addresses"] == ["192.0.2.5"]
    assert "eth1 reports no VF 1" in got["plug_error"]
    assert got["records"] == []
    fake.settle()
    assert os.path.basename(os.readlink(fake.device_path("0000:03:10.3") / "driver")) == \
        "ixgbevf"
    assert got["set_errno"] == errno.EOPNOTSUPP
