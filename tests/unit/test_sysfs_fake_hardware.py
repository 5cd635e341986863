"""kvmnet.host.sysfs on fake sysfs trees laid out as the kernel lays them (fake hardware)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from kvmnet.errors import HostError
from kvmnet.host import sysfs
from tests.fake_sysfs import (
    FakeSysfs,
    connectx_host,
    cookbook_host,
    i40e_host,
    igb_host,
)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSysfs:
    tree = FakeSysfs(tmp_path / "sys")
    monkeypatch.setenv("KVMNET_SYSFS", str(tree.root))
    return tree


def test_fake_hardware_tree_is_laid_out_as_the_kernel_does(fake: FakeSysfs) -> None:
    cookbook_host(fake)
    r = fake.root
    pf = r / "devices/pci0000:00/0000:00:03.0/0000:03:00.1"
    assert os.readlink(r / "bus/pci/devices/0000:03:00.1") == \
        "../../../devices/pci0000:00/0000:00:03.0/0000:03:00.1"
    assert os.readlink(pf / "virtfn0") == "../0000:03:10.1"
    assert os.readlink(pf / "virtfn1") == "../0000:03:10.3"
    assert os.readlink(pf.parent / "0000:03:10.1/physfn") == "../0000:03:00.1"
    assert os.readlink(pf / "driver") == "../../../../bus/pci/drivers/ixgbe"
    assert os.readlink(pf / "iommu_group") == "../../../../kernel/iommu_groups/25"
    assert os.readlink(r / "class/net/eth1") == \
        "../../devices/pci0000:00/0000:00:03.0/0000:03:00.1/net/eth1"
    assert os.readlink(pf / "net/eth1/device") == "../../../0000:03:00.1"
    assert os.readlink(r / "kernel/iommu_groups/25/devices/0000:03:00.1") == \
        "../../../../devices/pci0000:00/0000:00:03.0/0000:03:00.1"
    assert (pf / "class").read_text() == "0x020000\n"
    assert (pf / "vendor").read_text() == "0x8086\n"
    assert (pf / "device").read_text() == "0x10fb\n"
    assert (pf / "current_link_speed").read_text() == "5.0 GT/s PCIe\n"
    # every link is relative, so the tree works wherever it is
    links = [p for p in r.rglob("*") if p.is_symlink()]
    assert links and all(not os.readlink(p).startswith("/") for p in links)
    assert all(p.exists() for p in links), [p for p in links if not p.exists()]


def test_fake_hardware_root_follows_the_environment(fake: FakeSysfs,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert sysfs.root() == fake.root
    monkeypatch.delenv("KVMNET_SYSFS")
    assert sysfs.root() == Path("/sys")


def test_fake_hardware_discovery_on_the_cookbook_host(fake: FakeSysfs) -> None:
    cookbook_host(fake)
    assert sysfs.net_devices() == ["eth0", "eth1", "eth2", "eth3", "lo"]
    assert sysfs.netdev_pci_address("eth1") == "0000:03:00.1"
    assert sysfs.netdev_pci_address("lo") is None
    assert sysfs.netdev_pci_address("nope") is None
    assert sysfs.pci_netdevs("0000:03:00.1") == ["eth1"]
    assert sysfs.pci_parent("0000:03:00.1") == "0000:00:03.0"
    assert sysfs.pci_parent("0000:00:03.0") is None
    assert sysfs.pci_driver("0000:03:00.1") == "ixgbe"
    assert sysfs.iommu_group("0000:03:00.1") == 25
    assert sysfs.iommu_group_devices(25) == ["0000:03:00.1"]
    assert sysfs.sriov_totalvfs("0000:03:00.1") == 63
    assert sysfs.sriov_numvfs("0000:03:00.1") == 2
    assert sysfs.sriov_totalvfs("0000:00:03.0") is None
    vfs = sysfs.virtual_functions("eth1")
    assert vfs == [sysfs.VirtualFunction(0, "0000:03:10.1", "eth2", "ixgbevf"),
                   sysfs.VirtualFunction(1, "0000:03:10.3", "eth3", "ixgbevf")]
    assert sysfs.virtual_functions("0000:03:00.1") == vfs
    assert sysfs.virtual_functions("eth0") == []
    assert sysfs.virtual_functions("eth2") == []  # a VF has no VFs
    assert sysfs.virtual_functions("lo") == []
    assert sysfs.virtual_functions("../etc") == []
    assert sysfs.physical_function("0000:03:10.3") == "0000:03:00.1"
    assert sysfs.physical_function("0000:03:00.1") is None
    assert sysfs.netdev_attr("eth1", "address") == "90:e2:ba:4c:3e:a1"
    assert sysfs.pci_attr("0000:03:00.1", "numa_node") == "0"


def test_fake_hardware_vf_order_follows_the_virtfn_index(fake: FakeSysfs) -> None:
    cookbook_host(fake, numvfs=12)  # virtfn10 sorts before virtfn2 as text
    indexes = [vf.index for vf in sysfs.virtual_functions("eth1")]
    assert indexes == list(range(12))
    assert sysfs.virtual_functions("eth1")[10].address == "0000:03:12.5"


def test_fake_hardware_every_host_model(fake: FakeSysfs) -> None:
    cookbook_host(fake)
    igb_host(fake)
    i40e_host(fake)
    connectx_host(fake)
    assert [vf.driver for vf in sysfs.virtual_functions("eno2")] == ["igbvf", "igbvf"]
    assert [vf.netdev for vf in sysfs.virtual_functions("ens1f0")] == [
        "ens1f0v0", "ens1f0v1", "ens1f0v2", "ens1f0v3"]
    assert sysfs.pci_attr("0000:82:00.1", "numa_node") == "1"
    assert sysfs.virtual_functions("enp94s0f0np0") == []
    assert sysfs.sriov_totalvfs("0000:5e:00.0") == 8
    assert sysfs.pci_attr("0000:5e:00.0", "vendor") == "0x15b3"
    assert "0000:3b:02.3" in sysfs.pci_devices()


def test_fake_hardware_unbound_vfs_have_no_netdev(fake: FakeSysfs) -> None:
    cookbook_host(fake, vf_driver=None)
    assert sysfs.virtual_functions("eth1") == [
        sysfs.VirtualFunction(0, "0000:03:10.1", None, None),
        sysfs.VirtualFunction(1, "0000:03:10.3", None, None)]


def test_fake_hardware_detach_and_reattach_writes(fake: FakeSysfs) -> None:
    """libvirt's managed detach: override, unbind, probe; reattach: clear, unbind, probe."""
    cookbook_host(fake)
    vf = "0000:03:10.1"
    sysfs.set_driver_override(vf, "vfio-pci")
    sysfs.unbind(vf)
    assert fake.written(f"bus/pci/devices/{vf}/driver_override") == "vfio-pci"
    assert fake.written("bus/pci/drivers/ixgbevf/unbind") == vf
    fake.settle()
    assert sysfs.pci_driver(vf) is None
    assert "eth2" not in sysfs.net_devices()
    sysfs.drivers_probe(vf)
    assert fake.written("bus/pci/drivers_probe") == vf
    fake.settle()
    assert sysfs.pci_driver(vf) == "vfio-pci"
    assert sysfs.virtual_functions("eth1")[0] == sysfs.VirtualFunction(0, vf, None, "vfio-pci")

    sysfs.set_driver_override(vf, None)
    sysfs.unbind(vf)
    assert fake.written("bus/pci/drivers/vfio-pci/unbind") == vf
    fake.settle()
    assert fake.written(f"bus/pci/devices/{vf}/driver_override") == "(null)"
    sysfs.drivers_probe(vf)
    fake.settle()
    assert sysfs.pci_driver(vf) == "ixgbevf"
    assert sysfs.virtual_functions("eth1")[0].netdev == "eth2"
    assert sysfs.netdev_attr("eth2", "address") == "02:00:00:00:03:00"


