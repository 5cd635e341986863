"""SR-IOV hostdev networks and guest VFs, on fake hardware (this machine has no SR-IOV NIC, no
VFIO and no KVM).

What runs for real here: kvmnet's code end to end on a fake sysfs tree laid out as the kernel lays
it (``tests/fake_sysfs.py``: the cookbook's 82599ES host, PF eth1 = 0000:03:00.1 with ixgbevf
VFs), with every sysfs write landing in the tree (``FakeSysfs.settle`` then does what the kernel
would).  What is faked: the netlink VF settings through the PF (eth1 does not exist in this
namespace) and the QEMU launch, both recorded by :class:`FakeHardwareHost`; the netlink request
itself is checked as golden bytes (pyroute2 encodes it, nothing is sent).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import kvmnet
from kvmnet.engine.host import Host
from kvmnet.engine.recording import FRESH_VF, Killed, RecordingHost
from kvmnet.errors import (
    ConflictError,
    NotFoundError,
    OperationInvalidError,
    UnsupportedError,
    ValidationError,
)
from kvmnet.guests import Guests
from kvmnet.guests import qemu as qemu_mod
from kvmnet.guests.runner import Runner
from kvmnet.host import sysfs
from kvmnet.host import vf as vfnl
from kvmnet.host.netlink import Netlink
from kvmnet.port import plugs, ports
from kvmnet.port.plugs.base import load_record
from kvmnet.xmlio.domain import format_domain, parse_domain
from tests.fake_sysfs import FakeSysfs, cookbook_host

PASSTHROUGH = ("<network><name>passthrough_net</name><forward mode='hostdev' managed='yes'>"
               "<pf dev='eth1'/></forward></network>")
VF0, VF1 = "0000:03:10.1", "0000:03:10.3"
MAC = "52:54:00:6d:90:02"
PID = 4242


class FakeHardwareHost(Host):
    """The real host adapters for everything but what needs hardware: VF settings through a PF
    (kept per ``PF/INDEX``, changes logged as ``ip link`` would be typed) and launching QEMU
    (argv recorded, a made-up PID that stays alive until stopped)."""

    def __init__(self, addresses: dict[str, list[str]] | None = None) -> None:
        self.vfs: dict[str, dict[str, Any]] = {}
        self.log: list[str] = []
        self.addresses = addresses or {}
        self.argv: list[list[str]] = []
        self.running = False
        self.fail_vf_set = False

    def vf_get(self, pf: str, index: int) -> dict[str, Any]:
        return dict(self.vfs.get(f"{pf}/{index}", FRESH_VF))

    def vf_set(self, pf: str, index: int, settings: dict[str, Any]) -> None:
        if self.fail_vf_set:
            raise Killed("killed while setting the VF")
        self.log.append(vfnl.command(pf, index, settings))
        now = self.vf_get(pf, index)
        now.update({k: v for k, v in settings.items() if v is not None})
        self.vfs[f"{pf}/{index}"] = now

    def link_addresses(self, ifname: str) -> list[str]:
        return self.addresses.get(ifname, [])

    def qemu_start(self, argv: list[str], pidfile: str, name: str) -> int:
        self.argv.append(argv)
        self.running = True
        return PID

    def qemu_alive(self, pid: object, qmp: object) -> bool:
        return self.running and pid == PID

    def qemu_stop(self, pid: int | None, pidfile: str | None, qmp: str) -> None:
        self.running = False


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSysfs:
    tree = FakeSysfs(tmp_path / "sys")
    cookbook_host(tree, numvfs=2)
    monkeypatch.setenv("KVMNET_SYSFS", str(tree.root))
    return tree


@pytest.fixture
def conn(tmp_path: Path) -> kvmnet.Connection:
    return kvmnet.open(str(tmp_path / "root"))


def guest_xml(root: Path, iface: str, dtype: str = "kvm") -> str:
    kernel = root / "vmlinuz"
    kernel.parent.mkdir(parents=True, exist_ok=True)
    kernel.write_bytes(b"")
    return f"""<domain type='{dtype}'>
  <name>vm1</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <memory unit='MiB'>64</memory>
  <os><type>hvm</type><kernel>{kernel}</kernel></os>
  <devices><emulator>/bin/true</emulator>{iface}</devices>
