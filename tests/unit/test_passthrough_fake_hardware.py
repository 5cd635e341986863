"""A passthrough macvtap on an SR-IOV VF's netdev, on a fake sysfs tree laid out as the kernel
lays it (tests/fake_sysfs.py: the cookbook's 82599ES host, PF eth1 with ixgbevf VFs eth2,
eth3...): as libvirt, the VF's MAC and its VLAN (held by the PF) are saved, the guest's MAC
and the port's VLAN set, and both put back on unplug.  No SR-IOV hardware here: the netlink
VF settings go through the recording host (fake-hardware tests)."""
from __future__ import annotations

from pathlib import Path

import pytest

from kvmnet.engine.recording import NIC_MAC, RecordingHost
from kvmnet.engine.steps.netconfig import vf_of
from kvmnet.host import tap as taps
from kvmnet.model.frozen import replace
from kvmnet.model.network import Vlan, VlanTag
from kvmnet.model.port import NetworkPort, Plug, PlugType
from kvmnet.port.plugs import macvtap as plugger
from kvmnet.port.plugs.base import PlugOptions, load_record
from tests.fake_sysfs import FakeSysfs, cookbook_host

UUID = "6e855f32-cb5f-4e7f-8e41-41b46f4a318e"
GUEST = "52:54:00:65:43:21"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSysfs:
    tree = FakeSysfs(tmp_path / "sys")
    monkeypatch.setenv("KVMNET_SYSFS", str(tree.root))
    monkeypatch.setattr(taps, "ifindex", lambda name: 7 if name.startswith("eth") else None)
    monkeypatch.setattr(taps, "get_mtu", lambda name: 1500)
    monkeypatch.setattr(plugger, "node_dir", lambda dirs: Path(dirs[0]) / "macvtap")
    return cookbook_host(tree, numvfs=3)


@pytest.mark.parametrize("vlan, tag", [(None, 0), (Vlan(tags=(VlanTag(id=42),)), 42)])
def test_fake_hardware_a_vf_parent_gets_the_guests_mac_and_vlan_and_its_own_back(
        fake: FakeSysfs, tmp_path: Path, vlan: Vlan | None, tag: int) -> None:
    assert vf_of("eth3") == {"pf": "eth1", "index": 1}
    assert vf_of("eth1") is None  # the PF itself is a plain device
    port = replace(NetworkPort(uuid=UUID, owner_name="vm", owner_uuid=UUID, mac=GUEST,
                               vlan=vlan), plug=Plug(type=PlugType.DIRECT, mode="passthrough"))
    host = RecordingHost()
    host.vfs["eth1/1"] = {"mac": "00:00:00:00:00:00", "vlan": 7, "qos": 3, "spoofchk": True,
                          "trust": False}  # what the VF had before
    (tmp_path / "ports").mkdir()
    plugger.make(None, tmp_path / "ports", port, "pfnet",  # type: ignore[arg-type]
                 PlugOptions(pool=("eth3",), state_dirs=("/run/kvmnet",)), host)
    assert host.log[0] == f"ip link set dev eth3 address {GUEST}\nip link set dev eth1 vf 1 " \
        f"vlan {tag}"  # no VLAN on the port clears the VF's, as libvirt's setVlan does
    assert host.log[1].startswith("ip link add link eth3 name macvtap%d ")
    saved = load_record(tmp_path / "ports", UUID)
    assert saved is not None
    host.log.clear()
    plugger.MacvtapPlugger().unplug(None, saved, host=host)  # type: ignore[arg-type]
    assert host.log[:2] == [
        "ip link del macvtap%d",
        f"ip link set dev eth3 address {NIC_MAC}\nip link set dev eth1 vf 1 vlan 7 qos 3"]
    assert host.leftovers() == []
