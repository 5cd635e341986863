"""SR-IOV VFs: a hostdev network's pool, and a guest's VF (driver binding, MAC/VLAN settings).

``vf.pool`` (a hostdev network's start): the VFs of ``<pf dev=...>`` discovered in sysfs, or the
listed ``<address>`` es checked to be VFs; a PF without VFs, an unknown PF, an address that is
no VF, or a VF that another active network's pool holds is an error, and nothing starts.  Its
journal entry (kept, never undone) *is* the live pool: guest ports allocate from it and
``net-dumpxml`` shows it, so both read the same live state.

A guest's VF, in libvirt's order (virHostdevPreparePCIDevices: detach first, then the network
settings; undone in reverse):

* ``pci.detach`` (:mod:`.pci`, shared with ``nodedev-detach``): managed='yes' binds the VF to
  vfio-pci; its undo ``pci.driver`` gives it back to its own driver (ixgbevf, iavf...);
* ``vf.config``: the VF's MAC, VLAN, spoof check and trust through the PF; its settings
  before are read first and journalled (undo ``vf.restore`` puts them back).

sysfs is read and written through :mod:`kvmnet.host.sysfs` (``$KVMNET_SYSFS``: fake trees in
tests); the netlink settings through the host adapters (``ctx.host.vf_get``/``vf_set``), which a
recording host answers without hardware.
"""
from __future__ import annotations

from kvmnet.engine.step import KEEP, KERNEL, Step, Undo, register, register_undo
from kvmnet.errors import ConflictError, NotFoundError, OperationInvalidError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from kvmnet.engine.executor import Context

#: the driver a managed VF is bound to for QEMU
VFIO = "vfio-pci"


def vfio_problem(address: str) -> str | None:
    """Why ``address`` cannot be bound to vfio-pci here (the driver is not loaded), or None."""
    from kvmnet.host import sysfs

    if sysfs.pci_driver(address) == VFIO or sysfs.driver_loaded(VFIO):
        return None
    return (f"cannot give {address} to the guest: the {VFIO} driver is not loaded "
            f"({sysfs.root()}/bus/pci/drivers/{VFIO} is missing); load it with 'modprobe "
            "vfio-pci' (the host needs an IOMMU: intel_iommu=on or amd_iommu=on)")


def pci_text(domain: int, bus: int, slot: int, function: int) -> str:
    """``DDDD:BB:SS.F``, as sysfs names PCI devices."""
    return f"{domain:04x}:{bus:02x}:{slot:02x}.{function:x}"


def _vf_of(addr: str, network: str) -> dict[str, Any]:
    """One listed VF: its PF's netdev and its index there; errors name what is wrong."""
    from kvmnet.host import sysfs

    if sysfs.pci_device_path(addr) is None:
        raise NotFoundError(f"network '{network}' lists PCI device {addr}, which does not "
                            f"exist on this host ({sysfs.root()}/bus/pci/devices/{addr}); "
                            "list the VFs of your PF (kvmnet nodedev-dumpxml pci_...)")
    pf_addr = sysfs.physical_function(addr)
    if pf_addr is None:
        raise OperationInvalidError(f"device '{addr}' in network '{network}' is not an SR-IOV "
                                    "Virtual Function (it has no physfn); list VFs only")
    index = next((v.index for v in sysfs.virtual_functions(pf_addr) if v.address == addr), None)
    netdevs = sysfs.pci_netdevs(pf_addr)
    if index is None or not netdevs:
        raise OperationInvalidError(f"VF {addr} of network '{network}': its PF {pf_addr} has "
                                    f"{'no virtfn link to it' if index is None else 'no netdev'}"
                                    "; is the PF's driver loaded?")
    return {"address": addr, "pf": netdevs[0], "index": index}


def discover(network: str, pf: str | None, addresses: list[str]) -> list[dict[str, Any]]:
    """The pool: ``[{"address", "pf" (its netdev), "index"}]`` from sysfs (libvirt's
    networkCreateInterfacePool)."""
    from kvmnet.host import sysfs

    if pf is None:
        return [_vf_of(a, network) for a in addresses]
    pf_addr = sysfs.resolve_pci(pf)
    if pf_addr is None:
        known = "exists, but is no PCI device" if sysfs.netdev_path(pf) else "does not exist"
        raise NotFoundError(f"network '{network}': <pf dev='{pf}'/> {known} on this host "
                            f"({sysfs.root()}/class/net/{pf}); name the SR-IOV NIC's interface "
                            "(kvmnet nodedev-list --cap net)")
    vfs = sysfs.virtual_functions(pf_addr)
    if not vfs:
        total = sysfs.sriov_totalvfs(pf_addr)
        if total is None:
            raise OperationInvalidError(f"network '{network}': PF {pf} ({pf_addr}) is not an "
                                        "SR-IOV physical function (no sriov_totalvfs); use an "
                                        "SR-IOV capable NIC")
        raise OperationInvalidError(
            f"network '{network}': PF {pf} ({pf_addr}) has no virtual functions (sriov_numvfs "
            f"is 0 of {total}); create them first, e.g. echo {total} > "
            f"/sys/class/net/{pf}/device/sriov_numvfs")
    name = sysfs.pci_netdevs(pf_addr)
    return [{"address": v.address, "pf": name[0] if name else pf, "index": v.index}
            for v in vfs]