</domain>"""


NETWORK_NIC = (f"<interface type='network'><source network='passthrough_net'/>"
               f"<mac address='{MAC}'/></interface>")


def driver(addr: str) -> str | None:
    return sysfs.pci_driver(addr)


def records(conn: kvmnet.Connection, network: str = "passthrough_net") -> list[dict[str, Any]]:
    directory = conn.paths.ports / network
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


# -- netlink: the VF settings request, golden ------------------------------------------------------
def test_vf_settings_request_golden_bytes_fake_hardware() -> None:
    settings = {"mac": MAC, "vlan": 42, "qos": 0, "spoofchk": True, "trust": False}
    data = vfnl.encode_set(4, 3, settings)
    # nlmsghdr (len 120, RTM_SETLINK, REQUEST|ACK), ifinfomsg (index 4), IFLA_VFINFO_LIST (22)
    # > IFLA_VF_INFO > IFLA_VF_VLAN (2), IFLA_VF_MAC (1, 32 bytes), IFLA_VF_SPOOFCHK (4),
    # IFLA_VF_TRUST (9): include/uapi/linux/if_link.h
    assert data.hex() == (
        "78000000130005000000000000000000" "00000000040000000000000000000000"
        "58001600" "54000100" "10000200030000002a00000000000000"
        "28000100030000005254006d9002" + "00" * 26 +
        "0c000400030000000100000" "0" "0c0009000300000000000000")
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    msg = ifinfmsg(data)
    msg.decode()
    info = msg.get_attr("IFLA_VFINFO_LIST").get_attrs("IFLA_VF_INFO")[0]
    assert vfnl.decode_vfinfo(info) == {"index": 3, **settings}
    assert vfnl.command("eth1", 3, settings) == (
        f"ip link set dev eth1 vf 3 mac {MAC} vlan 42 spoofchk on trust off")


def test_vf_settings_left_alone_are_not_sent_fake_hardware() -> None:
    spec = vfnl.vf_spec(0, {"mac": MAC, "vlan": None, "spoofchk": None, "trust": None})
    assert spec == {"vf": 0, "mac": MAC}


# -- the cookbook's passthrough recipe -------------------------------------------------------------
LIVE = """<network>
  <name>passthrough_net</name>
  <uuid>UUID</uuid>
  <forward mode='hostdev' managed='yes'>
    <pf dev='eth1'/>
    <address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x1'/>
    <address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x3'/>
  </forward>
