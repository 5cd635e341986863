"""Node devices on fake sysfs trees (fake hardware): list, tree, dumpxml, info, detach/reattach.

The trees are the kernel's layout (tests/fake_sysfs.py); the cookbook host is the passthrough
chapter's: an Intel 82599ES whose second port 0000:03:00.1 (eth1) under the root port
0000:00:03.0 is an SR-IOV PF with ixgbevf VFs.  Device names come from a pci.ids excerpt made
here (``$KVMNET_PCI_IDS``), so the goldens do not depend on the installed database's version.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from lxml import etree

from kvmnet.cli.main import main
from kvmnet.cli.nodedev import tree_lines
from tests.conformance import conformance_dir
from tests.fake_sysfs import FakeSysfs, connectx_host, cookbook_host, i40e_host, igb_host

PCI_IDS = """\
# a pci.ids excerpt: vendor lines, then tab-indented device lines (two spaces before names)
8086  Intel Corporation
\t10ed  82599 Ethernet Controller Virtual Function
\t10fb  82599ES 10-Gigabit SFI/SFP+ Network Connection
\t\t8086 000c  Ethernet Server Adapter X520-DA2
\t3c08  Xeon E5/Core i7 IIO PCI Express Root Port 3a in PCI Express Mode
C 02  Network controller
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSysfs:
    tree = FakeSysfs(tmp_path / "sys")
    ids = tmp_path / "pci.ids"
    ids.write_text(PCI_IDS)
    monkeypatch.setenv("KVMNET_SYSFS", str(tree.root))
    monkeypatch.setenv("KVMNET_PCI_IDS", str(ids))
    monkeypatch.setenv("KVMNET_ROOT", str(tmp_path / "root"))
    return tree


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(args), stdout=out, stderr=err, stdin=io.StringIO(""))
    return rc, out.getvalue(), err.getvalue()


COOKBOOK_TREE = """\
computer
  |
  +- net_lo_00_00_00_00_00_00
  +- pci_0000_00_03_0
      |
      +- pci_0000_03_00_0
      |   |
      |   +- net_eth0_90_e2_ba_4c_3e_a0
      |     
      +- pci_0000_03_00_1
      |   |
      |   +- net_eth1_90_e2_ba_4c_3e_a1
      |     
      +- pci_0000_03_10_1
      |   |
      |   +- net_eth2_02_00_00_00_03_00
      |     
      +- pci_0000_03_10_3
          |
          +- net_eth3_02_00_00_00_03_01
            

"""

COOKBOOK_PF = """\
<device>
  <name>pci_0000_03_00_1</name>
  <path>/sys/devices/pci0000:00/0000:00:03.0/0000:03:00.1</path>
  <parent>pci_0000_00_03_0</parent>
  <driver>
    <name>ixgbe</name>
  </driver>
  <capability type='pci'>
    <class>0x020000</class>
    <domain>0</domain>
    <bus>3</bus>
    <slot>0</slot>
    <function>1</function>
    <product id='0x10fb'>82599ES 10-Gigabit SFI/SFP+ Network Connection</product>
    <vendor id='0x8086'>Intel Corporation</vendor>
    <capability type='virt_functions' maxCount='63'>
      <address domain='0x0000' bus='0x03' slot='0x10' function='0x1'/>
      <address domain='0x0000' bus='0x03' slot='0x10' function='0x3'/>
    </capability>
    <iommuGroup number='25'>
      <address domain='0x0000' bus='0x03' slot='0x00' function='0x1'/>
    </iommuGroup>
    <numa node='0'/>
    <pci-express>
      <link validity='cap' speed='5' width='8'/>
      <link validity='sta' speed='5' width='8'/>
    </pci-express>
  </capability>
</device>

"""

COOKBOOK_VF = """\
<device>
  <name>pci_0000_03_10_1</name>
  <path>/sys/devices/pci0000:00/0000:00:03.0/0000:03:10.1</path>
  <parent>pci_0000_00_03_0</parent>
  <driver>
    <name>ixgbevf</name>
  </driver>
  <capability type='pci'>
    <class>0x020000</class>
    <domain>0</domain>
    <bus>3</bus>
    <slot>16</slot>
    <function>1</function>
    <product id='0x10ed'>82599 Ethernet Controller Virtual Function</product>
    <vendor id='0x8086'>Intel Corporation</vendor>
    <capability type='phys_function'>
      <address domain='0x0000' bus='0x03' slot='0x00' function='0x1'/>
    </capability>
    <iommuGroup number='60'>
      <address domain='0x0000' bus='0x03' slot='0x10' function='0x1'/>
    </iommuGroup>
    <numa node='0'/>
  </capability>
</device>

"""


