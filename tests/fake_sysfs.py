"""Fake sysfs trees laid out exactly as the kernel lays them, for fake-hardware tests.

This machine has no SR-IOV NICs and no VFIO, so tests build a tree of real directories, files
and *relative* symlinks in a temporary folder and point ``$KVMNET_SYSFS`` at it; kvmnet's code
(:mod:`kvmnet.host.sysfs`) runs on it unchanged.  The layout and value formats are the kernel's
(Documentation/ABI/testing/sysfs-bus-pci, sysfs-class-net, sysfs-kernel-iommu_groups)::

    devices/pci0000:00/0000:00:03.0/                          root port (class 0x060400)
    devices/pci0000:00/0000:00:03.0/0000:03:00.1/             the PF
        class vendor device subsystem_vendor subsystem_device revision numa_node
        current_link_speed current_link_width max_link_speed max_link_width
        sriov_totalvfs sriov_numvfs driver_override config
        virtfn0 -> ../0000:03:10.1                            one per VF
        driver -> ../../../../bus/pci/drivers/ixgbe
        iommu_group -> ../../../../kernel/iommu_groups/25
        subsystem -> ../../../../bus/pci
        net/eth1/{address,operstate,carrier,speed,mtu,ifindex,type,...}
        net/eth1/device -> ../../../0000:03:00.1
    devices/pci0000:00/0000:00:03.0/0000:03:10.1/physfn -> ../0000:03:00.1
    devices/virtual/net/lo/...
    bus/pci/devices/0000:03:00.1 -> ../../../devices/pci0000:00/0000:00:03.0/0000:03:00.1
    bus/pci/drivers/{ixgbe,ixgbevf,vfio-pci}/{bind,unbind,new_id,remove_id,ADDR -> device}
    bus/pci/drivers_probe
    class/net/eth1 -> ../../devices/pci0000:00/0000:00:03.0/0000:03:00.1/net/eth1
    kernel/iommu_groups/25/devices/0000:03:00.1 -> ../../../../devices/pci0000:00/...

Use::

    fake = FakeSysfs(tmp_path / "sys")      # an empty tree with the bus/pci skeleton
    cookbook_host(fake)                     # the cookbook's 82599ES host (PF eth1 = 0000:03:00.1)
    monkeypatch.setenv("KVMNET_SYSFS", str(fake.root))

or build your own with :meth:`FakeSysfs.add_pci`, :meth:`~FakeSysfs.add_netdev` and
:meth:`~FakeSysfs.add_vfs`.  The host models (:func:`cookbook_host`, :func:`igb_host`,
:func:`i40e_host`, :func:`connectx_host`) use real vendor/device IDs and can share one tree (they
sit on different buses).

Writes land in plain files, as kvmnet wrote them (a test reads them back with
:meth:`FakeSysfs.written`).  :meth:`FakeSysfs.settle` then does what the kernel would have done
with them (``driver/unbind``, ``drivers/X/bind``, ``drivers_probe`` honouring
``driver_override``): it moves the ``driver`` links, drops the interfaces of a device whose net
driver lets go and brings them back when one binds again, and empties the files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

NO_OVERRIDE = "(null)"  # what driver_override reads when unset


@dataclass
class FakeNetdev:
    ifname: str
    mac: str
    operstate: str = "up"
    speed: int = 10000
    mtu: int = 1500


@dataclass
class FakeSysfs:
    root: Path
    # driver -> (vendor, device) pairs it matches, for drivers_probe without an override
    ids: dict[str, set[tuple[int, int]]] = field(default_factory=dict)
    # net interfaces of devices whose net driver let go: they come back on the next net bind
    parked: dict[str, list[FakeNetdev]] = field(default_factory=dict)
    net_drivers: set[str] = field(default_factory=set)
    _ifindex: int = 1

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        for d in ("devices/system", "bus/pci/devices", "bus/pci/drivers", "class/net",
                  "kernel/iommu_groups", "module"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        for f in ("bus/pci/drivers_probe", "bus/pci/rescan"):
            self._file(self.root / f, "")
        self._file(self.root / "bus/pci/drivers_autoprobe", "1")
        self.add_netdev(None, "lo", "00:00:00:00:00:00", operstate="unknown", speed=-1,
                        mtu=65536)
        self.set_dmi()

    def set_dmi(self, **values: str) -> None:
        """The firmware's DMI table (``devices/virtual/dmi/id``, linked from ``class/dmi/id``):
        a Dell PowerEdge R720 unless ``values`` say otherwise (``product_uuid=...``)."""
        table = {"sys_vendor": "Dell Inc.", "product_name": "PowerEdge R720",
                 "product_version": "", "product_serial": "4XJ3WZ1",
                 "product_uuid": "4c4c4544-0058-4a10-8033-b4c04f575a31",
                 "bios_vendor": "Dell Inc.", "bios_version": "2.9.0",
                 "bios_date": "12/06/2019", **values}
        d = self.root / "devices/virtual/dmi/id"
        for name, value in table.items():
            self._file(d / name, value)
        self._symlink(self.root / "class/dmi/id", d)

    # -- low-level helpers ---------------------------------------------------------------------
    @staticmethod
    def _file(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n" if text else "", encoding="utf-8")

    @staticmethod
    def _symlink(link: Path, target: Path) -> None:
        """A relative symlink, as every sysfs link is.  Like the kernel (kernfs_get_target_path)
        it climbs to a common ancestor of the target's *parent* and names the target from
        there, so a link to an ancestor reads ``../../../0000:03:00.1``, never ``../..``."""
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(os.path.join(os.path.relpath(target.parent, link.parent), target.name))

    def device_path(self, addr: str) -> Path:
        return Path(os.path.realpath(self.root / "bus/pci/devices" / addr))

    def written(self, relpath: str) -> str:
        """What was last written to a file of the tree (``bus/pci/drivers_probe``...)."""
        return (self.root / relpath).read_text(encoding="utf-8").strip()

    # -- building ------------------------------------------------------------------------------
    def add_driver(self, name: str, ids: tuple[tuple[int, int], ...] = (), *,
                   net: bool = False) -> Path:
        """``bus/pci/drivers/NAME`` with its control files; ``net``: it makes interfaces."""
        d = self.root / "bus/pci/drivers" / name
        if not d.exists():
            for f in ("bind", "unbind", "new_id", "remove_id", "uevent"):
                self._file(d / f, "")
            (self.root / "module" / name.replace("-", "_")).mkdir(parents=True, exist_ok=True)
            self._symlink(d / "module", self.root / "module" / name.replace("-", "_"))
        self.ids.setdefault(name, set()).update(ids)
        if net:
            self.net_drivers.add(name)
        return d

    def add_pci(self, addr: str, *, parent: str | None = None, vendor: int, device: int,
                pci_class: int, subsystem_vendor: int = 0, subsystem_device: int = 0,
                revision: int = 1, driver: str | None = None, iommu_group: int | None = None,
                numa_node: int = -1, link: tuple[str, int, str, int] | None = None,
                totalvfs: int | None = None) -> Path:
        """A PCI function.  ``parent`` is the bridge/root port's address (None: on the host
        bridge ``pciDDDD:BB``); ``link`` is (current speed, width, max speed, width) as the
        kernel prints them (``"5.0 GT/s PCIe"``, 8)."""
        if parent is None:
            base = self.root / "devices" / f"pci{addr[:4]}:{addr[5:7]}"
            base.mkdir(parents=True, exist_ok=True)
            self._file(base / "uevent", "")
        else:
            base = self.device_path(parent)
        d = base / addr
        attrs = {
            "vendor": f"0x{vendor:04x}", "device": f"0x{device:04x}",
            "class": f"0x{pci_class:06x}", "subsystem_vendor": f"0x{subsystem_vendor:04x}",
            "subsystem_device": f"0x{subsystem_device:04x}", "revision": f"0x{revision:02x}",
            "numa_node": str(numa_node), "enable": "1", "irq": "0",
            "driver_override": NO_OVERRIDE, "local_cpulist": "0-1", "uevent":
            f"PCI_CLASS={pci_class:X}\nPCI_ID={vendor:04X}:{device:04X}\nPCI_SLOT_NAME={addr}",
        }
        if link is not None:
            attrs.update(current_link_speed=link[0], current_link_width=str(link[1]),
                         max_link_speed=link[2], max_link_width=str(link[3]))
        if totalvfs is not None:
            attrs.update(sriov_totalvfs=str(totalvfs), sriov_numvfs="0", sriov_offset="128",
                         sriov_stride="2", sriov_vf_device="0", sriov_drivers_autoprobe="1")
        for name, value in attrs.items():
            self._file(d / name, value)
        for name in ("reset", "remove", "rescan"):
            self._file(d / name, "")
        # config space: the 64-byte header starts with the vendor and device IDs (little
        # endian); byte 0x0e is the header type (1 for a PCI-to-PCI bridge, 0 an endpoint)
        header = bytearray(64)
        header[0:4] = vendor.to_bytes(2, "little") + device.to_bytes(2, "little")
        header[8:12] = (revision | pci_class << 8).to_bytes(4, "little")
        header[14] = {0x0604: 1, 0x0607: 2}.get(pci_class >> 8, 0)
        (d / "config").write_bytes(bytes(header))
        self._symlink(d / "subsystem", self.root / "bus/pci")
        self._symlink(self.root / "bus/pci/devices" / addr, d)
        if iommu_group is not None:
            group = self.root / "kernel/iommu_groups" / str(iommu_group)
            self._file(group / "type", "DMA")
            self._symlink(group / "devices" / addr, d)
            self._symlink(d / "iommu_group", group)
        if driver is not None:
            self._bind(addr, driver)
        return d

    def add_netdev(self, addr: str | None, ifname: str, mac: str, *, operstate: str = "up",
                   speed: int = 10000, mtu: int = 1500, via: str | None = None) -> Path:
        """An interface on a PCI device (``ADDR/net/IF``), or a virtual one (addr None);
        ``via`` puts a bus device between them, as virtio-net's ``ADDR/virtio0/net/IF``."""
        nd = FakeNetdev(ifname, mac, operstate, speed, mtu)
        return self._make_netdev(addr, nd, via)

    def _make_netdev(self, addr: str | None, nd: FakeNetdev, via: str | None = None) -> Path:
        if addr is None:
            d = self.root / "devices/virtual/net" / nd.ifname
        elif via is not None:
            d = self.device_path(addr) / via / "net" / nd.ifname
        else:
            d = self.device_path(addr) / "net" / nd.ifname
        up = nd.operstate in ("up", "unknown")
        attrs = {
            "address": nd.mac, "addr_len": "6", "broadcast": "ff:ff:ff:ff:ff:ff",
            "operstate": nd.operstate, "carrier": "1" if up else "0", "mtu": str(nd.mtu),
            "ifindex": str(self._ifindex), "iflink": str(self._ifindex),
            "type": "772" if nd.ifname == "lo" else "1",
            "flags": "0x9" if nd.ifname == "lo" else ("0x1003" if up else "0x1002"),
            "tx_queue_len": "1000", "dev_id": "0x0", "uevent":
            f"INTERFACE={nd.ifname}\nIFINDEX={self._ifindex}",
        }
        if addr is not None:
            attrs.update(speed=str(nd.speed if up else -1), duplex="full" if up else "unknown")
            self._symlink(d / "device", d.parent.parent)
        self._ifindex += 1
        for name, value in attrs.items():
            self._file(d / name, value)
        self._symlink(d / "subsystem", self.root / "class/net")
        self._symlink(self.root / "class/net" / nd.ifname, d)
        return d

    def add_vfs(self, pf: str, vfs: list[str], *, vendor: int, device: int,
                driver: str | None, netdevs: list[tuple[str, str]] | None = None,
                iommu_groups: list[int] | None = None, offset: int = 128,
                stride: int = 2) -> None:
        """Enable VFs on ``pf``: each a function beside it with ``physfn``, linked from the PF's
        ``virtfnN``; ``netdevs`` gives (ifname, MAC) per VF when its driver makes interfaces;
        ``offset``/``stride`` are what the PF's capability says (see :func:`vf_addresses`)."""
        pf_dir = self.device_path(pf)
        parent = pf_dir.parent.name
        sub_vendor = int((pf_dir / "subsystem_vendor").read_text(), 16)
        numa = int((pf_dir / "numa_node").read_text())
        for i, vf in enumerate(vfs):
            d = self.add_pci(vf, parent=parent if parent.count(":") == 2 else None,
                             vendor=vendor, device=device, pci_class=0x020000,
                             subsystem_vendor=sub_vendor, subsystem_device=device,
                             iommu_group=iommu_groups[i] if iommu_groups else None,
                             numa_node=numa)
            self._symlink(d / "physfn", pf_dir)
            self._symlink(pf_dir / f"virtfn{i}", d)
            if driver is not None:
                self._bind(vf, driver)
            if netdevs is not None and i < len(netdevs):
                # a VF's interface is down until someone uses it (the host, or a guest's MAC)
                self.add_netdev(vf, netdevs[i][0], netdevs[i][1], operstate="down")
        self._file(pf_dir / "sriov_numvfs", str(len(vfs)))
        self._file(pf_dir / "sriov_vf_device", f"{device:x}")
        self._file(pf_dir / "sriov_offset", str(offset))
        self._file(pf_dir / "sriov_stride", str(stride))

    # -- the kernel's side of driver binding ---------------------------------------------------
    def _bind(self, addr: str, driver: str) -> None:
        d = self.device_path(addr)
        drv = self.add_driver(driver)
        self._symlink(d / "driver", drv)
        self._symlink(drv / addr, d)
        if driver in self.net_drivers:
            for nd in self.parked.pop(addr, []):
                self._make_netdev(addr, nd)

    def _unbind(self, addr: str) -> None:
        d = self.device_path(addr)
        drv = d / "driver"
        if not drv.is_symlink():
            return
        name = os.path.basename(os.readlink(drv))
        drv.unlink()
        (self.root / "bus/pci/drivers" / name / addr).unlink(missing_ok=True)
        net = d / "net"
        if net.is_dir():
            for nd_dir in sorted(net.iterdir()):
                self.parked.setdefault(addr, []).append(FakeNetdev(
                    nd_dir.name, (nd_dir / "address").read_text().strip(),
                    (nd_dir / "operstate").read_text().strip(), 10000,
                    int((nd_dir / "mtu").read_text())))
                (self.root / "class/net" / nd_dir.name).unlink(missing_ok=True)
            _rmtree(net)

    def _probe(self, addr: str) -> None:
        d = self.device_path(addr)
        if (d / "driver").is_symlink():
            return
        override = (d / "driver_override").read_text().strip()
        if override and override != NO_OVERRIDE:
            if (self.root / "bus/pci/drivers" / override).is_dir():
                self._bind(addr, override)
            return
        ids = (int((d / "vendor").read_text(), 16), int((d / "device").read_text(), 16))
        for name, matched in sorted(self.ids.items()):
            if ids in matched:
                self._bind(addr, name)
                return

    def settle(self) -> None:
        """Apply what was written to the control files, as the kernel does on each write."""
        for d in sorted(self.root.glob("bus/pci/devices/*")):
            text = (d / "driver_override").read_text().strip()
            if not text:  # an empty write clears the override; the kernel shows (null)
                self._file(d / "driver_override", NO_OVERRIDE)
        drivers = sorted(p for p in (self.root / "bus/pci/drivers").iterdir())
        for drv in drivers:
            addr = (drv / "unbind").read_text().strip()
            if addr:
                self._unbind(addr)
                self._file(drv / "unbind", "")
        for drv in drivers:
            addr = (drv / "bind").read_text().strip()
            if addr:
                self._bind(addr, drv.name)
                self._file(drv / "bind", "")
        addr = (self.root / "bus/pci/drivers_probe").read_text().strip()
        if addr:
            self._probe(addr)
            self._file(self.root / "bus/pci/drivers_probe", "")