</network>
"""


def test_cookbook_passthrough_net_to_qemu_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    net = conn.networkDefineXML(PASSTHROUGH)
    net.create()
    net.setAutostart(1)
    assert net.isActive() and net.autostart()
    # the live XML lists the VFs found under the PF, as libvirt's does; the config does not
    assert net.XMLDesc() == LIVE.replace("UUID", net.UUIDString())
    assert "<address" not in net.XMLDesc(1)

    monkeypatch.setenv("KVMNET_ACCEL", "kvm")  # the recorded QEMU would run with KVM
    Guests(conn).defineXML(guest_xml(tmp_path, NETWORK_NIC))
    host = FakeHardwareHost()
    runner = Runner(conn, host=host)
    runner.start("vm1")
    # QEMU gets the VF itself; its MAC was set through the PF, the VF's own settings kept
    argv = host.argv[0]
    assert argv[argv.index("-device") + 1] == f"vfio-pci,host={VF0},id=hostdev0"
    assert "-netdev" not in argv and "accel=kvm" in " ".join(argv)
    assert host.log == [f"ip link set dev eth1 vf 0 mac {MAC} vlan 0"]
    (rec,) = records(conn)
    assert rec["info"]["address"] == VF0
    restore = [s for s in rec["steps"] if s["kind"] == "vf.restore"]
    assert restore == [{"kind": "vf.restore", "pf": "eth1", "index": 0, "address": VF0,
                        "settings": FRESH_VF}]
    # managed='yes': the VF went to vfio-pci (the kernel's side: settle) and lost eth2
    assert fake.written(f"bus/pci/devices/{VF0}/driver_override") == "vfio-pci"
    fake.settle()
    assert driver(VF0) == "vfio-pci" and "eth2" not in sysfs.net_devices()
    assert driver(VF1) == "ixgbevf"
    assert "connections='1'" in net.XMLDesc()
    live = parse_domain(runner.store.read_status("vm1") or "", live=True)
    assert live.interfaces[0].alias == "hostdev0"

    runner.destroy("vm1")
    fake.settle()
    assert driver(VF0) == "ixgbevf" and "eth2" in sysfs.net_devices()
    assert host.vfs["eth1/0"] == FRESH_VF  # its own MAC and VLAN back
    assert records(conn) == []
    net.destroy()
    assert not net.isActive()


def test_qemu_argv_with_vfs_golden_fake_hardware() -> None:
    dom = parse_domain(f"""<domain type='kvm'><name>vm1</name>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid><memory unit='MiB'>64</memory>
  <os><type>hvm</type></os><devices>
  <interface type='hostdev' managed='yes'><mac address='{MAC}'/>
    <source><address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x1'/></source>
    <alias name='hostdev0'/><boot order='1'/></interface>
  <hostdev mode='subsystem' type='pci' managed='yes'>
    <source><address domain='0x0000' bus='0x03' slot='0x10' function='0x3'/></source>
    <alias name='hostdev1'/></hostdev>
  </devices></domain>""", live=True)
    argv = qemu_mod.build_argv(dom, binary="qemu-system-x86_64", accel=qemu_mod.Accel("kvm"),
                               qmp="/run/q.qmp", pidfile="/run/q.pid", serials=[])
    assert " ".join(argv) == (
        "qemu-system-x86_64 -name guest=vm1,debug-threads=on "
        "-uuid c7a5fdbd-edaf-9455-926a-d65c16db1809 -machine pc,accel=kvm -cpu host -m 64 "
        "-smp 1 -nodefaults -no-user-config -nographic -daemonize -pidfile /run/q.pid "
        "-qmp unix:/run/q.qmp,server=on,wait=off -msg timestamp=on "
        "-device vfio-pci,host=0000:03:10.1,id=hostdev0,bootindex=1 "
        "-device vfio-pci,host=0000:03:10.3,id=hostdev1")


# -- a port's steps, golden, on the recording host -----------------------------------------------
def test_vf_port_golden_steps_fake_hardware(fake: FakeSysfs, conn: kvmnet.Connection) -> None:
    conn.networkCreateXML(PASSTHROUGH.replace("<forward", "<vlan><tag id='42'/></vlan><forward")
                          .replace("</network>", "</network>"))
    host = RecordingHost()
    info = ports.plug(conn, "passthrough_net", mac=MAC, owner_name="vm1", host=host,
                      trust_guest_rx_filters=True)
    assert info.address == VF0 and info.plug_type == "hostdev-pci"
    assert host.log == [
        (f"echo vfio-pci > /sys/bus/pci/devices/{VF0}/driver_override; "
         f"echo {VF0} > /sys/bus/pci/devices/{VF0}/driver/unbind; "
         f"echo {VF0} > /sys/bus/pci/drivers_probe"),
        f"ip link set dev eth1 vf 0 mac {MAC} vlan 42 trust on"]
    assert "<address domain='0x0000' bus='0x03' slot='0x10' function='0x1'/>" in \
        ports.port_xml(conn, "passthrough_net", info.uuid)
    rec = load_record(conn.paths.ports / "passthrough_net", info.uuid)
    assert rec is not None
    host.log.clear()
    with Netlink() as nl:
        plugs.plugger(plugs.record_key(rec)).unplug(nl, rec, host=host)
    # undone in reverse: the VF's own settings first, then back to its driver
    assert host.log == [
        "ip link set dev eth1 vf 0 mac 00:00:00:00:00:00 vlan 0 spoofchk on trust off",
        (f"echo > /sys/bus/pci/devices/{VF0}/driver_override; "
         f"echo {VF0} > /sys/bus/pci/devices/{VF0}/driver/unbind; "
         f"echo {VF0} > /sys/bus/pci/drivers_probe  # back to ixgbevf")]


def test_net_plan_of_a_pf_pool_fake_hardware(fake: FakeSysfs, conn: kvmnet.Connection) -> None:
    from kvmnet.network.compile import start_steps
    from kvmnet.xmlio.network import parse_network

    steps = start_steps(parse_network(PASSTHROUGH), conn.paths)
    assert [s.describe() for s in steps] == [
        "ls -d /sys/class/net/eth1/device/virtfn*  # the VF pool of network 'passthrough_net'"]


# -- allocation: exclusive, exhaustion, in use by the host -----------------------------------------
def test_each_port_gets_its_own_vf_until_the_pool_is_exhausted_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection) -> None:
    conn.networkCreateXML(PASSTHROUGH)
    host = RecordingHost()
    got = [ports.plug(conn, "passthrough_net", mac=f"52:54:00:00:00:0{i}", owner_name=f"vm{i}",
                      host=host).address for i in (1, 2)]
    assert got == [VF0, VF1]
    before = list(host.log)
    with pytest.raises(OperationInvalidError, match=(
            r"network 'passthrough_net' has no free VF: all 2 VFs of its pool are taken "
            rf"\({VF0} is used by port .* of guest 'vm1'; {VF1} is used by port .* of guest "
            r"'vm2'\)")):
        ports.plug(conn, "passthrough_net", mac="52:54:00:00:00:03", owner_name="vm3", host=host)
    assert host.log == before and len(records(conn)) == 2  # nothing changed
    # a VF comes back to the pool when its port goes (the records are the live state)
    ports.unplug_owner(conn, records(conn)[0]["info"]["owner_uuid"])


def test_a_vf_with_an_address_on_it_is_in_use_by_the_host_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection) -> None:
    conn.networkCreateXML(PASSTHROUGH)
    host = FakeHardwareHost(addresses={"eth2": ["192.0.2.5"]})
    assert ports.plug(conn, "passthrough_net", mac=MAC, host=host).address == VF1
    host.addresses["eth3"] = ["198.51.100.7"]
    with pytest.raises(OperationInvalidError, match=(
            rf"{VF0} is in use by the host \(eth2 has address 192.0.2.5\)")):
        ports.plug(conn, "passthrough_net", mac="52:54:00:00:00:09", host=host)


def test_a_plug_killed_midway_is_undone_from_its_record_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection) -> None:
    conn.networkCreateXML(PASSTHROUGH)
    host = FakeHardwareHost()
    host.fail_vf_set = True  # a SIGKILL while the PF is being told the VF's MAC
    with pytest.raises(Killed):
        ports.plug(conn, "passthrough_net", mac=MAC, host=host)
    (rec,) = records(conn)  # the journal names the VF and what to restore
    assert [s["kind"] for s in rec["steps"]] == ["pci.driver", "vf.restore"]
    fake.settle()
    assert driver(VF0) == "vfio-pci"
    host.fail_vf_set = False
    info = load_record(conn.paths.ports / "passthrough_net", rec["owner"])
    assert info is not None
    with Netlink() as nl:
        plugs.plugger(plugs.record_key(info)).unplug(nl, info, host=host)
    fake.settle()
    assert driver(VF0) == "ixgbevf"
    assert host.vfs["eth1/0"] == FRESH_VF


# -- bad input: clear errors, nothing changed ----------------------------------------------------
@pytest.mark.parametrize("forward, error, needle", [
    ("<pf dev='eth9'/>", NotFoundError, r"<pf dev='eth9'/> does not exist on this host"),
    ("<pf dev='eth0'/>", OperationInvalidError, (r"has no virtual functions \(sriov_numvfs is 0 "
     r"of 63\); create them first, e\.g\. echo 63 > /sys/class/net/eth0/device/sriov_numvfs")),
])
def test_bad_pfs_are_refused_at_start_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection, forward: str, error: type[Exception],
        needle: str) -> None:
    net = conn.networkDefineXML(PASSTHROUGH.replace("<pf dev='eth1'/>", forward))
    with pytest.raises(error, match=needle):
        net.create()
    assert not net.isActive()
    assert not (conn.paths.run_networks / "passthrough_net.json").exists()


@pytest.mark.parametrize("address", ["0000:03:00.1", "0000:09:00.1"])
def test_an_address_that_is_no_vf_is_refused_at_define_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection, address: str) -> None:
    """libvirt's networkValidate: each listed device must be a VF of this host (the PF itself,
    or a device that does not exist, is not)."""
    dom, bus, rest = address.split(":")
    slot, func = rest.split(".")
    xml = PASSTHROUGH.replace("<pf dev='eth1'/>", (
        f"<address type='pci' domain='0x{dom}' bus='0x{bus}' slot='0x{slot}' function='{func}'/>"))
    with pytest.raises(ValidationError, match=(
            rf"device '{fake.root}/bus/pci/devices/{address}' in network 'passthrough_net' is "
            "not an SR-IOV Virtual Function")):
        conn.networkDefineXML(xml)
    with pytest.raises(ValidationError, match="is not an SR-IOV Virtual Function"):
        conn.networkCreateXML(xml)
    assert conn.listAllNetworks() == []


def test_listed_vfs_that_went_away_are_refused_at_start_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    net = conn.networkDefineXML(PASSTHROUGH.replace("<pf dev='eth1'/>", (
        "<address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x3'/>")))
    fewer = FakeSysfs(tmp_path / "sys-after")  # sriov_numvfs went down to 1 since define
    cookbook_host(fewer, numvfs=1)
    monkeypatch.setenv("KVMNET_SYSFS", str(fewer.root))
    with pytest.raises(NotFoundError, match=(
            rf"network 'passthrough_net' lists PCI device {VF1}, which does not exist")):
        net.create()
    assert not net.isActive()


def test_a_vf_in_two_pools_fake_hardware(fake: FakeSysfs, conn: kvmnet.Connection) -> None:
    conn.networkCreateXML(PASSTHROUGH)
    other = conn.networkDefineXML(
        "<network><name>vf_list</name><forward mode='hostdev' managed='yes'>"
        "<address type='pci' domain='0' bus='3' slot='0x10' function='3'/></forward></network>")
    with pytest.raises(ConflictError, match=(
            rf"VF {VF1} of network 'vf_list' is in the pool of active network 'passthrough_net' "
            "too; a VF serves one network at a time")):
        other.create()
    assert not other.isActive()


def test_a_vf_guest_under_tcg_is_refused_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KVMNET_ACCEL", "tcg")
    iface = (f"<interface type='hostdev' managed='yes'><mac address='{MAC}'/><source>"
             "<address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x1'/>"
             "</source></interface>")
    Guests(conn).defineXML(guest_xml(tmp_path, iface))
    host = FakeHardwareHost()
    with pytest.raises(UnsupportedError, match="needs KVM and VFIO"):
        Runner(conn, host=host).start("vm1")
    assert host.argv == [] and host.log == [] and driver(VF0) == "ixgbevf"
    assert fake.written(f"bus/pci/devices/{VF0}/driver_override") == "(null)"


def test_an_interface_type_hostdev_guest_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KVMNET_ACCEL", "kvm")
    iface = (f"<interface type='hostdev' managed='yes'><mac address='{MAC}'/><source>"
             "<address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x3'/>"
             "</source></interface>")
    Guests(conn).defineXML(guest_xml(tmp_path, iface))
    host = FakeHardwareHost()
    runner = Runner(conn, host=host)
    runner.start("vm1")
    assert host.log == [f"ip link set dev eth1 vf 1 mac {MAC} vlan 0"]
    assert f"vfio-pci,host={VF1},id=hostdev0" in host.argv[0]
    fake.settle()
    assert driver(VF1) == "vfio-pci"
    # the same VF for a port of a network is taken now
    conn.networkCreateXML(PASSTHROUGH)
    got = ports.plug(conn, "passthrough_net", mac="52:54:00:00:00:07", host=host)
    assert got.address == VF0
    runner.destroy("vm1")
    fake.settle()
    assert driver(VF1) == "ixgbevf" and host.vfs["eth1/1"] == FRESH_VF


# -- domain XML ----------------------------------------------------------------------------------
DOMAIN = f"""<domain type='kvm'>
  <name>vm1</name>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <memory unit='KiB'>65536</memory>
  <currentMemory unit='KiB'>65536</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type>hvm</type>
  </os>
  <devices>
    <interface type='hostdev' managed='yes'>
      <mac address='{MAC}'/>
      <source>
        <address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x1'/>
      </source>
    </interface>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source>
        <address domain='0x0000' bus='0x03' slot='0x10' function='0x3'/>
      </source>
      <rom bar='off'/>
    </hostdev>
  </devices>
