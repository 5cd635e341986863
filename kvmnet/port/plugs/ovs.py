"""The tap-on-an-Open-vSwitch-bridge plugger (:class:`OvsPlugger`, key ``bridge/openvswitch``).

A ``bridge`` plug whose (merged, :mod:`kvmnet.model.precedence`) virtualport is
``type='openvswitch'``: a bridge-mode network on an OVS bridge, or a domain's
``<interface type='bridge'>`` with ``<virtualport type='openvswitch'/>``.  As libvirt does it
(virNetDevOpenvswitchAddPort, virNetDevOpenvswitchInterfaceSetQos):

1. the tap, made exactly as on a Linux bridge (:func:`kvmnet.port.plugs.tap_bridge.tap_steps`:
   ``tap.create`` or ``tap.adopt``);
2. ``ovsport.add``: the tap as a Port of the bridge, one OVSDB transaction
   (:mod:`kvmnet.engine.steps.ovsport`): the VLAN from the port's ``<vlan>`` (one tag: an
   access port, ``tag=N``; ``trunk='yes'``: ``trunks=N,M``; a ``nativeMode``:
   ``vlan_mode=native-tagged|native-untagged`` with ``tag`` the native VLAN), libvirt's
   Interface external_ids (``attached-mac`` the guest's MAC, ``iface-id`` the virtualport's
   ``interfaceid`` or else the port's UUID, ``iface-status=active``, ``vm-id`` the guest's
   UUID, ``port-profile`` its ``profileid``), and kvmnet's marks on the Port;
3. bandwidth, with libvirt's directions for a tap (the host's view is the guest's swapped):
   what the guest *sends* (``<outbound>``) is policed on the Interface
   (``ingress_policing_rate`` = average x 8 kbit/s, ``ingress_policing_burst`` = burst x 8 kbit),
   what it *receives* (``<inbound>``) is shaped by a linux-htb QoS and Queue on the Port
   (``ovsport.qos``: min-rate = average x 8000 bit/s, max-rate = peak x 8000, burst = burst x
   8192 bit).  Unlike libvirt, max-rate falls back to the average when no peak is given:
   libvirt's QoS then has no ceiling at all, so ``average`` would not limit anything.

Unplugging undoes the port's journal: the OVS port (with its QoS and Queue rows) goes, then the
tap.  Across a network restart (:mod:`kvmnet.port.keep`) a port is kept as on a Linux bridge:
:meth:`OvsPlugger.detach` takes the tap down and its OVS port out, :meth:`OvsPlugger.attach`
puts the port back with the restarted network's settings.

``kvmnet ovs reconcile`` (:mod:`kvmnet.ovs.reconcile`) removes the OVS ports kvmnet marked
whose tap or record is gone.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kvmnet.errors import ConflictError, HostError
from kvmnet.port.plugs.base import Plugger, PlugOptions, PortJournal
from kvmnet.port.plugs.tap_bridge import first_step, is_ours, new_record, tap_steps

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kvmnet.engine.host import Host
    from kvmnet.engine.step import Step
    from kvmnet.host.netlink import Netlink
    from kvmnet.model.port import NetworkPort

#: the plugger key (kvmnet.port.plugs.PLUGGERS)
KEY = "bridge/openvswitch"


def vlan_columns(port: NetworkPort) -> dict[str, Any]:
    """The Port's VLAN columns for ``port``'s ``<vlan>`` (libvirt's
    virNetDevOpenvswitchConstructVlans): ``tag``, ``trunks``, ``vlan_mode``."""
    vlan = port.vlan
    out: dict[str, Any] = {"tag": None, "trunks": [], "vlan_mode": None}
    if vlan is None or not vlan.tags:
        return out
    native = next((t for t in vlan.tags if t.native_mode), None)
    if native is not None:
        out["vlan_mode"] = f"native-{native.native_mode}"
        out["tag"] = native.id
    if vlan.trunk:
        out["trunks"] = [t.id for t in vlan.tags]
    elif native is None:
        out["tag"] = vlan.tags[0].id
    return out


def iface_ids(port: NetworkPort, tap: str) -> dict[str, str]:
    """libvirt's external_ids of the Interface, in libvirt's order."""
    vport = port.virtualport
    ids = {"attached-mac": port.mac,
           "iface-id": (vport.param("interfaceid") if vport is not None else None) or port.uuid,
           "vm-id": port.owner_uuid}
    profile = vport.param("profileid") if vport is not None else None
    if profile:
        ids["port-profile"] = profile
        ids["ifname"] = tap
    ids["iface-status"] = "active"
    return ids


def ovs_steps(port: NetworkPort, tap: str, owner: str) -> list[Step]:
    """The OVSDB steps that make tap ``tap`` the OVS port of ``port`` (pure)."""
    from kvmnet.engine.steps.ovsport import AddOvsPort, OvsPortQos

    assert port.plug is not None and port.plug.bridge is not None
    bw = port.bandwidth
    out_rate = bw.outbound if bw is not None else None
    in_rate = bw.inbound if bw is not None else None
    policing = None
    if out_rate is not None and out_rate.average:
        policing = [out_rate.average * 8, (out_rate.burst or 0) * 8]
    steps: list[Step] = [AddOvsPort(bridge=port.plug.bridge, name=tap, port_uuid=port.uuid,
                                    owner=owner, iface_ids=iface_ids(port, tap),
                                    policing=policing, **vlan_columns(port))]
    if in_rate is not None and in_rate.average:
        steps.append(OvsPortQos(name=tap, min_rate=in_rate.average * 8000,
                                max_rate=(in_rate.peak or in_rate.average) * 8000,
                                burst=in_rate.burst * 8192 if in_rate.burst else None,
                                ids={"vm-id": port.owner_uuid, "ifname": tap}))
    return steps


def _context(nl: Netlink, host: Host | None) -> Any:
    from kvmnet.engine.executor import Context

    if host is None:
        from kvmnet.engine.host import Host

        host = Host()
    return Context(host, nl=nl)


def _bridge_mtu(bridge: str) -> int | None:
    """The MTU of the OVS bridge's own interface, when the kernel has one (it has with both
    datapaths), else None: the kernel's default."""
    from kvmnet.host import tap as taps

    try:
        return taps.get_mtu(bridge)
    except HostError:
        return None