def _rmtree(path: Path) -> None:
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            _rmtree(child)
        else:
            child.unlink()
    path.rmdir()


# -- host models (real IDs: pci.ids) -----------------------------------------------------------
INTEL, MELLANOX = 0x8086, 0x15B3
ROOT_PORT = 0x060400  # PCI bridge, normal decode
ETHERNET = 0x020000


def vf_addresses(pf: str, count: int, offset: int = 128, stride: int = 2) -> list[str]:
    """The addresses the kernel gives a PF's VFs: devfn = PF's devfn + offset + stride * i
    (``sriov_offset``, ``sriov_stride``; the 82599's are 128 and 2)."""
    bus = int(pf[5:7], 16)
    devfn = (int(pf[8:10], 16) << 3 | int(pf[11])) + offset
    out = []
    for i in range(count):
        b, fn = bus + ((devfn + stride * i) >> 8), (devfn + stride * i) & 0xFF
        out.append(f"{pf[:4]}:{b:02x}:{fn >> 3:02x}.{fn & 7}")
    return out


def _root_port(fake: FakeSysfs, addr: str, group: int, link: tuple[str, int, str, int]) -> None:
    # Xeon E5/Core i7 IIO PCI Express Root Port (8086:3c08), pcieport
    fake.add_pci(addr, vendor=INTEL, device=0x3C08, pci_class=ROOT_PORT, revision=7,
                 driver="pcieport", iommu_group=group, numa_node=0, link=link)