def test_fake_hardware_cookbook_tree_golden(fake: FakeSysfs) -> None:
    cookbook_host(fake)
    assert cli("nodedev-list", "--tree") == (0, COOKBOOK_TREE, "")


def test_fake_hardware_cookbook_pf_dumpxml_golden(fake: FakeSysfs) -> None:
    cookbook_host(fake)
    assert cli("nodedev-dumpxml", "pci_0000_03_00_1") == (0, COOKBOOK_PF, "")


def test_fake_hardware_cookbook_vf_dumpxml_golden(fake: FakeSysfs) -> None:
    cookbook_host(fake)
    assert cli("nodedev-dumpxml", "pci_0000_03_10_1") == (0, COOKBOOK_VF, "")


def test_fake_hardware_inactive_dumpxml_drops_the_path(fake: FakeSysfs) -> None:
    cookbook_host(fake)
    rc, out, _ = cli("nodedev-dumpxml", "--inactive", "pci_0000_03_10_1")
    assert rc == 0 and out == COOKBOOK_VF.replace(
        "  <path>/sys/devices/pci0000:00/0000:00:03.0/0000:03:10.1</path>\n", "")


def test_fake_hardware_names_are_left_out_without_pci_ids(
        fake: FakeSysfs, monkeypatch: pytest.MonkeyPatch) -> None:
    cookbook_host(fake)
    monkeypatch.setenv("KVMNET_PCI_IDS", "")
    rc, out, _ = cli("nodedev-dumpxml", "pci_0000_03_00_1")
    assert rc == 0
    assert "<product id='0x10fb'/>" in out and "<vendor id='0x8086'/>" in out


def test_fake_hardware_list_and_cap_filter(fake: FakeSysfs) -> None:
    cookbook_host(fake)
    igb_host(fake)
    rc, out, _ = cli("nodedev-list")
    names = out.split()
    assert rc == 0 and names == sorted(names) and names[0] == "computer"
    assert {"pci_0000_03_00_1", "pci_0000_82_10_1", "net_eno2_00_1b_21_3a_0c_11"} <= set(names)
    rc, out, _ = cli("nodedev-list", "--cap", "net")
    assert out.split() == [n for n in names if n.startswith("net_")]
    rc, out, _ = cli("nodedev-list", "--cap", "system,pci")
    assert out.split() == [n for n in names if not n.startswith("net_")]
    rc, out, _ = cli("nodedev-list", "--json", "--cap", "pci")
    rows = json.loads(out)
    vf = next(r for r in rows if r["name"] == "pci_0000_03_10_3")
    assert vf == {"name": "pci_0000_03_10_3", "parent": "pci_0000_00_03_0", "caps": ["pci"]}


def test_fake_hardware_every_model_formats_schema_valid(fake: FakeSysfs) -> None:
    base = conformance_dir()
    if base is None:
        pytest.skip("libvirt conformance corpus (nodedev.rng) not found beside the repository")
    rng = etree.RelaxNG(etree.parse(str(base / "src/conf/schemas/nodedev.rng")))
    for host in (cookbook_host, igb_host, i40e_host, connectx_host):
        host(fake)
    rc, out, _ = cli("nodedev-list")
    for name in out.split():
        rc, xml, err = cli("nodedev-dumpxml", name)
        assert rc == 0, err
        assert rng.validate(etree.fromstring(xml.encode())), (name, rng.error_log.last_error)


def test_fake_hardware_mellanox_pf_without_vfs(fake: FakeSysfs) -> None:
    connectx_host(fake)
    _rc, out, _ = cli("nodedev-dumpxml", "pci_0000_5e_00_0")
    assert "<capability type='virt_functions' maxCount='8'/>" in out
    assert "<vendor id='0x15b3'/>" in out  # Mellanox is not in this test's pci.ids excerpt
    assert "<link validity='cap' speed='8' width='8'/>" in out


def test_fake_hardware_info_is_virshs_shape(fake: FakeSysfs) -> None:
    cookbook_host(fake)
    assert cli("nodedev-info", "pci_0000_03_00_1") == (0, (
        "Name:           pci_0000_03_00_1\n"
        "Parent:         pci_0000_00_03_0\n"
        "Active:         yes\n"
        "Persistent:     no\n"
        "Autostart:      no\n\n"), "")
    assert cli("nodedev-info", "computer")[1].startswith("Name:           computer\n"
                                                        "Parent:         \n")


