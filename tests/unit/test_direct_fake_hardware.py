"""A macvtap pool from a ``<pf dev=.../>``: its VFs' netdevs, read from a fake sysfs tree laid
out as the kernel lays it (tests/fake_sysfs.py: the cookbook's 82599ES host, PF eth1 with
ixgbevf VFs eth2, eth3...).  No SR-IOV hardware here: fake-hardware tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from kvmnet.engine.steps.macvtap import NeedVirtualFunctions
from kvmnet.errors import HostError
from kvmnet.network.drivers import driver_for
from kvmnet.network.drivers.direct import choose, pool_of
from kvmnet.xmlio.network import format_network, parse_network
from tests.fake_sysfs import FakeSysfs, cookbook_host

PF_NET = ("<network><name>pfnet</name><forward mode='passthrough'><pf dev='eth1'/></forward>"
          "</network>")


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSysfs:
    tree = FakeSysfs(tmp_path / "sys")
    monkeypatch.setenv("KVMNET_SYSFS", str(tree.root))
    return tree


def test_fake_hardware_pf_pool_is_its_vf_netdevs(fake: FakeSysfs) -> None:
    cookbook_host(fake, numvfs=3)
    net = parse_network(PF_NET)
    assert pool_of(net) == ("eth2", "eth3", "eth4")
    assert driver_for(net).device_pool(net) == ("eth2", "eth3", "eth4")
    # passthrough: one VF per guest, then a clear refusal
    assert choose("pfnet", "passthrough", pool_of(net), {"eth2": 1}) == "eth3"
    # the live XML lists the VFs as libvirt's does, under the <pf>
    live = format_network(driver_for(net).live(net))
    assert ("<pf dev='eth1'/>\n    <interface dev='eth2'/>\n    <interface dev='eth3'/>\n"
            "    <interface dev='eth4'/>") in live
    NeedVirtualFunctions(pf="eth1").apply(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("pf, numvfs, vf_driver, words", [
    ("eth0", 2, "ixgbevf", ("physical function eth0 has no virtual functions with a network "
     "device")),
    ("eth1", 2, None, "physical function eth1 has no virtual functions with a network device"),
    ("nosuch", 2, "ixgbevf", "physical function nosuch is not a PCI network device"),
])
def test_fake_hardware_a_pf_without_vf_netdevs_fails_the_start(
        fake: FakeSysfs, pf: str, numvfs: int, vf_driver: str | None, words: str) -> None:
    cookbook_host(fake, numvfs=numvfs, vf_driver=vf_driver)
    with pytest.raises(HostError, match=words):
        NeedVirtualFunctions(pf=pf).apply(None)  # type: ignore[arg-type]