def cookbook_host(fake: FakeSysfs, *, numvfs: int = 2,
                  vf_driver: str | None = "ixgbevf") -> FakeSysfs:
    """The cookbook's host: an Intel 82599ES 10-Gigabit SFP+ NIC (8086:10fb, ixgbe) behind the
    root port 0000:00:03.0, ports eth0 = 0000:03:00.0 and eth1 = 0000:03:00.1; the PF eth1 has
    ``numvfs`` 82599 VFs (8086:10ed, ixgbevf) at 0000:03:10.1, 0000:03:10.3... (offset 128,
    stride 2), whose interfaces are eth2, eth3...; ``vf_driver`` None leaves them unbound."""
    fake.add_driver("ixgbe", ((INTEL, 0x10FB),), net=True)
    fake.add_driver("ixgbevf", ((INTEL, 0x10ED),), net=True)
    fake.add_driver("vfio-pci")
    link = ("5.0 GT/s PCIe", 8, "5.0 GT/s PCIe", 8)
    _root_port(fake, "0000:00:03.0", 20, link)
    for fn, name, mac in ((0, "eth0", "90:e2:ba:4c:3e:a0"), (1, "eth1", "90:e2:ba:4c:3e:a1")):
        addr = f"0000:03:00.{fn}"
        fake.add_pci(addr, parent="0000:00:03.0", vendor=INTEL, device=0x10FB,
                     pci_class=ETHERNET, subsystem_vendor=INTEL, subsystem_device=0x000C,
                     driver="ixgbe", iommu_group=24 + fn, numa_node=0, link=link, totalvfs=63)
        fake.add_netdev(addr, name, mac)
    vfs = vf_addresses("0000:03:00.1", numvfs)
    netdevs = [(f"eth{2 + i}", f"02:00:00:00:03:{i:02x}") for i in range(numvfs)]
    fake.add_vfs("0000:03:00.1", vfs, vendor=INTEL, device=0x10ED, driver=vf_driver,
                 netdevs=netdevs if vf_driver else None,
                 iommu_groups=[60 + i for i in range(numvfs)])
    return fake


