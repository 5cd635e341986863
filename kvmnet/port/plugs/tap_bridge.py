"""The tap-on-a-Linux-bridge plugger (:class:`TapBridgePlugger`, plug types ``network`` and
``bridge``): a guest port's tap, its place on a bridge, its run record.

Its host changes are engine steps (:mod:`kvmnet.engine.steps.tap`) run by the one executor
with the port's journal, so a plug that fails midway, or a process killed at any step
(``KVMNET_FAULT_KILL_AFTER=tap.create``...), leaves a journal that unplugging takes back:

* :func:`make`: create the tap (``tap.create``) or adopt a link (``tap.adopt``), attach it
  (``tap.attach``: isolation, hairpin on kvmnet's own bridges, libvirt's static MAC table,
  VLANs), limit its bandwidth
  (``tap.tc``): a new port (:func:`kvmnet.port.ports.plug`);
* :func:`attach`: the ``tap.attach`` step again, for a kept port when its network starts
  again (:mod:`kvmnet.port.keep`);
* :func:`detach` takes a tap off its bridge, down, and keeps it (``net-destroy``): what lives
  on the tap itself (MTU, MAC, the tc qdiscs of its bandwidth limits) stays, what lives on the
  bridge port (isolation, VLANs, learning, FDB entries) goes with the bridge and is re-applied
  by :func:`attach`;
* :func:`unplug` undoes the port's journal.

The run record (``NETWORK/UUID.json``, see :mod:`kvmnet.port.ports`) is the port's journal, in
the engine's one journal format: ``{"owner": UUID, "state", "steps": [undo records], "info":
{tap, ifindex, bridge, mac...}}``; in memory it is the ``info`` dict with the undo records
under ``"undo"`` and the state under ``"state"`` (:func:`kvmnet.port.plugs.base.load_record`).
Written atomically but without fsync (run-time state on tmpfs, and plugging must be fast).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kvmnet.errors import (
    ConflictError,
    HostError,
    KvmnetError,
    NotFoundError,
    OperationInvalidError,
)
from kvmnet.port.plugs.base import Plugger, PlugOptions, PortJournal, context, undo_journal

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable, Iterator

    from kvmnet.engine.executor import Context
    from kvmnet.engine.host import Host
    from kvmnet.engine.step import Step
    from kvmnet.host.netlink import Netlink
    from kvmnet.model.network import Bandwidth
    from kvmnet.model.port import NetworkPort



def make(nl: Netlink, directory: Path, port: NetworkPort, network: str | None, *,
         mtu: int | None, tap_name: str | None, device: str | None, multi_queue: bool,
         vlan_filtering: bool, owned_bridge: bool, host: Host | None = None) -> dict[str, Any]:
    """Make the tap (or adopt ``device``), attach and configure it; returns its run record.

    Each step's undo is journalled before it runs; any failure undoes everything and
    removes the journal again.
    """
    from kvmnet.host import tap as taps

    assert port.plug is not None and port.plug.bridge is not None
    bridge = port.plug.bridge
    if not owned_bridge:
        taps.check_linux_bridge(nl, bridge)
    try:
        bridge_mtu = taps.get_mtu(bridge)
    except HostError:
        raise OperationInvalidError(
            f"bridge {bridge} of network '{network}' does not exist: the network is marked "
            "active but its bridge is gone; restart it (net-destroy, net-start)") from None
    mtu = mtu if mtu is not None else bridge_mtu
    rec = new_record(port, network, mtu=mtu, tap_name=tap_name, device=device)
    journal = PortJournal(directory / f"{port.uuid}.json", rec)

    def steps() -> Iterator[Step]:
        # a generator: the executor applies each step before the next one is made, so the
        # later steps know the tap's real name
        from kvmnet.engine.steps.tap import LimitBandwidth

        name = yield from tap_steps(rec, port, mtu=mtu, tap_name=tap_name, device=device,
                                    multi_queue=multi_queue)
        yield attach_step(rec, port, vlan_filtering=vlan_filtering)
        bw = port.bandwidth
        if bw is not None and (bw.inbound is not None or bw.outbound is not None):
            rec["tc"] = True
            limit = LimitBandwidth(name=name, adopted=device is not None, **_rates(bw))
            yield limit
            rec["skipped"] = list(limit.skipped)

    run_plug(steps(), journal, context(nl, host), tap_name)
    return rec


def run_plug(steps: Iterable[Step], journal: PortJournal, ctx: Context,
             tap_name: str | None) -> None:
    """Run a tap plugger's steps (each undo journalled first, everything undone on failure),
    then mark the port's journal active; a taken tap name is the caller's conflict."""
    from kvmnet.engine.executor import run
    from kvmnet.host import tap as taps

    try:
        run(steps, journal, ctx)
    except taps.TapExistsError as exc:
        raise ConflictError(f"cannot create tap {tap_name}: a network interface with that "
                            "name already exists; choose another tap name or leave it out "
                            "(kvmnet then picks the first free vnetN)") from exc
    journal.state = "active"
    journal.save()


def new_record(port: NetworkPort, network: str | None, *, mtu: int | None,
               tap_name: str | None, device: str | None) -> dict[str, Any]:
    """A port's run record before anything is made (every plugger of a tap shares it)."""
    from kvmnet.host import tap as taps

    assert port.plug is not None and port.plug.bridge is not None
    if device is not None and taps.ifindex(device) is None:
        raise NotFoundError(f"device {device} does not exist in this network namespace")
    return {
        "uuid": port.uuid, "network": network, "bridge": port.plug.bridge, "mac": port.mac,
        "tap_mac": taps.host_side_mac(port.mac), "mtu": mtu, "owner_uuid": port.owner_uuid,
        "group": port.group, "isolated": bool(port.isolated),
        "plug_type": port.plug.type.value, "created": device is None, "tc": False,
        "skipped": [],
        # until the tap exists: its template (an interrupted plug is listed by it)
        "tap": device or tap_name or "vnet%d", "owner_name": port.owner_name,
    }