</domain>
"""


def test_hostdev_domain_xml_round_trips() -> None:
    dom = parse_domain(DOMAIN)
    assert dom.interfaces[0].pci_address == VF0 and dom.interfaces[0].managed is True
    assert dom.hostdevs[0].address == VF1 and dom.hostdevs[0].managed is True
    assert format_domain(dom) == DOMAIN


@pytest.mark.parametrize("xml, needle", [
    ("<interface type='hostdev'><source/></interface>", "missing <source><address"),
    (("<interface type='hostdev'><source><address domain='0' bus='3' slot='0x10' "
     "function='1'/></source></interface>"), "missing address type"),
    ("<interface type='hostdev'><source><address type='usb' bus='1'/></source></interface>",
     "address type 'usb' is not supported"),
    (("<interface type='hostdev'><source><address type='pci' bus='3' slot='0x20'/></source>"
     "</interface>"), "slot"),
    ("<hostdev mode='subsystem' type='usb'><source/></hostdev>", "is not supported"),
    (("<hostdev mode='subsystem' type='pci' managed='maybe'><source><address bus='3'/></source>"
     "</hostdev>"), "managed"),
])
def test_bad_hostdev_domain_xml(xml: str, needle: str) -> None:
    from kvmnet.errors import XMLParseError

    with pytest.raises(XMLParseError, match=needle):
        parse_domain(f"<domain type='kvm'><name>g</name><memory>65536</memory><os><type>hvm"
                     f"</type></os><devices>{xml}</devices></domain>")


# -- virtualports and managed='no' ---------------------------------------------------------------
def test_a_virtualport_on_a_vf_network_is_defined_but_not_started_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection) -> None:
    """libvirt's define takes any virtualport on a hostdev network (its port allocation takes
    only 802.1Qbh); kvmnet defines it too and refuses at start what no port could get."""
    for vport, error, needle in (
            ("<virtualport type='openvswitch'/>", ValidationError, "only 802.1Qbh is"),
            ("<virtualport type='802.1Qbh'><parameters profileid='p1'/></virtualport>",
             UnsupportedError, "needs an 802.1Qbh capable switch and lldpad")):
        net = conn.networkDefineXML(PASSTHROUGH.replace("</network>", vport + "</network>"))
        with pytest.raises(error, match=needle):
            net.create()
        assert not net.isActive()


def test_a_portgroup_virtualport_is_refused_at_plug_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection) -> None:
    conn.networkCreateXML(PASSTHROUGH.replace("</network>", (
        "<portgroup name='qbh'><virtualport type='802.1Qbh'/></portgroup></network>")))
    host = RecordingHost()
    with pytest.raises(UnsupportedError, match="of the port needs an 802.1Qbh capable switch"):
        ports.plug(conn, "passthrough_net", mac=MAC, portgroup="qbh", host=host)
    assert host.log == [] and records(conn) == []


def test_an_unmanaged_vf_must_be_on_vfio_already_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection) -> None:
    conn.networkCreateXML(PASSTHROUGH.replace("managed='yes'", "managed='no'"))
    host = RecordingHost()
    with pytest.raises(OperationInvalidError, match=(
            rf"VF {VF0} is not bound to vfio-pci.*kvmnet nodedev-detach pci_0000_03_10_1")):
        ports.plug(conn, "passthrough_net", mac=MAC, host=host)
    assert host.log == [] and records(conn) == []
    sysfs.set_driver_override(VF0, "vfio-pci")  # what nodedev-detach writes
    sysfs.unbind(VF0)
    sysfs.drivers_probe(VF0)
    fake.settle()
    assert ports.plug(conn, "passthrough_net", mac=MAC, host=host).address == VF0
    # not managed: no driver change, only the MAC through the PF
    assert host.log == [f"ip link set dev eth1 vf 0 mac {MAC} vlan 0"]


def test_a_vf_takes_one_vlan_tag_not_a_trunk_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection) -> None:
    conn.networkCreateXML(PASSTHROUGH.replace("</network>", (
        "<vlan trunk='yes'><tag id='10'/><tag id='20'/></vlan></network>")))
    with pytest.raises(UnsupportedError, match="an SR-IOV VF takes one VLAN tag"):
        ports.plug(conn, "passthrough_net", mac=MAC, host=RecordingHost())


# -- the recipe through the command line ---------------------------------------------------------
def test_cookbook_recipe_on_the_command_line_fake_hardware(
        fake: FakeSysfs, tmp_path: Path) -> None:
    import subprocess
    import sys

    root = tmp_path / "root"
    env = {**os.environ, "KVMNET_ROOT": str(root), "KVMNET_SYSFS": str(fake.root)}

    def kvmnet_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kvmnet", *args], env=env, text=True,
                              capture_output=True, timeout=60, check=False)

    xml = tmp_path / "passthrough_net.xml"
    xml.write_text(PASSTHROUGH)
    for args in (("net-define", str(xml)), ("net-start", "passthrough_net"),
                 ("net-autostart", "passthrough_net")):
        done = kvmnet_cli(*args)
        assert done.returncode == 0, done.stderr
    dump = kvmnet_cli("net-dumpxml", "passthrough_net").stdout
    assert "<address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x3'/>" in dump
    assert "Autostart:      yes" in kvmnet_cli("net-info", "passthrough_net").stdout
    # a PF without VFs: one line on stderr, exit 1, nothing started
    xml.write_text(PASSTHROUGH.replace("passthrough_net", "no_vfs").replace("eth1", "eth0"))
    assert kvmnet_cli("net-define", str(xml)).returncode == 0
    bad = kvmnet_cli("net-start", "no_vfs")
    assert bad.returncode == 1 and bad.stdout.strip() == ""
    assert bad.stderr.startswith("error: network 'no_vfs': PF eth0 (0000:03:00.0) has no "
                                 "virtual functions") and bad.stderr.count("\n") == 1
    assert "inactive" in kvmnet_cli("net-list", "--all").stdout.split("no_vfs")[1].splitlines()[0]


def hostdev_iface(addr: str) -> str:
    dom, bus, rest = addr.split(":")
    slot, func = rest.split(".")
    return (f"<interface type='hostdev' managed='yes'><mac address='{MAC}'/><source>"
            f"<address type='pci' domain='0x{dom}' bus='0x{bus}' slot='0x{slot}' "
            f"function='0x{func}'/></source></interface>")


@pytest.mark.parametrize("case", ["host address", "taken by a port"])
def test_a_guest_vf_in_use_is_refused_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    monkeypatch.setenv("KVMNET_ACCEL", "kvm")
    host = FakeHardwareHost()
    if case == "host address":
        host.addresses["eth2"] = ["192.0.2.5"]
        needle = rf"interface {MAC} \({VF0}\) is in use by the host: its interface eth2 has "
    else:
        conn.networkCreateXML(PASSTHROUGH)
        ports.plug(conn, "passthrough_net", mac="52:54:00:00:00:07", owner_name="other",
                   host=host)
        needle = rf"VF {VF0} of interface {MAC} is used by port .* of guest 'other'"
    Guests(conn).defineXML(guest_xml(tmp_path, hostdev_iface(VF0)))
    log = list(host.log)
    with pytest.raises(ConflictError, match=needle):
        Runner(conn, host=host).start("vm1")
    assert host.log == log and host.argv == []  # nothing changed
    assert not (conn.paths.guests_run / "vm1.json").exists()


def test_a_managed_hostdev_goes_to_vfio_and_back_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KVMNET_ACCEL", "kvm")
    dev = ("<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' "
           "bus='0x03' slot='0x10' function='0x3'/></source></hostdev>")
    Guests(conn).defineXML(guest_xml(tmp_path, dev))
    host = FakeHardwareHost()
    runner = Runner(conn, host=host)
    runner.start("vm1")
    assert f"vfio-pci,host={VF1},id=hostdev0" in host.argv[0]
    assert host.log == []  # a plain PCI device: no network settings
    fake.settle()
    assert driver(VF1) == "vfio-pci"
    runner.destroy("vm1")
    fake.settle()
    assert driver(VF1) == "ixgbevf"


def test_a_vf_guest_killed_at_each_step_converges_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed at each change of starting a guest with its own VF, the next start undoes what was
    left (the VF's settings back, back to its driver) and a destroy leaves nothing."""
    monkeypatch.setenv("KVMNET_ACCEL", "kvm")
    Guests(conn).defineXML(guest_xml(tmp_path, hostdev_iface(VF0)))
    host = RecordingHost()
    Runner(conn, host=host).start("vm1")
    total = len(host.log)
    assert total == 6 and any("vf 0 mac" in line for line in host.log)  # sweep, detach, vf,
    # files, QEMU, live definition
    Runner(conn, host=host).destroy("vm1")
    assert host.leftovers() == []
    for k in range(1, total + 1):
        host = RecordingHost()
        host.kill_at = k
        with pytest.raises(Killed):
            Runner(conn, host=host).start("vm1")
        host.kill_at = None
        runner = Runner(conn, host=host)
        runner.start("vm1")  # finishes the killed start's undo first
        runner.destroy("vm1")
        assert host.leftovers() == [], f"killed at change {k} of {total}"
        assert not (conn.paths.guests_run / "vm1.json").exists()