@pytest.mark.parametrize("verb", ["nodedev-dumpxml", "nodedev-info", "nodedev-detach",
                                  "nodedev-reattach"])
def test_fake_hardware_unknown_device(fake: FakeSysfs, verb: str) -> None:
    cookbook_host(fake)
    assert cli(verb, "pci_0000_09_00_0") == (  # virsh's empty line ends even an error
        1, "\n", ("error: no node device named 'pci_0000_09_00_0' on this host (see `kvmnet "
        "nodedev-list`)\n"))


def test_fake_hardware_detach_and_reattach(fake: FakeSysfs) -> None:
    """nodedev-detach writes libvirt's managed-detach files; reattach gives it back."""
    cookbook_host(fake)
    vf = "0000:03:10.1"
    rc, out, err = cli("nodedev-detach", "pci_0000_03_10_1")
    assert (rc, out, err) == (0, "Device pci_0000_03_10_1 detached\n\n", "")
    assert fake.written(f"bus/pci/devices/{vf}/driver_override") == "vfio-pci"
    assert fake.written("bus/pci/drivers/ixgbevf/unbind") == vf
    assert fake.written("bus/pci/drivers_probe") == vf
    fake.settle()
    rc, out, _ = cli("nodedev-dumpxml", "pci_0000_03_10_1")
    assert "<name>vfio-pci</name>" in out
    assert "net_eth2_02_00_00_00_03_00" not in cli("nodedev-list")[1]  # the VF's netdev left
    # the journal keeps the driver to give it back to
    journal = json.loads((Path(fake.root).parent / "root/run/kvmnet/nodedev/"
                          "pci_0000_03_10_1.json").read_text())
    assert journal["steps"] == [{"kind": "pci.driver", "address": vf, "driver": "ixgbevf",
                                 "stub": "vfio-pci"}]
    # detaching again changes nothing
    assert cli("nodedev-detach", "pci_0000_03_10_1")[0] == 0
    rc, out, err = cli("nodedev-reattach", "pci_0000_03_10_1")
    assert (rc, out, err) == (0, "Device pci_0000_03_10_1 re-attached\n\n", "")
    assert fake.written("bus/pci/drivers/vfio-pci/unbind") == vf
    fake.settle()
    assert fake.written(f"bus/pci/devices/{vf}/driver_override") == "(null)"
    assert "<name>ixgbevf</name>" in cli("nodedev-dumpxml", "pci_0000_03_10_1")[1]
    assert "net_eth2_02_00_00_00_03_00" in cli("nodedev-list")[1]
    assert not (Path(fake.root).parent / "root/run/kvmnet/nodedev/pci_0000_03_10_1.json").exists()


def test_fake_hardware_detach_refuses_a_device_the_host_uses(fake: FakeSysfs) -> None:
    cookbook_host(fake)  # the PF eth1 is up
    rc, out, err = cli("nodedev-detach", "pci_0000_03_00_1")
    assert rc == 1 and out == "\n"
    assert err.startswith("error: refusing to detach pci_0000_03_00_1: the host is using it "
                          "(interface eth1 is up)")
    assert "ip link set eth1 down" in err
    assert fake.written("bus/pci/drivers/ixgbe/unbind") == ""  # nothing changed
    assert fake.written("bus/pci/devices/0000:03:00.1/driver_override") == "(null)"


def test_fake_hardware_detach_refuses_a_nic_whose_interfaces_are_elsewhere(
        fake: FakeSysfs) -> None:
    """sysfs shows a NIC's interfaces to their own namespace only: a NIC on its driver with
    none visible here is in use by another namespace, as far as kvmnet can tell."""
    cookbook_host(fake)
    import shutil
    shutil.rmtree(fake.device_path("0000:03:10.3") / "net")
    (fake.root / "class/net/eth3").unlink()
    rc, _, err = cli("nodedev-detach", "pci_0000_03_10_3")
    assert rc == 1
    assert "its driver ixgbevf holds it, and its network interfaces are in another network " \
        "namespace" in err and "inside the namespace that holds" in err
    assert fake.written("bus/pci/drivers/ixgbevf/unbind") == ""


def test_fake_hardware_detach_refuses_a_net_device_and_unknown_drivers(fake: FakeSysfs) -> None:
    cookbook_host(fake)
    rc, _, err = cli("nodedev-detach", "net_eth2_02_00_00_00_03_00")
    assert rc == 1 and "is not a PCI device" in err and "'pci_0000_03_10_1'" in err
    rc, _, err = cli("nodedev-detach", "pci_0000_03_10_1", "--driver", "xen")
    assert rc == 1 and "unknown detach driver 'xen'" in err