def igb_host(fake: FakeSysfs, *, numvfs: int = 2) -> FakeSysfs:
    """An Intel 82576 Gigabit NIC (8086:10c9, igb) at 0000:82:00.0/1 (eno1, eno2) behind the root
    port 0000:80:02.0 on NUMA node 1; eno2 has ``numvfs`` 82576 VFs (8086:10ca, igbvf) at
    0000:82:10.1, 0000:82:10.3... (at most 7)."""
    fake.add_driver("igb", ((INTEL, 0x10C9),), net=True)
    fake.add_driver("igbvf", ((INTEL, 0x10CA),), net=True)
    fake.add_driver("vfio-pci")
    link = ("2.5 GT/s PCIe", 4, "2.5 GT/s PCIe", 4)
    fake.add_pci("0000:80:02.0", vendor=INTEL, device=0x3C04, pci_class=ROOT_PORT,
                 driver="pcieport", iommu_group=40, numa_node=1, link=link)
    for fn, name, mac in ((0, "eno1", "00:1b:21:3a:0c:10"), (1, "eno2", "00:1b:21:3a:0c:11")):
        addr = f"0000:82:00.{fn}"
        fake.add_pci(addr, parent="0000:80:02.0", vendor=INTEL, device=0x10C9,
                     pci_class=ETHERNET, subsystem_vendor=INTEL, subsystem_device=0xA03C,
                     driver="igb", iommu_group=41, numa_node=1, link=link, totalvfs=7)
        fake.add_netdev(addr, name, mac, speed=1000)
    vfs = vf_addresses("0000:82:00.1", numvfs)
    fake.add_vfs("0000:82:00.1", vfs, vendor=INTEL, device=0x10CA, driver="igbvf",
                 netdevs=[(f"eno2v{i}", f"ae:2f:1b:9d:41:{i:02x}") for i in range(numvfs)],
                 iommu_groups=[70 + i for i in range(numvfs)])
    return fake


