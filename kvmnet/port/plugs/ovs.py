"""The tap-on-an-Open-vSwitch-bridge plugger (:class:`OvsPlugger`, key ``bridge/openvswitch``).

A ``bridge`` plug whose (merged, :mod:`kvmnet.model.precedence`) virtualport is
``type='openvswitch'``: a bridge-mode network on an OVS bridge, or a domain's
``<interface type='bridge'>`` with ``<virtualport type='openvswitch'/>``.  As libvirt does it
(virNetDevOpenvswitchAddPort, virNetDevOpenvswitchInterfaceSetQos), two engine steps:

1. the tap, made exactly as on a Linux bridge (:func:`kvmnet.port.plugs.tap_bridge.tap_steps`:
   ``tap.create`` or ``tap.adopt``);
2. ``ovsdb.port`` (:mod:`kvmnet.engine.steps.ovsdb`, built by
   :func:`kvmnet.engine.steps.ovsnet.ovs_steps`): the tap as a Port of the bridge in one OVSDB
   transaction, with the VLAN from the port's ``<vlan>`` (one tag: an access port, ``tag=N``;
   ``trunk='yes'``: ``trunks=N,M``; a ``nativeMode``: ``vlan_mode=native-tagged|untagged`` with
   ``tag`` the native VLAN), libvirt's Interface external_ids (``attached-mac`` the guest's
   MAC, ``iface-id`` the virtualport's ``interfaceid`` (a guest's is made when it is defined,
   :func:`kvmnet.guests.define.with_interfaceid`, and lasts) or else the port's UUID,
   ``iface-status=active``, ``vm-id`` the guest's UUID, ``port-profile`` its ``profileid``),
   bandwidth (``<outbound>`` policed on the Interface, ``<inbound>`` shaped by a linux-htb QoS
   and Queue marked, as the port is, with libvirt's ``vm-id`` and ``ifname``) and kvmnet's
   marks on the Port (:mod:`kvmnet.host.ovsmarks`).

Unplugging undoes the port's journal: the OVS port (with its QoS and Queue rows, and only if
it still carries this port's marks) goes, then the tap.  Across a network restart
(:mod:`kvmnet.port.keep`) a port is kept as on a Linux bridge: :meth:`OvsPlugger.detach` takes
the tap down and its OVS port out, :meth:`OvsPlugger.attach` puts the port back with the
restarted network's settings.  ``kvmnet ovs reconcile`` (:mod:`kvmnet.ovs.reconcile`) removes
marked OVS ports whose tap or record is gone.

One OVSDB connection serves every plug of a process (:class:`SharedOvsHost`): opening an IDL
costs more than the change through it, and plugging is a hot path.  A plug does not wait for
ovs-vswitchd to apply the port (``ovs-vsctl --no-wait``): :meth:`OvsPlugger.settle` does, once
for many ports (a guest start settles all its NICs before QEMU starts, ``net-port-create`` its
port), and reports a tap ovs-vswitchd could not open.  Unplugging many ports at once (their
undos run in threads) deletes their rows in a few transactions: whoever holds the connection
commits every deletion queued meanwhile.  Where the time of a plug goes, and why ovs-vswitchd
bounds it (it reconfigures every bridge on each link change it hears of):
``bench/bench_ports.py --ovs``.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from kvmnet.engine.host import Host
from kvmnet.engine.steps.ovsnet import ovs_steps
from kvmnet.errors import HostError, OvsError
from kvmnet.port.plugs.base import Plugger, PlugOptions, PortJournal, context, undo_journal
from kvmnet.port.plugs.tap_bridge import first_step, is_ours, new_record, run_plug, tap_steps

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kvmnet.engine.executor import Context
    from kvmnet.engine.step import Step, Undo
    from kvmnet.host.netlink import Netlink
    from kvmnet.model.port import NetworkPort

#: the plugger key (kvmnet.port.plugs.PLUGGERS)
KEY = "bridge/openvswitch"


class SharedOvsHost(Host):
    """The real host, whose one OVSDB connection per database serves every port plugged or
    unplugged by this process.  An IDL is not thread-safe and unplugging many ports runs undos
    in threads (their tap deletions overlap), so OVSDB steps and undos hold one lock; the tap
    steps do not.  Undos of OVSDB rows are committed in groups: a thread that gets the lock
    takes every such undo queued meanwhile, of any thread, into one transaction (unplugging
    1,000 ports at once costs a few dozen round trips, not 1,000 in a row)."""

    lock: ClassVar[threading.RLock] = threading.RLock()
    _queue: ClassVar[list[_Pending]] = []
    _queue_lock: ClassVar[threading.Lock] = threading.Lock()

    def ovsdb(self, remote: str | None) -> Any:
        from kvmnet.host.ovsdb import PLUG

        with self.lock:
            switches: dict[str | None, Any] = self.__dict__.setdefault("_ovsdb", {})
            sw = switches.get(remote)
            if sw is not None:
                sw.idl.run()  # take in what other clients changed meanwhile
                if sw.idl.state == sw.idl.IDL_S_MONITORING:
                    return sw
                sw.close()  # the database restarted: reconnect
            from kvmnet.host.ovsdb import Switch

            # only the columns plugging reads or writes: ovs-vswitchd's writes to others
            # (a new Interface's ofport) then send this process nothing to parse
            sw = switches[remote] = Switch.open(remote, columns=PLUG, wait=False)
            return sw

    def perform(self, step: Step, ctx: Context) -> None:
        if not step.kind.startswith(("ovsdb.", "ovsnet.")):
            step.apply(ctx)
            return
        with self.lock:
            step.apply(ctx)

    def revert(self, handler: type[Undo], entry: dict[str, Any], ctx: Context) -> None:
        if not handler.kind.startswith("ovsdb."):
            handler.undo(entry, ctx)
            return
        mine = _Pending(handler, entry)
        with self._queue_lock:
            self._queue.append(mine)
        while not mine.done:
            with self.lock:  # whoever holds it runs every undo queued so far, mine included
                with self._queue_lock:
                    batch, self._queue[:] = list(self._queue), []
                if batch:
                    self._revert_batch(batch, ctx)
        if mine.error is not None:
            raise mine.error

    def _revert_batch(self, batch: list[_Pending], ctx: Context) -> None:
        groups: dict[tuple[Any, Any], list[_Pending]] = {}
        for item in batch:
            groups.setdefault((item.handler, item.entry.get("db")), []).append(item)
        for (handler, db), items in groups.items():
            try:
                try:
                    self.ovsdb(db)
                except OvsError:
                    # No database answers: no switch forwards to the port now.  Its row
                    # (kept by a stopped private Open vSwitch) is found by `kvmnet ovs
                    # reconcile` once the switch runs again; holding up the guest's
                    # teardown would help nobody.
                    continue
                many = getattr(handler, "undo_many", None)
                if many is not None:
                    many([i.entry for i in items], ctx)
                else:
                    for item in items:
                        handler.undo(item.entry, ctx)
            except BaseException as exc:  # each waiting thread reports it for its own undo
                for item in items:
                    item.error = exc
                if not isinstance(exc, Exception):
                    raise
            finally:
                for item in items:
                    item.done = True


class _Pending:
    """One OVSDB undo waiting for its group's transaction."""

    __slots__ = ("done", "entry", "error", "handler")

    def __init__(self, handler: type[Undo], entry: dict[str, Any]) -> None:
        self.handler = handler
        self.entry = entry
        self.done = False
        self.error: BaseException | None = None