def test_fake_hardware_bind_writes_the_drivers_bind_file(fake: FakeSysfs) -> None:
    cookbook_host(fake, vf_driver=None)
    sysfs.unbind("0000:03:10.3")  # unbound: nothing to write
    assert fake.written("bus/pci/drivers/ixgbevf/unbind") == ""
    sysfs.bind("0000:03:10.3", "vfio-pci")
    assert fake.written("bus/pci/drivers/vfio-pci/bind") == "0000:03:10.3"
    fake.settle()
    assert sysfs.pci_driver("0000:03:10.3") == "vfio-pci"
    assert sysfs.driver_loaded("vfio-pci")
    assert not sysfs.driver_loaded("nope")


def test_fake_hardware_write_errors_name_the_command(fake: FakeSysfs) -> None:
    cookbook_host(fake)
    with pytest.raises(HostError) as info:
        sysfs.bind("0000:03:10.1", "vfio-pcie")
    assert "echo 0000:03:10.1 > " in str(info.value)
    assert "bus/pci/drivers/vfio-pcie/bind" in str(info.value)
    assert "modprobe" in str(info.value)
    with pytest.raises(ValueError):
        sysfs.bind("03:10.1", "vfio-pci")
    with pytest.raises(ValueError):
        sysfs.set_driver_override("0000:03:10.1", "../x")