def i40e_host(fake: FakeSysfs, *, numvfs: int = 4) -> FakeSysfs:
    """An Intel Ethernet Controller X710 for 10GbE SFP+ (8086:1572, i40e) at 0000:3b:00.0
    (ens1f0) behind the root port 0000:3a:00.0 (8 GT/s x8); ``numvfs`` Ethernet Virtual
    Functions 700 Series (8086:154c, iavf) at 0000:3b:02.0, 0000:3b:02.1..."""
    fake.add_driver("i40e", ((INTEL, 0x1572),), net=True)
    fake.add_driver("iavf", ((INTEL, 0x154C),), net=True)
    fake.add_driver("vfio-pci")
    link = ("8.0 GT/s PCIe", 8, "8.0 GT/s PCIe", 8)
    fake.add_pci("0000:3a:00.0", vendor=INTEL, device=0x2030, pci_class=ROOT_PORT,
                 driver="pcieport", iommu_group=30, numa_node=0, link=link)
    fake.add_pci("0000:3b:00.0", parent="0000:3a:00.0", vendor=INTEL, device=0x1572,
                 pci_class=ETHERNET, subsystem_vendor=INTEL, subsystem_device=0x0007,
                 driver="i40e", iommu_group=31, numa_node=0, link=link, totalvfs=64)
    fake.add_netdev("0000:3b:00.0", "ens1f0", "3c:fd:fe:b5:10:40")
    vfs = vf_addresses("0000:3b:00.0", numvfs, offset=16, stride=1)
    fake.add_vfs("0000:3b:00.0", vfs, vendor=INTEL, device=0x154C, driver="iavf", offset=16,
                 stride=1,
                 netdevs=[(f"ens1f0v{i}", f"52:54:00:10:40:{i:02x}") for i in range(numvfs)],
                 iommu_groups=[80 + i for i in range(numvfs)])
    return fake


def connectx_host(fake: FakeSysfs) -> FakeSysfs:
    """A Mellanox ConnectX-4 Lx (15b3:1015, mlx5_core) at 0000:5e:00.0 (enp94s0f0np0) behind the
    root port 0000:5d:00.0, SR-IOV capable (8 VFs) with none enabled, link 8 GT/s x8."""
    fake.add_driver("mlx5_core", ((MELLANOX, 0x1015), (MELLANOX, 0x1016)), net=True)
    link = ("8.0 GT/s PCIe", 8, "8.0 GT/s PCIe", 8)
    fake.add_pci("0000:5d:00.0", vendor=INTEL, device=0x2030, pci_class=ROOT_PORT,
                 driver="pcieport", iommu_group=50, numa_node=0, link=link)
    fake.add_pci("0000:5e:00.0", parent="0000:5d:00.0", vendor=MELLANOX, device=0x1015,
                 pci_class=ETHERNET, subsystem_vendor=MELLANOX, subsystem_device=0x0003,
                 driver="mlx5_core", iommu_group=51, numa_node=0, link=link, totalvfs=8)
    fake.add_netdev("0000:5e:00.0", "enp94s0f0np0", "b8:59:9f:c4:22:7e")
    return fake