def tap_steps(rec: dict[str, Any], port: NetworkPort, *, mtu: int | None,
              tap_name: str | None, device: str | None, multi_queue: bool
              ) -> Generator[Step, None, str]:
    """The tap's own steps (create it, or adopt ``device``), shared by the pluggers of a tap
    (Linux bridge, Open vSwitch); fills in ``rec`` once the tap exists and returns its name."""
    from kvmnet.engine.steps.tap import AdoptLink, CreateTap
    from kvmnet.host import tap as taps

    if device is None:
        create = CreateTap(name=tap_name or "vnet%d", mac=rec["tap_mac"], mtu=mtu,
                           multi_queue=multi_queue)
        yield create
        name = create.made or create.name  # a recording host makes nothing
    else:
        yield AdoptLink(name=device, mac=rec["tap_mac"], mtu=mtu)
        name = device
    rec.update(tap=name, ifindex=taps.ifindex(name),
               owner_name=port.owner_name or name)  # an anonymous port is named by its tap
    return name


def first_step(port: NetworkPort, opts: PlugOptions) -> Step:
    """The tap's step in :meth:`Plugger.describe`'s pure step lists (named by its template)."""
    from kvmnet.engine.steps.tap import AdoptLink, CreateTap
    from kvmnet.host import tap as taps

    tap_mac = taps.host_side_mac(port.mac)
    if opts.device is None:
        return CreateTap(name=opts.tap_name or "vnet%d", mac=tap_mac, mtu=opts.mtu,
                         multi_queue=opts.multi_queue)
    return AdoptLink(name=opts.device, mac=tap_mac, mtu=opts.mtu)


def attach_step(rec: dict[str, Any], port: NetworkPort, *, vlan_filtering: bool) -> Step:
    """The ``tap.attach`` step that puts the tap of ``rec`` on ``port``'s bridge."""
    from kvmnet.engine.steps.tap import AttachTap

    assert port.plug is not None and port.plug.bridge is not None
    vlan = port.vlan
    vlans: dict[str, Any] | None = None
    if vlan is not None and vlan.tags:
        native = next((t for t in vlan.tags if t.native_mode), None)
        vlans = {"tags": [t.id for t in vlan.tags], "trunk": bool(vlan.trunk),
                 "native": native.id if native is not None else None,
                 "native_tagged": native is not None and native.native_mode == "tagged"}
    # as libvirt, an adopted device goes up once attached and configured; so does a kept
    # tap (see detach).  A new tap was made up: it saves two netlink round trips.
    # hairpin on the bridges kvmnet makes: a NAT network's port forward may point back at
    # the guest behind this port (kvmnet.network.firewall.forwards)
    from kvmnet.model.port import PlugType

    hairpin = port.plug.type == PlugType.NETWORK
    return AttachTap(name=rec["tap"], bridge=port.plug.bridge, isolated=bool(port.isolated),
                     hairpin=hairpin,
                     guest_mac=port.mac if port.plug.mac_table_manager == "libvirt" else None,
                     vlan=vlans, vlan_filtering=vlan_filtering,
                     up=bool(rec.get("kept") or not rec.get("created", True)))


def attach(nl: Netlink, rec: dict[str, Any], port: NetworkPort, *,
           vlan_filtering: bool) -> None:
    """Put the tap of ``rec`` on ``port``'s bridge with the port's bridge-side settings:
    isolation, libvirt's static MAC table, VLANs (``vlan_filtering``: turn VLAN filtering on
    on the bridge if a VLAN needs it).  Bandwidth lives on the tap, not here."""
    from kvmnet.engine.executor import apply_steps

    # nothing to journal (the step goes with the tap): the journal is not written
    apply_steps([attach_step(rec, port, vlan_filtering=vlan_filtering)],
                PortJournal(Path(f"{rec['uuid']}.json"), rec), context(nl, None))