def test_fake_hardware_detach_needs_vfio_loaded(fake: FakeSysfs) -> None:
    igb_host(fake)
    import shutil
    shutil.rmtree(fake.root / "bus/pci/drivers/vfio-pci")
    rc, _, err = cli("nodedev-detach", "pci_0000_82_10_1")
    assert rc == 1 and "modprobe vfio-pci" in err
    assert fake.written("bus/pci/drivers/igbvf/unbind") == ""


def test_fake_hardware_reattach_of_a_device_on_its_driver_changes_nothing(
        fake: FakeSysfs) -> None:
    cookbook_host(fake)
    assert cli("nodedev-reattach", "pci_0000_03_10_3")[0] == 0
    assert fake.written("bus/pci/drivers/ixgbevf/unbind") == ""
    assert fake.written("bus/pci/drivers_probe") == ""


def test_fake_hardware_reattach_without_journal(fake: FakeSysfs) -> None:
    """A VF left on vfio-pci by someone else goes back to the driver that matches it."""
    cookbook_host(fake, vf_driver=None)
    fake._bind("0000:03:10.3", "vfio-pci")
    assert cli("nodedev-reattach", "pci_0000_03_10_3")[0] == 0
    fake.settle()
    assert "<name>ixgbevf</name>" in cli("nodedev-dumpxml", "pci_0000_03_10_3")[1]


def test_fake_hardware_virtio_nic_hangs_under_its_pci_device(fake: FakeSysfs) -> None:
    """virtio-net's interface sits below virtio0, below the PCI function (as on this VM)."""
    fake.add_driver("virtio-pci", ((0x1AF4, 0x1041),))
    fake.add_pci("0000:00:03.0", vendor=0x1AF4, device=0x1041, pci_class=0x020000,
                 driver="virtio-pci")
    fake.add_netdev("0000:00:03.0", "eth0", "02:fc:00:00:00:01", via="virtio0")
    from kvmnet.host import sysfs
    assert sysfs.netdev_pci_address("eth0") is None  # its device is virtio0, not a PCI function
    assert sysfs.netdev_parent_pci("eth0") == "0000:00:03.0"
    rc, out, _ = cli("nodedev-dumpxml", "net_eth0_02_fc_00_00_00_01")
    assert rc == 0 and "<parent>pci_0000_00_03_0</parent>" in out


def test_tree_shape_of_virsh() -> None:
    """vshTreePrint's shape: '|' carries on past a node while later siblings follow."""
    devices = [("a", None), ("b", "a"), ("c", "b"), ("d", "a"), ("e", None)]
    assert tree_lines(devices) == [
        "a", "  |", "  +- b", "  |   |", "  |   +- c", "  |     ", "  +- d", "    ", "e", ""]


def test_pci_steps_describe_themselves_and_travel_as_json() -> None:
    from kvmnet.engine.step import Step
    from kvmnet.engine.steps.pci import DetachPci, ReattachPci

    step = DetachPci(address="0000:03:10.1")
    assert step.describe() == (
        "echo vfio-pci > /sys/bus/pci/devices/0000:03:10.1/driver_override; "
        "echo 0000:03:10.1 > /sys/bus/pci/devices/0000:03:10.1/driver/unbind; "
        "echo 0000:03:10.1 > /sys/bus/pci/drivers_probe")
    assert Step.from_json(step.to_json()) == step
    back = ReattachPci(address="0000:03:10.1", driver="ixgbevf")
    assert back.describe().endswith("/sys/bus/pci/drivers_probe  # back to ixgbevf")
    assert Step.from_json(back.to_json()) == back


def test_fake_hardware_failed_detach_is_undone(fake: FakeSysfs) -> None:
    """The probe write fails (the file is gone): the executor undoes the journalled change,
    so the override is cleared again and no journal is left."""
    cookbook_host(fake)
    (fake.root / "bus/pci/drivers_probe").unlink()
    rc, _, err = cli("nodedev-detach", "pci_0000_03_10_1")
    assert rc == 1 and "drivers_probe does not exist" in err
    assert fake.written("bus/pci/devices/0000:03:10.1/driver_override") == ""  # cleared
    assert not (fake.root.parent / "root/run/kvmnet/nodedev/pci_0000_03_10_1.json").exists()
