"""``<forward mode='hostdev'>``: a pool of SR-IOV VFs that guests get as PCI devices.

Starting the network changes nothing on the host: its one step (``vf.pool``,
:mod:`kvmnet.engine.steps.vf`) finds the VFs of ``<pf dev=...>`` in sysfs, or checks the listed
``<address>`` es, and refuses an unknown PF, a PF without VFs, an address that is no VF and a VF
another active network's pool holds; its journal entry is the live pool that guest ports
allocate from (:mod:`kvmnet.port.plugs.hostdev`) and ``net-dumpxml`` shows
(:func:`live_view`).  Everything is read from sysfs (``$KVMNET_SYSFS``), never from netlink, so
a start on a fake sysfs tree runs for real; the VF's netlink settings are made when a guest port
is plugged.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kvmnet.errors import KvmnetError, OperationInvalidError, UnsupportedError, ValidationError
from kvmnet.model.modes import MODES
from kvmnet.model.network import ForwardMode, Network, PciAddress, VirtualPort
from kvmnet.network.drivers.base import NetworkDriver, Plan, PlanContext

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kvmnet.api import Connection


class HostdevDriver(NetworkDriver):
    """SR-IOV VF pool: the PF's VFs (found at start) or the listed VF addresses."""

    mode = ForwardMode.HOSTDEV
    label = MODES["hostdev"].label

    def plan(self, net: Network, ctx: PlanContext) -> Plan:
        from kvmnet.engine.steps.vf import VfPool, pci_text

        fwd = net.forward
        if fwd is None or not (fwd.pf or fwd.addresses):
            raise OperationInvalidError(
                f"network '{net.name}' has forward mode 'hostdev' but no devices, so no guest "
                "could get one: add <pf dev='eth1'/> or the VFs' PCI <address> elements to "
                "<forward>")
        # define takes what libvirt's define takes; what no port could get, start refuses
        problem = virtualport_problem(net.virtualport, f"network '{net.name}'")
        if problem is not None:
            raise problem
        step = VfPool(network=net.name, pf=fwd.pf,
                      addresses=[pci_text(a.domain, a.bus, a.slot, a.function)
                                 for a in fwd.addresses],
                      root=ctx.root)
        return Plan(network=net.name, mode=net.forward_mode, device_steps=(step,))


def virtualport_problem(vport: VirtualPort | None, where: str) -> KvmnetError | None:
    """Why a VF cannot take ``vport``: libvirt's networkAllocatePort takes only 802.1Qbh on a
    hostdev network, and 802.1Qbh needs a capable switch and lldpad, which kvmnet does not
    drive."""
    if vport is None or not vport.type:
        return None
    if vport.type != "802.1Qbh":
        return ValidationError([(f"<virtualport type='{vport.type}'> of {where} is not supported "
                                "on a network that gives guests SR-IOV Virtual Functions "
                                "through PCI passthrough (only 802.1Qbh is)")])
    return UnsupportedError(f"<virtualport type='802.1Qbh'> of {where} needs an 802.1Qbh "
                            "capable switch and lldpad, which kvmnet does not drive; remove it")


def live_pool(conn: Connection, network: str) -> list[dict[str, Any]]:
    """The pool active network ``network`` recorded at start (``vf.pool``): ``[{"address",
    "pf", "index"}]``; [] when it has none (not started by this kvmnet)."""
    from kvmnet.engine.journal import Journal

    journal = Journal.load(conn.paths.run_networks / f"{network}.json")
    if journal is None:
        return []
    found = journal.find("vf.pool")
    return list(found[0].get("vfs") or []) if found else []


def pci_address(text: str) -> PciAddress:
    """``DDDD:BB:SS.F`` as the model's PCI address."""
    dom, bus, rest = text.split(":")
    slot, func = rest.split(".")
    return PciAddress(domain=int(dom, 16), bus=int(bus, 16), slot=int(slot, 16),
                      function=int(func, 16))


def live_view(conn: Connection, net: Network, used: Mapping[str, int]) -> Network:
    """``net`` (active) as libvirt's live XML shows a hostdev pool (the mode's
    ``ModeRules.live_view``): every VF's ``<address>`` under ``<forward>`` (also under a
    ``<pf>``), ``connections`` on ``<forward>``.  ``used`` counts ports on pool netdevs, which a
    VF given to a guest is not: unused."""
    from kvmnet.model.frozen import replace

    fwd = net.forward
    pool = live_pool(conn, net.name)
    if fwd is None or not pool:
        return net
    return replace(net, forward=replace(fwd, addresses=tuple(
        pci_address(str(vf["address"])) for vf in pool)))


def define_check(net: Network) -> None:
    """libvirt's define-time rule for a pool of PCI addresses (networkValidate): each must be an
    SR-IOV VF on this host (it has a ``physfn`` in sysfs).  A ``<pf>`` is looked up at start."""
    from kvmnet.engine.steps.vf import pci_text
    from kvmnet.host import sysfs

    fwd = net.forward
    bad = [pci_text(a.domain, a.bus, a.slot, a.function) for a in
           (fwd.addresses if fwd is not None else ())]
    bad = [addr for addr in bad if sysfs.physical_function(addr) is None]
    if bad:
        raise ValidationError([
            f"device '{sysfs.root()}/bus/pci/devices/{addr}' in network '{net.name}' is not an "
            "SR-IOV Virtual Function; list the VFs of your PF (kvmnet nodedev-dumpxml "
            "pci_DDDD_BB_SS_F shows them under capability type='virt_functions')"
            for addr in bad])