def is_ours(rec: dict[str, Any]) -> bool:
    """Whether the link ``rec`` names still exists and is the one kvmnet recorded (after a
    crash or a reboot the name may belong to another link, or to none)."""
    from kvmnet.host import tap as taps

    name = rec.get("tap")
    index = taps.ifindex(name) if name else None
    return index is not None and rec.get("ifindex") in (None, index)


def detach(nl: Netlink, rec: dict[str, Any]) -> None:
    """Take the tap of ``rec`` off its bridge and keep it (and what lives on it: MTU, MAC,
    tc qdiscs); a tap already gone or already detached is fine.

    The tap goes down first: a tap that is up but on no bridge hands the guest's frames to
    the host's own IP stack, outside the network's firewall (an ARP for a host address gets
    an answer, then the host routes for the guest).  Down, the guest's writes fail (QEMU
    drops those frames) and nothing reaches the host; :func:`attach` brings it up again."""
    if is_ours(rec):
        nl.set_link_down(rec["tap"])
        nl.set_master(rec["tap"], None)


def unplug(nl: Netlink, rec: dict[str, Any], quiet: bool = False,
           host: Host | None = None) -> None:
    """Undo what the port's journal lists; a tap already gone (or replaced by another link)
    is fine.  Raises HostError naming what could not be undone, unless ``quiet``."""
    if "undo" not in rec:
        _legacy_unplug(nl, rec, quiet)
        return
    undo_journal(rec, context(nl, host), quiet)


def _legacy_unplug(nl: Netlink, rec: dict[str, Any], quiet: bool) -> None:
    """A record written before ports had journals (a port plugged by an older kvmnet)."""
    from kvmnet.host import tap as taps

    name = rec.get("tap")
    try:
        if name is None or taps.ifindex(name) is None:
            return
        if rec.get("created", True):
            # Only the link kvmnet made: after a crash the name may belong to someone else.
            if is_ours(rec):
                nl.delete_link(name)
            return
        if rec.get("tc"):
            taps.clear_bandwidth(name)
        nl.set_master(name, None)
        restore = rec.get("restore") or {}
        if restore.get("mac"):
            taps.set_mac(name, restore["mac"])
        if restore.get("mtu"):
            taps.set_mtu(name, int(restore["mtu"]))
    except KvmnetError:
        if not quiet:
            raise


class TapBridgePlugger(Plugger):
    """A tap (or an adopted link) on a Linux bridge: plug types ``network`` (the network's
    own bridge) and ``bridge`` (a host bridge)."""

    label = "tap on a Linux bridge"

    def plug(self, nl: Netlink, directory: Path, port: NetworkPort, network: str | None,
             opts: PlugOptions, host: Host | None = None) -> dict[str, Any]:
        return make(nl, directory, port, network, mtu=opts.mtu, tap_name=opts.tap_name,
                    device=opts.device, multi_queue=opts.multi_queue,
                    vlan_filtering=opts.vlan_filtering, owned_bridge=opts.owned_bridge,
                    host=host)

    def unplug(self, nl: Netlink, rec: dict[str, Any], quiet: bool = False,
               host: Host | None = None) -> None:
        unplug(nl, rec, quiet=quiet, host=host)

    def attach(self, nl: Netlink, rec: dict[str, Any], port: NetworkPort, *,
               vlan_filtering: bool) -> None:
        attach(nl, rec, port, vlan_filtering=vlan_filtering)

    def detach(self, nl: Netlink, rec: dict[str, Any]) -> None:
        detach(nl, rec)

    def is_ours(self, rec: dict[str, Any]) -> bool:
        return is_ours(rec)

    def describe(self, port: NetworkPort, opts: PlugOptions) -> list[str]:
        """The shell form of :meth:`plug`, from the very steps it runs (the bridge's MTU is
        left out when ``opts.mtu`` is None: only the live bridge knows it)."""
        return [line for step in steps_of(port, opts) for line in step.describe().splitlines()]


def steps_of(port: NetworkPort, opts: PlugOptions) -> list[Step]:
    """The steps of plugging ``port`` (pure; the tap named by its template until made)."""
    from kvmnet.engine.steps.tap import LimitBandwidth

    name = opts.device or opts.tap_name or "vnet%d"
    rec = {"tap": name, "created": opts.device is None}
    out = [first_step(port, opts), attach_step(rec, port, vlan_filtering=opts.vlan_filtering)]
    bw = port.bandwidth
    if bw is not None and (bw.inbound is not None or bw.outbound is not None):
        out.append(LimitBandwidth(name=name, adopted=opts.device is not None, **_rates(bw)))
    return out


def _rates(bw: Bandwidth) -> dict[str, list[int | None] | None]:
    return {key: [r.average, r.peak, r.burst] if r is not None and r.average else None
            for key, r in (("inbound", bw.inbound), ("outbound", bw.outbound))}