_SHARED: list[SharedOvsHost] = []


def _context_host() -> SharedOvsHost:
    """The host this process's OVS ports are plugged through (the pluggers' shared
    :func:`~kvmnet.port.plugs.base.context` gets it, unless a test hands in a recording host)."""
    if not _SHARED:
        _SHARED.append(SharedOvsHost())
    return _SHARED[0]


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
        assert port.plug is not None and port.plug.bridge is not None
        mtu = opts.mtu if opts.mtu is not None else _bridge_mtu(port.plug.bridge)
        rec = new_record(port, network, mtu=mtu, tap_name=opts.tap_name, device=opts.device)
        rec.update(plugger=KEY, mtu=mtu or 1500, owner=opts.state_root)
        journal = PortJournal(directory / f"{port.uuid}.json", rec)

        def steps() -> Iterator[Step]:
            name = yield from tap_steps(rec, port, mtu=mtu, tap_name=opts.tap_name,
                                        device=opts.device, multi_queue=opts.multi_queue)
            yield from ovs_steps(port, name, opts.state_root)

        run_plug(steps(), journal, context(nl, host or _context_host()), opts.tap_name)
        return rec

    def unplug(self, nl: Netlink, rec: dict[str, Any], quiet: bool = False,
               host: Host | None = None) -> None:
        undo_journal(rec, context(nl, host or _context_host()), quiet)

    def attach(self, nl: Netlink, rec: dict[str, Any], port: NetworkPort, *,
               vlan_filtering: bool) -> None:
        """The kept tap back on the (restarted) network's OVS bridge, with its settings now.
        Nothing new to journal: the port's ``ovsdb.port`` undo (same name, same marks) is in
        its journal since the plug."""
        ctx = context(nl, _context_host())
        # a net-destroy killed before it detached this port left it on the switch: out first
        self._drop_ovs_port(rec, ctx)
        for step in ovs_steps(port, rec["tap"], str(rec.get("owner") or "")):
            ctx.host.perform(step, ctx)
        nl.set_link_up(rec["tap"])

    def detach(self, nl: Netlink, rec: dict[str, Any]) -> None:
        """The tap down (the guest's frames go nowhere) and its OVS port out; the tap and its
        record stay.  A port whose tap vanished loses its OVS port too."""
        if is_ours(rec):
            nl.set_link_down(rec["tap"])
        self._drop_ovs_port(rec, context(nl, _context_host()))

    @staticmethod
    def _drop_ovs_port(rec: dict[str, Any], ctx: Context) -> None:
        """The port's OVS port out, by its journalled undo (only while it carries its marks);
        the journal keeps the entry for the port's final unplug."""
        from kvmnet.engine.step import undo_class

        for entry in rec.get("undo") or []:
            handler = undo_class(str(entry.get("kind")))
            if handler is not None and handler.kind == "ovsdb.port":
                ctx.host.revert(handler, entry, ctx)

    def is_ours(self, rec: dict[str, Any]) -> bool:
        return is_ours(rec)

    def settle(self, recs: list[dict[str, Any]]) -> None:
        """One ``ovs-vsctl sync`` per database (ovs-vswitchd applied every port so far), then
        each port's Interface ``error``: a tap ovs-vswitchd could not open is an error here
        (the port stays, with its journal, for the caller's undo or ``kvmnet ovs
        reconcile``)."""
        wanted: dict[str | None, list[tuple[str, str]]] = {}
        for rec in recs:
            for entry in rec.get("undo") or []:
                if entry.get("kind") == "ovsdb.port":
                    wanted.setdefault(entry.get("db"), []).append((entry["port"],
                                                                   entry["bridge"]))
        problems = []
        host = _context_host()
        with host.lock:
            for db, ports in wanted.items():
                sw = host.ovsdb(db)
                sw.sync()
                for port, bridge in ports:
                    error = sw.iface_error(port)
                    if error:
                        problems.append(f"port {port} on bridge {bridge}: {error}")
        if problems:
            raise OvsError("ovs-vswitchd could not set up " + "; ".join(problems) + ": the "
                           "tap vanished, or the bridge's datapath refuses the device (`kvmnet "
                           "ovs list Interface PORT` shows its error)")

    def describe(self, port: NetworkPort, opts: PlugOptions) -> list[str]:
        """The shell form of :meth:`plug`, from the very steps it runs."""
        tap = opts.device or opts.tap_name or "vnet%d"
        steps = [first_step(port, opts), *ovs_steps(port, tap, opts.state_root)]
        return [line for step in steps for line in step.describe().splitlines()]