def active_pools(root: str, skip: str) -> dict[str, str]:
    """VF address -> the other network whose journal holds it in its pool."""
    import json

    from kvmnet.paths import Paths

    out: dict[str, str] = {}
    for path in sorted(Paths(root).run_networks.glob("*.json")):
        if path.name == f"{skip}.json":
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for entry in data.get("steps") or []:
            if isinstance(entry, dict) and entry.get("kind") == "vf.pool":
                for vf in entry.get("vfs") or []:
                    out[str(vf.get("address"))] = str(data.get("owner") or path.stem)
    return out


@register
class VfPool(Step):
    """A hostdev network's pool, found (``pf``) or checked (``addresses``) in sysfs."""

    kind = "vf.pool"
    section = "links"
    fields = ("network", "pf", "addresses", "root")
    defaults: ClassVar[dict[str, Any]] = {"pf": None, "addresses": [], "root": "/"}
    network: str
    pf: str | None
    addresses: list[str]
    root: str  # the state root: the other networks' journals (their pools)

    _found: list[dict[str, Any]] | None = None

    def describe(self) -> str:
        if self.pf is not None:
            return (f"ls -d /sys/class/net/{self.pf}/device/virtfn*  # the VF pool of network "
                    f"'{self.network}'")
        return "\n".join(f"test -e /sys/bus/pci/devices/{a}/physfn  # a VF of network "
                         f"'{self.network}'" for a in self.addresses)

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        self._found = discover(self.network, self.pf, list(self.addresses))
        return {"kind": "vf.pool", "network": self.network, "pf": self.pf, "vfs": self._found}

    def apply(self, ctx: Context) -> None:
        found = self._found if self._found is not None else discover(
            self.network, self.pf, list(self.addresses))
        taken = active_pools(self.root, self.network)
        clash = [(vf["address"], taken[vf["address"]]) for vf in found if vf["address"] in taken]
        if clash:
            addr, other = clash[0]
            raise ConflictError(f"VF {addr} of network '{self.network}' is in the pool of "
                                f"active network '{other}' too; a VF serves one network at a "
                                f"time: stop '{other}' or take {addr} out of one pool")


@register_undo
class ForgetPool(Undo):
    """A pool is a record, not a change: nothing to take back."""

    kind = "vf.pool"
    phase = KEEP

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        return None

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return f"# the VF pool of network '{entry.get('network')}' is forgotten"


@register
class ConfigureVf(Step):
    """A VF's MAC, VLAN, spoof check and trust, set through its PF; what it had before is
    journalled first (None: left as it is)."""

    kind = "vf.config"
    section = "links"
    fields = ("pf", "index", "address", "mac", "vlan", "qos", "spoofchk", "trust")
    defaults: ClassVar[dict[str, Any]] = {"vlan": None, "qos": 0, "spoofchk": None,
                                          "trust": None}
    pf: str
    index: int
    address: str
    mac: str
    vlan: int | None
    qos: int
    spoofchk: bool | None
    trust: bool | None

    def settings(self) -> dict[str, Any]:
        return {"mac": self.mac, "vlan": self.vlan, "qos": self.qos, "spoofchk": self.spoofchk,
                "trust": self.trust}

    def describe(self) -> str:
        from kvmnet.host.vf import command

        return command(self.pf, self.index, self.settings())

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        before = ctx.host.vf_get(self.pf, self.index)
        return {"kind": "vf.restore", "pf": self.pf, "index": self.index,
                "address": self.address, "settings": before}

    def apply(self, ctx: Context) -> None:
        ctx.host.vf_set(self.pf, self.index, self.settings())


@register_undo
class RestoreVf(Undo):
    kind = "vf.restore"
    phase = KERNEL

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        from kvmnet.host.nltypes import LinkNotFoundError

        try:
            ctx.host.vf_set(str(entry["pf"]), int(entry["index"]), dict(entry["settings"]))
        except LinkNotFoundError:
            pass  # the PF is gone, and its VFs' settings with it

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        from kvmnet.host.vf import command

        return command(str(entry["pf"]), int(entry["index"]), dict(entry["settings"]))
