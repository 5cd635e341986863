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

from kvmnet.engine.steps.ovsport import ovs_steps
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
