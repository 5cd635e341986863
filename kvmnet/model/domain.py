"""The guest (domain) definition: the subset of libvirt's domain XML that kvmnet runs.

Mirrors the parts of libvirt's ``virDomainDef`` (src/conf/domain_conf.h) that a small QEMU
runner needs: identity, memory, vCPUs, direct kernel boot or BIOS boot order, file/block
disks, serial consoles, network interfaces of type ``network``, ``bridge``, ``direct`` or
``hostdev`` (an SR-IOV VF; with their ``<virtualport>``, ``<vlan>`` and ``<bandwidth>``) and
host PCI devices (``<hostdev>``).  Elements
kvmnet recognises but does not emulate (``<features>``, ``<clock>``, ``<video>`` ...) are
kept verbatim as :class:`RawElement` so that a definition round-trips; everything else is
refused by the parser (:mod:`kvmnet.xmlio.domain`).  Plain frozen data, no I/O.
"""
from __future__ import annotations

from kvmnet.model.frozen import frozen
from kvmnet.model.network import Bandwidth, VirtualPort, Vlan

#: NIC models kvmnet can give a guest, and the QEMU device that provides each.
NIC_MODELS: dict[str, str] = {
    "virtio": "virtio-net-pci",
    "e1000": "e1000",
    "e1000e": "e1000e",
    "rtl8139": "rtl8139",
}
#: The model define fills in when an interface names none (libvirt's QEMU driver fills in
#: its default model at define time too; virtio is the one every modern guest drives).
DEFAULT_NIC_MODEL = "virtio"


@frozen
class RawElement:
    """An element kept verbatim (serialised XML, no trailing newline) and not acted on."""

    tag: str
    xml: str


@frozen
class OSDef:
    """``<os>``: the machine type and how the guest boots."""

    type: str = "hvm"
    arch: str | None = None
    machine: str | None = None
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
    boot: tuple[str, ...] = ()  # <boot dev=.../> in order: hd, cdrom, network, fd
    extra: tuple[RawElement, ...] = ()  # <bootmenu>, <bios>, <smbios>, <acpi>: kept


@frozen
class Disk:
    """``<disk type='file|block' device='disk|cdrom'>``."""

    target_dev: str
    type: str = "file"
    device: str = "disk"
    source: str | None = None  # file= or dev=, per type; None: an empty CD-ROM drive
    bus: str | None = None  # virtio | ide | sata | scsi
    driver_name: str | None = None
    driver_type: str | None = None  # raw | qcow2
    driver_cache: str | None = None
    readonly: bool = False
    shareable: bool = False
    serial: str | None = None
    boot_order: int | None = None
    alias: str | None = None  # live only
    extra: tuple[RawElement, ...] = ()  # <address>: kept, not acted on


@frozen
class CharDev:
    """A ``<serial>`` or ``<console>``: ``type`` is pty or file."""

    type: str = "pty"
    source_path: str | None = None  # type='file': where the output goes
    target_type: str | None = None  # serial: isa-serial; console: serial
    target_port: int | None = None
    target_model: str | None = None
    log_file: str | None = None
    log_append: bool | None = None
    alias: str | None = None  # live only


@frozen
class Interface:
    """``<interface type='network|bridge|direct|hostdev'>``: one guest NIC, on a tap port, on a
    macvtap (``direct``, or a network in a macvtap mode) or an SR-IOV VF (type='hostdev', or
    type='network' on a hostdev network)."""

    type: str  # network | bridge | direct | hostdev
    mac: str | None = None
    network: str | None = None  # <source network=...>
    portgroup: str | None = None
    bridge: str | None = None  # <source bridge=...> (live: the network's bridge too)
    source_dev: str | None = None  # direct: <source dev=...>, the host device
    source_mode: str | None = None  # direct: <source mode=...> (vepa when absent)
    port_id: str | None = None  # <source portid=...>: live only, the kvmnet port's UUID
    target_dev: str | None = None  # the tap; user-chosen or live
    model: str | None = None
    mtu: int | None = None
    boot_order: int | None = None
    alias: str | None = None  # live only: net0, net1 ...
    extra: tuple[RawElement, ...] = ()  # <address>, <driver>, <rom>: kept, not acted on
    # The interface's own port settings: they win over its portgroup's and its network's
    # (kvmnet.model.precedence); type='bridge' with <virtualport type='openvswitch'/> is a
    # port of an Open vSwitch bridge.
    virtualport: VirtualPort | None = None
    vlan: Vlan | None = None
    bandwidth: Bandwidth | None = None
    # type='hostdev': the VF given to the guest (<source><address type='pci' .../>), DDDD:BB:SS.F;
    # a type='network' NIC on a hostdev network gets its VF here at start (not formatted)
    pci_address: str | None = None
    managed: bool | None = None  # type='hostdev': managed='yes' (None: absent, i.e. 'no')

    @property
    def source(self) -> str | None:
        """What virsh's domiflist shows as the source."""
        if self.type == "hostdev":
            return self.pci_address
        return {"network": self.network, "direct": self.source_dev}.get(self.type, self.bridge)


@frozen
class Hostdev:
    """``<hostdev mode='subsystem' type='pci'>``: a host PCI device given to the guest (VFIO)."""

    address: str  # DDDD:BB:SS.F, the host device
    managed: bool | None = None  # managed='yes': bound to vfio-pci at start, back after
    alias: str | None = None  # live only: hostdev0 ...
    extra: tuple[RawElement, ...] = ()  # <driver>, <rom>, <address> (guest side): kept


@frozen
class Domain:
    """One guest definition (``<domain>``)."""

    name: str
    memory_kib: int
    type: str = "kvm"  # kvm | qemu (qemu: always TCG)
    uuid: str | None = None
    id: int | None = None  # live only
    title: str | None = None
    description: str | None = None
    current_memory_kib: int | None = None
    vcpus: int = 1
    vcpu_current: int | None = None
    vcpu_placement: str | None = None
    vcpu_cpuset: str | None = None
    os: OSDef = OSDef()
    on_poweroff: str | None = None
    on_reboot: str | None = None
    on_crash: str | None = None
    emulator: str | None = None
    disks: tuple[Disk, ...] = ()
    interfaces: tuple[Interface, ...] = ()
    serials: tuple[CharDev, ...] = ()
    consoles: tuple[CharDev, ...] = ()
    hostdevs: tuple[Hostdev, ...] = ()
    #: Top-level elements kept verbatim (<features>, <cpu>, <clock>, <metadata> ...).
    extra: tuple[RawElement, ...] = ()
    #: Devices kept verbatim but not emulated (<video>, <graphics>, <input> ...).
    extra_devices: tuple[RawElement, ...] = ()

    def interface_by_mac(self, mac: str) -> Interface | None:
        wanted = mac.lower()
        return next((i for i in self.interfaces if (i.mac or "").lower() == wanted), None)
