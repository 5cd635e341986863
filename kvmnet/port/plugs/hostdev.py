"""The SR-IOV VF plugger (:class:`HostdevPlugger`, plug type ``hostdev-pci``): a guest port on a
hostdev network gets one VF of the network's pool, exclusively.

Allocation (libvirt's networkAllocatePort for hostdev: the first device with no connection)
reads live state only, so a crash never leaves the pool wrong: the pool is the network's
``vf.pool`` journal entry, written at ``net-start`` (:mod:`kvmnet.network.drivers.hostdev`);
a VF is taken while a port record (``run/kvmnet/ports/*/UUID.json``) or a guest's journal
(``run/kvmnet/guests/*.json``, an ``<interface type='hostdev'>``) names it.  A VF whose own
interface carries an IP address is in use by the host and is skipped.  An exhausted pool is an
error that says what holds each VF.

Plugging is engine steps (:mod:`kvmnet.engine.steps.vf`) run by the one executor with the
port's journal (its run record), in libvirt's order: ``pci.detach`` (managed='yes': the VF to
vfio-pci), then ``vf.config`` (MAC, VLAN, spoof check, trust through the PF; the VF's own
settings journalled first).  Unplugging undoes the journal: the settings back, the VF back to its
driver.  A network restart keeps the port (the VF stays with its guest): detach and attach
change nothing.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kvmnet.errors import OperationInvalidError, UnsupportedError
from kvmnet.model.frozen import replace
from kvmnet.port.plugs.base import Plugger, PlugOptions, PortJournal, context

if TYPE_CHECKING:
    from kvmnet.engine.host import Host
    from kvmnet.engine.step import Step
    from kvmnet.host.netlink import Netlink
    from kvmnet.model.port import NetworkPort

#: journal entries that hold a device for a guest (its VF settings, its driver change)
HOLDS = ("vf.restore", "pci.driver")
#: the placeholder for a VF not chosen yet (describe, net-plan)
ANY_VF = {"address": "$VF", "pf": "$PF", "index": "$N"}


def _run_dir(directory: Path) -> Path:
    """``run/kvmnet`` from a port directory (``run/kvmnet/ports/NETWORK``, kvmnet.paths)."""
    return directory.parent.parent


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def pool_of(directory: Path, network: str) -> list[dict[str, Any]]:
    """The live pool of ``network`` (its journal's ``vf.pool`` entry)."""
    journal = _json(_run_dir(directory) / "networks" / f"{network}.json")
    for entry in journal.get("steps") or []:
        if isinstance(entry, dict) and entry.get("kind") == "vf.pool":
            return [dict(vf) for vf in entry.get("vfs") or []]
    return []


def taken(run: Path) -> dict[str, str]:
    """VF address -> who holds it: every port record and guest journal that names one."""
    out: dict[str, str] = {}
    for path in sorted(run.glob("ports/*/*.json")):
        info = _json(path).get("info") or {}
        if isinstance(info, dict) and info.get("address"):
            out[str(info["address"])] = (f"port {info.get('uuid')} of guest "
                                         f"'{info.get('owner_name')}'")
    for path in sorted(run.glob("guests/*.json")):
        for entry in _json(path).get("steps") or []:
            if isinstance(entry, dict) and str(entry.get("kind", "")) in HOLDS:
                out.setdefault(str(entry.get("address")), f"guest '{path.stem}'")
    return out


def choose(directory: Path, network: str, host: Host) -> dict[str, Any]:
    """A free VF of ``network``'s pool (the first, as libvirt picks); the error says why
    each VF is not free."""
    from kvmnet.host import sysfs

    pool = pool_of(directory, network)
    if not pool:
        raise OperationInvalidError(f"network '{network}' has no VF pool in its live state "
                                    "(started by an older kvmnet?); restart it: kvmnet "
                                    f"net-destroy {network}; kvmnet net-start {network}")
    held = taken(_run_dir(directory))
    why: list[str] = []
    for vf in pool:
        addr = str(vf["address"])
        if addr in held:
            why.append(f"{addr} is used by {held[addr]}")
            continue
        busy = [(dev, ips) for dev in sysfs.pci_netdevs(addr)
                if (ips := host.link_addresses(dev))]
        if busy:
            dev, ips = busy[0]
            why.append(f"{addr} is in use by the host ({dev} has address {ips[0]})")
            continue
        return vf
    raise OperationInvalidError(f"network '{network}' has no free VF: all {len(pool)} VFs of its "
                                f"pool are taken ({'; '.join(why)}); stop a guest, or add VFs "
                                "to the pool (more sriov_numvfs, or more <address> elements)")


def vf_steps(vf: dict[str, Any], port: NetworkPort) -> list[Step]:
    """Giving ``vf`` to ``port``'s guest: to vfio-pci (managed), then its network settings."""
    from kvmnet.engine.steps.pci import DetachPci
    from kvmnet.engine.steps.vf import ConfigureVf

    plug = port.plug
    from kvmnet.network.drivers.hostdev import virtualport_problem

    problem = virtualport_problem(port.virtualport, "the port")
    if problem is not None:
        raise problem
    vlan = port.vlan
    tag = 0  # as libvirt: no VLAN clears any the VF had
    if vlan is not None and vlan.tags:
        if len(vlan.tags) > 1 or vlan.trunk:
            raise UnsupportedError(f"an SR-IOV VF takes one VLAN tag, not a trunk ("
                                   f"{', '.join(str(t.id) for t in vlan.tags)}); give the "
                                   "port one <tag id='N'/>")
        tag = vlan.tags[0].id
    out: list[Step] = []
    if is_managed(port):
        driver = plug.driver.name if plug is not None and plug.driver is not None else None
        if driver not in (None, "vfio"):
            raise UnsupportedError(f"<driver name='{driver}'/>: kvmnet gives VFs to guests "
                                   "through VFIO only; use <driver name='vfio'/> or leave it out")
        out.append(DetachPci(address=str(vf["address"])))
    out.append(ConfigureVf(pf=str(vf["pf"]), index=vf["index"], address=str(vf["address"]),
                           mac=port.mac, vlan=tag,
                           trust=port.trust_guest_rx_filters if port.trust_guest_rx_filters
                           is not None else None))
    return out


def is_managed(port: NetworkPort) -> bool:
    """libvirt's rule: only managed='yes' binds the VF to vfio-pci (absent means 'no')."""
    return port.plug is not None and port.plug.managed is True


def unmanaged_problem(address: str, port: NetworkPort) -> None:
    """Not managed: the VF must be on vfio-pci already (kvmnet nodedev-detach)."""
    from kvmnet.engine.steps.vf import VFIO
    from kvmnet.host import sysfs

    if not is_managed(port) and sysfs.pci_driver(address) != VFIO:
        node = "pci_" + address.replace(":", "_").replace(".", "_")
        raise OperationInvalidError(
            f"VF {address} is not bound to {VFIO}, and a network without managed='yes' leaves "
            f"that to you: run 'kvmnet nodedev-detach {node}' first, or set <forward "
            "mode='hostdev' managed='yes'>")



class HostdevPlugger(Plugger):
    """A VF of a hostdev network's pool, given to the guest as a PCI device."""

    label = "SR-IOV VF"

    def plug(self, nl: Netlink, directory: Path, port: NetworkPort, network: str | None,
             opts: PlugOptions, host: Host | None = None) -> dict[str, Any]:
        from kvmnet.engine.executor import run

        ctx = context(nl, host)
        if network is None:
            raise OperationInvalidError("an SR-IOV VF port comes from a hostdev network; name "
                                        "the network")
        vf = choose(directory, network, ctx.host)
        steps = vf_steps(vf, port)  # refuses what cannot be done before anything changes
        unmanaged_problem(str(vf["address"]), port)
        if is_managed(port):
            from kvmnet.engine.steps.vf import vfio_problem

            unusable = vfio_problem(str(vf["address"]))
            if unusable is not None:
                raise OperationInvalidError(unusable)
        rec: dict[str, Any] = {
            "uuid": port.uuid, "network": network, "mac": port.mac, "tap_mac": port.mac,
            "owner_uuid": port.owner_uuid, "owner_name": port.owner_name or port.uuid,
            "group": port.group, "isolated": False, "plug_type": "hostdev-pci",
            "address": vf["address"], "pf": vf["pf"], "index": vf["index"],
            "managed": is_managed(port),
            # no tap: the guest gets the device itself (kept for the port listings)
            "tap": "", "bridge": "", "mtu": 0, "created": False, "skipped": [],
        }
        # the first undo record writes the record: the VF is taken from then on (allocation
        # reads the records; plugging holds the store lock)
        journal = PortJournal(directory / f"{port.uuid}.json", rec)
        try:
            run(steps, journal, ctx)  # on failure: undone, and the journal deleted
        finally:
            ctx.close()
        journal.state = "active"
        journal.save()
        return rec

    def plugged(self, port: NetworkPort, rec: dict[str, Any]) -> NetworkPort:
        from kvmnet.network.drivers.hostdev import pci_address

        assert port.plug is not None
        return replace(port, plug=replace(port.plug, address=pci_address(str(rec["address"]))))

    def attach(self, nl: Netlink, rec: dict[str, Any], port: NetworkPort, *,
               vlan_filtering: bool) -> None:
        """The VF stayed with its guest while the network was down: nothing to do."""

    def detach(self, nl: Netlink, rec: dict[str, Any]) -> None:
        """The VF stays with its guest (QEMU holds it); nothing to take off."""

    def is_ours(self, rec: dict[str, Any]) -> bool:
        from kvmnet.host import sysfs

        return sysfs.pci_device_path(str(rec.get("address"))) is not None

    def describe(self, port: NetworkPort, opts: PlugOptions) -> list[str]:
        return [line for step in vf_steps(ANY_VF, port) for line in step.describe().splitlines()]