class OvsPlugger(Plugger):
    """A tap (or an adopted link) as a port of an Open vSwitch bridge."""

    label = "tap on an Open vSwitch bridge"

    def plug(self, nl: Netlink, directory: Path, port: NetworkPort, network: str | None,
             opts: PlugOptions, host: Host | None = None) -> dict[str, Any]:
        from kvmnet.engine.executor import run
        from kvmnet.host import tap as taps

        assert port.plug is not None and port.plug.bridge is not None
        mtu = opts.mtu if opts.mtu is not None else _bridge_mtu(port.plug.bridge)
        rec = new_record(port, network, mtu=mtu, tap_name=opts.tap_name, device=opts.device)
        rec.update(plugger=KEY, mtu=mtu or 1500, owner=opts.state_root)
        journal = PortJournal(directory / f"{port.uuid}.json", rec)

        def steps() -> Iterator[Step]:
            name = yield from tap_steps(rec, port, mtu=mtu, tap_name=opts.tap_name,
                                        device=opts.device, multi_queue=opts.multi_queue)
            yield from ovs_steps(port, name, opts.state_root)

        try:
            run(steps(), journal, _context(nl, host))
        except taps.TapExistsError as exc:
            raise ConflictError(f"cannot create tap {opts.tap_name}: a network interface with "
                                "that name already exists; choose another tap name or leave "
                                "it out (kvmnet then picks the first free vnetN)") from exc
        journal.state = "active"
        journal.save()
        return rec

    def unplug(self, nl: Netlink, rec: dict[str, Any], quiet: bool = False,
               host: Host | None = None) -> None:
        from kvmnet.engine.executor import undo

        failures = undo(PortJournal(Path(f"{rec['uuid']}.json"), rec), _context(nl, host))
        if failures and not quiet:
            raise HostError("; ".join(failures))

    def attach(self, nl: Netlink, rec: dict[str, Any], port: NetworkPort, *,
               vlan_filtering: bool) -> None:
        """The kept tap back on the (restarted) network's OVS bridge, with its settings now;
        nothing new to journal (the port's ``ovsport`` undo is already there)."""
        from kvmnet.engine.executor import apply_steps

        apply_steps(ovs_steps(port, rec["tap"], str(rec.get("owner") or "")),
                    PortJournal(Path(f"{rec['uuid']}.json"), {**rec, "undo": []}),
                    _context(nl, None))
        nl.set_link_up(rec["tap"])

    def detach(self, nl: Netlink, rec: dict[str, Any]) -> None:
        """The tap down (the guest's frames go nowhere) and its OVS port out; the tap and its
        record stay.  A port whose tap vanished loses its OVS port too."""
        from kvmnet.engine.steps.ovsport import DeleteOvsPort

        if is_ours(rec):
            nl.set_link_down(rec["tap"])
        DeleteOvsPort.undo({"port_uuid": rec["uuid"]}, _context(nl, None))

    def is_ours(self, rec: dict[str, Any]) -> bool:
        return is_ours(rec)

    def describe(self, port: NetworkPort, opts: PlugOptions) -> list[str]:
        """The shell form of :meth:`plug`, from the very steps it runs."""
        tap = opts.device or opts.tap_name or "vnet%d"
        steps = [first_step(port, opts), *ovs_steps(port, tap, opts.state_root)]
        return [line for step in steps for line in step.describe().splitlines()]