def test_a_vf_port_stays_with_its_guest_across_a_network_restart_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection) -> None:
    net = conn.networkDefineXML(PASSTHROUGH)
    net.create()
    host = RecordingHost()
    info = ports.plug(conn, "passthrough_net", mac=MAC, owner_name="vm1", host=host)
    net.destroy()  # the VF stays with its guest: nothing to take off a bridge
    (kept,) = ports.list_ports(conn, "passthrough_net")
    assert kept.kept and kept.address == VF0
    net.create()
    (back,) = ports.list_ports(conn, "passthrough_net")
    assert not back.kept and back.address == VF0 and back.uuid == info.uuid
    assert "function='0x1'" in ports.port_xml(conn, "passthrough_net", info.uuid)
    # the restarted pool still counts it: the next port gets the other VF
    assert ports.plug(conn, "passthrough_net", mac="52:54:00:00:00:08", host=host).address == VF1


def test_a_pool_without_devices_is_defined_but_not_started_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection) -> None:
    """libvirt defines (and starts, with an empty pool) a hostdev network without devices;
    kvmnet defines it and refuses the start, since no guest could ever get a VF from it."""
    net = conn.networkDefineXML("<network><name>empty</name><forward mode='hostdev' "
                                "managed='yes'/></network>")
    with pytest.raises(OperationInvalidError, match="has forward mode 'hostdev' but no devices"):
        net.create()
    assert not net.isActive()


def test_managed_left_out_means_not_managed_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection) -> None:
    """As libvirt: only managed='yes' binds the VF to vfio-pci."""
    conn.networkCreateXML(PASSTHROUGH.replace(" managed='yes'", ""))
    with pytest.raises(OperationInvalidError, match="not bound to vfio-pci"):
        ports.plug(conn, "passthrough_net", mac=MAC, host=RecordingHost())


def test_the_live_pool_is_schema_valid_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection) -> None:
    from lxml import etree

    from tests.conformance import conformance_dir

    base = conformance_dir()
    if base is None:
        pytest.skip("the libvirt conformance corpus is not here (../shared/conformance)")
    schema = etree.RelaxNG(etree.parse(str(base / "src/conf/schemas/network.rng")))
    net = conn.networkCreateXML(PASSTHROUGH)
    ports.plug(conn, "passthrough_net", mac=MAC, host=RecordingHost())
    live = net.XMLDesc()
    assert "connections='1'" in live and live.count("<address type='pci'") == 2
    assert schema.validate(etree.fromstring(live.encode())), schema.error_log.last_error


def test_without_the_vfio_driver_a_managed_vf_is_refused_fake_hardware(
        fake: FakeSysfs, conn: kvmnet.Connection) -> None:
    import shutil

    shutil.rmtree(fake.root / "bus/pci/drivers/vfio-pci")  # the module is not loaded
    conn.networkCreateXML(PASSTHROUGH)
    host = RecordingHost()
    with pytest.raises(OperationInvalidError, match=(
            r"the vfio-pci driver is not loaded .* load it with 'modprobe vfio-pci'")):
        ports.plug(conn, "passthrough_net", mac=MAC, host=host)
    assert host.log == [] and records(conn) == []
