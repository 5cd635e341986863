"""Run guests: start, destroy, hot-plug NICs, and notice QEMUs that died.

A guest start is a sequence of engine steps (:mod:`kvmnet.engine`) run by the one executor
with the guest's journal (``run/kvmnet/guests/NAME.json``, the engine's one format; its
``info`` is the run record: QEMU's pid, id, accelerator, sockets, ports), each step's undo
journalled before it runs:

1. ``port.sweep``: ports a crashed kvmnet may have left for this guest go first (undone last);
2. ``port.plug`` per NIC: a port from :mod:`kvmnet.port.ports` (a persistent tap on the
   network's bridge, owned by the guest's UUID, plugged by its plugger with the port's own
   journal), which QEMU opens by name (``-netdev tap,ifname=vnetN``), or an SR-IOV VF of a
   hostdev network (``-device vfio-pci,host=...``); an ``<interface type='hostdev'>`` and the
   ``<hostdev>`` devices are ``pci.detach``/``vf.config`` steps in the guest's own journal
   (:mod:`kvmnet.guests.hostdev`: they need KVM and VFIO, refused before anything changes);
3. ``qemu.files``: the console log directory; the run-time files QEMU makes, to remove;
4. ``qemu.start``: QEMU daemonized with its pid file, QMP socket and serial console sockets
   under ``run/kvmnet/guests`` (see :mod:`kvmnet.guests.store`);
5. ``files``: the live definition.

A failure at any step undoes what was done; a kvmnet killed at any step
(``KVMNET_FAULT_KILL_AFTER=qemu.start``...) leaves a journal that the next command undoes.
Destroying a guest is undoing its journal.  A journal whose QEMU is not alive is stale:
:meth:`Runner.live` undoes it (stopping a QEMU an interrupted start had launched, unplugging
its ports, removing its files); ``start``, ``list``, ``destroy`` and every live operation go
through it.  NICs hot-plugged later add their ``port`` undo to the same journal, then
``qemu.nic`` hands the tap (a macvtap: its descriptor) to QEMU over QMP; the journal's
``hotplug`` record, kept until the live definition names the NIC, lets the next command
finish (QEMU has the device) or take back (it has not) a hot-plug whose kvmnet was killed.
Hot-unplugging is ``qemu.unplug`` (device_del, the guest's release, netdev_del), then the
port's undo.
"""
from __future__ import annotations

import os
import time
import uuid as uuid_mod
from typing import TYPE_CHECKING, Any

from kvmnet.engine.executor import Context, apply_steps, run, undo
from kvmnet.engine.host import Host
from kvmnet.engine.journal import ACTIVE, Journal
from kvmnet.errors import (
    ConflictError,
    DomainNotFoundError,
    HostError,
    KvmnetError,
    NotFoundError,
    OperationInvalidError,
    UnsupportedError,
)
from kvmnet.guests import hostdev as guest_hostdevs
from kvmnet.guests import qemu
from kvmnet.guests.define import unique_mac, used_macs, validate, with_interfaceid
from kvmnet.guests.store import GuestStore, Record
from kvmnet.model.domain import DEFAULT_NIC_MODEL, NIC_MODELS, CharDev, Domain, Interface
from kvmnet.model.frozen import replace
from kvmnet.xmlio.domain import format_domain, parse_domain

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kvmnet.api import Connection
    from kvmnet.engine.step import Step
    from kvmnet.engine.steps.port import PlugPort

#: How long a guest may take to release a hot-unplugged NIC (ACPI eject; slow under TCG).
UNPLUG_TIMEOUT = 30.0


class PortService:
    """The guest port service the ``port`` steps act through (``ctx.ports``, see
    :mod:`kvmnet.engine.steps.port`): :mod:`kvmnet.port.ports` on one connection."""

    def __init__(self, conn: Connection, host: Host | None = None) -> None:
        self.conn = conn
        self.host = host  # the guest's host adapters, for the port's steps too

    def plug(self, step: PlugPort) -> dict[str, Any]:
        from kvmnet.model.precedence import settings_from_json
        from kvmnet.port import ports

        vport, vlan, bandwidth = settings_from_json(step.settings)
        info = ports.plug(self.conn, step.network, mac=step.mac, bridge=step.bridge,
                          owner_name=step.owner_name, owner_uuid=step.owner_uuid,
                          portgroup=step.portgroup, tap_name=step.tap_name, mtu=step.mtu,
                          port_uuid=step.uuid, source_dev=step.source_dev,
                          source_mode=step.source_mode, virtualport=vport, vlan=vlan,
                          bandwidth=bandwidth, host=self.host)
        return info.as_dict()

    def unplug(self, port_uuid: str) -> None:
        from kvmnet.port import ports

        try:
            ports.unplug(self.conn, port_uuid, host=self.host)
        except NotFoundError:
            pass

    def unplug_owner(self, owner_uuid: str) -> None:
        from kvmnet.port import ports

        ports.unplug_owner(self.conn, owner_uuid, host=self.host)

    def settle(self, port_uuids: list[str]) -> None:
        from kvmnet.port import ports

        ports.settle(self.conn, port_uuids)


class Runner:
    """``host``: the host adapters the steps act through (a recording host in golden tests)."""

    def __init__(self, conn: Connection, host: Host | None = None) -> None:
        self.conn = conn
        self.store = GuestStore(conn.paths)
        self.host = host if host is not None else Host()
        #: Notices for the user from the last operation (e.g. "using TCG").
        self.notices: list[str] = []

    def context(self) -> Context:
        return Context(self.host, say=self.notices.append,
                       ports=PortService(self.conn, self.host))

    # -- state -------------------------------------------------------------------------------
    def _alive(self, info: Record) -> bool:
        return self.host.qemu_alive(info.get("pid"), info.get("qmp"))

    def journal(self, name: str) -> Journal | None:
        """The journal of a running guest; a dead guest's is undone (and None returned)."""
        with self.store.locked():
            journal = self.store.journal(name)
            if journal is None:
                return None
            if journal.state == ACTIVE and self._alive(journal.info):
                if "hotplug" in journal.info:  # a hot-plug a killed kvmnet left midway
                    self._settle_hotplug(journal)
                return journal
            self._cleanup(journal)
            return None

    def live(self, name: str) -> Record | None:
        """The run record of a running guest; a dead guest's leftovers are cleaned up."""
        journal = self.journal(name)
        return dict(journal.info, state="running") if journal is not None else None

    def live_domain(self, name: str) -> Domain | None:
        record = self.live(name)
        if record is None:
            return None
        text = self.store.read_status(name)
        if text is None:
            return None
        return parse_domain(text, live=True)

    def reconcile_all(self) -> set[str]:
        """Clean up every dead guest; returns the names of the running ones."""
        with self.store.locked():
            return {n for n in self.store.recorded_names() if self.live(n) is not None}

    def _cleanup(self, journal: Journal) -> None:
        """Undo the guest's journal (QEMU, ports, run-time files), then delete it; what
        could not be undone stays journalled for the next try."""
        with self.context() as ctx:
            failures = undo(journal, ctx)
        if failures:
            raise HostError(f"cleaning up guest '{journal.owner}' failed: "
                            f"{'; '.join(failures)}; run 'kvmnet destroy {journal.owner}' "
                            "to try again")
        journal.delete()

    # -- start -------------------------------------------------------------------------------
    def start(self, name: str) -> Record:
        """Start the defined guest ``name``; returns its run record."""
        store = self.store
        self.notices = []
        with store.locked():
            if self.live(name) is not None:
                raise OperationInvalidError(f"domain '{name}' is already active; run 'kvmnet "
                                            f"destroy {name}' first to restart it")
            text = store.read_config(name)
            if text is None:
                raise DomainNotFoundError(f"domain not found: no domain with matching name '{name}'; "
                                    "run 'kvmnet list --all' to see the defined guests")
            dom = parse_domain(text)
            validate(dom)
            assert dom.uuid is not None, "a defined guest has a uuid"
            _check_files(dom)
            binary = qemu.qemu_binary(dom)
            accel = qemu.choose_accel(dom.type)
            guest_hostdevs.check(dom, accel)  # VFIO devices need KVM: refused before any change
            if accel.notice:
                self.notices.append(accel.notice)
            if dom.extra_devices:
                kinds = sorted({f"<{r.tag}>" for r in dom.extra_devices})
                self.notices.append(f"guest '{name}': {', '.join(kinds)} kept in the definition "
                                    "but not emulated (kvmnet runs guests headless)")
            serials, plans = self._serials(dom, name)
            record: Record = {"uuid": dom.uuid, "id": store.next_id(), "pid": None,
                              "ports": [], "accel": accel.name,
                              "qmp": str(store.qmp_path(dom.uuid)),
                              "serials": [{"port": p.port, "socket": p.socket, "log": p.log}
                                          for p in plans],
                              "pidfile": str(store.pid_path(name))}
            journal = Journal(store.record_path(name), name, info=record)
            with self.context() as ctx:
                run(self.start_steps(dom, record, serials, plans, binary, accel), journal, ctx)
            journal.state = ACTIVE
            journal.save()
        return dict(record, state="running")

    def start_steps(self, dom: Domain, record: Record, serials: tuple[CharDev, ...],
                    plans: list[qemu.SerialPlan], binary: str, accel: qemu.Accel
                    ) -> Iterator[Step]:
        """The steps of starting ``dom``, made as the executor applies them (a generator:
        QEMU's command line names the taps the port steps made); fills in ``record``."""
        from kvmnet.engine.steps.files import WriteFiles
        from kvmnet.engine.steps.port import SettlePorts, SweepOwner
        from kvmnet.engine.steps.qemu import QemuFiles, StartQemu

        assert dom.uuid is not None
        name = dom.name
        yield SweepOwner(owner_uuid=dom.uuid, owner_name=name)
        ifaces = []
        fds: dict[str, int] = {}  # alias -> the descriptor QEMU gets its macvtap on
        nodes: list[list[Any]] = []
        vfio = 0  # hostdevN: libvirt's aliases of VFIO devices, VF interfaces first
        run_dir = self.conn.paths.run
        for i, iface in enumerate(dom.interfaces):
            if iface.type == "hostdev":  # the VF itself, no port (kvmnet.guests.hostdev)
                yield from guest_hostdevs.interface_steps(dom, iface, run_dir, self.host)
                ifaces.append(replace(iface, alias=f"hostdev{vfio}"))
                vfio += 1
                continue
            step = self._port_step(dom, iface)
            yield step
            info = step.result()
            record["ports"].append(info["uuid"])
            if info.get("address"):  # a VF of a hostdev network
                guest_hostdevs.needs_kvm(dom, accel, f"interface {iface.mac} "
                                         f"({info['address']} of network '{iface.network}')")
                ifaces.append(replace(_plugged(iface, info, f"hostdev{vfio}"),
                                      pci_address=info["address"], target_dev=None))
                vfio += 1
                continue
            ifaces.append(_plugged(iface, info, f"net{i}"))
            if info.get("node"):
                fds[f"net{i}"] = qemu.FD_BASE + i
                nodes.append([qemu.FD_BASE + i, info["node"]])
        if record["ports"]:
            yield SettlePorts(uuids=list(record["ports"]))
        yield from guest_hostdevs.hostdev_steps(dom, run_dir, self.host)
        hostdevs = tuple(replace(h, alias=f"hostdev{vfio + k}") for k, h in enumerate(dom.hostdevs))
        live = replace(dom, id=record["id"], interfaces=tuple(ifaces), hostdevs=hostdevs,
                       serials=serials,
                       consoles=_mirror_consoles(dom.consoles, serials),
                       disks=tuple(replace(d, alias=f"disk{i}")
                                   for i, d in enumerate(dom.disks)))
        pidfile, qmp = record["pidfile"], record["qmp"]
        yield QemuFiles(dirs=[str(self.store.log)],
                        remove=[pidfile, qmp, *(p.socket for p in plans)])
        argv = qemu.build_argv(live, binary=binary, accel=accel, qmp=qmp, pidfile=pidfile,
                               serials=plans, fds=fds)
        launch = StartQemu(name=name, argv=argv, pidfile=pidfile, qmp=qmp, fds=nodes)
        yield launch
        record.update(pid=launch.pid, started=time.time(), launch_seconds=launch.seconds)
        yield WriteFiles(files=[[str(self.store.status_path(name)),
                                 format_domain(live, live=True), 0o600, "status"]])

    def _port_step(self, dom: Domain, iface: Interface) -> PlugPort:
        from kvmnet.engine.steps.port import PlugPort
        from kvmnet.model.precedence import settings_json

        assert iface.mac is not None and dom.uuid is not None
        return PlugPort(uuid=str(uuid_mod.uuid4()),
                        network=iface.network if iface.type == "network" else None,
                        bridge=iface.bridge if iface.type == "bridge" else None,
                        source_dev=iface.source_dev if iface.type == "direct" else None,
                        source_mode=iface.source_mode if iface.type == "direct" else None,
                        mac=iface.mac, owner_name=dom.name, owner_uuid=dom.uuid,
                        portgroup=iface.portgroup, tap_name=_chosen_tap_name(iface.target_dev),
                        mtu=iface.mtu,
                        settings=settings_json(iface.virtualport, iface.vlan, iface.bandwidth))

    def _serials(self, dom: Domain, name: str) -> tuple[tuple[CharDev, ...], list[qemu.SerialPlan]]:
        assert dom.uuid is not None
        out: list[CharDev] = []
        plans: list[qemu.SerialPlan] = []
        for s in dom.serials:
            port = s.target_port or 0
            alias = f"serial{port}"
            sock = str(self.store.serial_path(dom.uuid, port))
            if s.type == "file":
                log, append = s.source_path or "", True
            else:
                log = s.log_file or str(self.store.log_path(name, port))
                append = bool(s.log_append) if s.log_file else False
            plans.append(qemu.SerialPlan(port, alias, sock, log, append))
            out.append(replace(s, alias=alias, source_path=s.source_path if s.type == "file"
                               else sock))
        return tuple(out), plans

    # -- destroy -----------------------------------------------------------------------------
    def destroy(self, name: str) -> None:
        """Undo the guest's journal: stop its QEMU, unplug its ports, remove its files."""
        with self.store.locked():
            journal = self.store.journal(name)
            if journal is None:
                raise OperationInvalidError(f"domain '{name}' is not running")
            was_alive = self._alive(journal.info)
            self._cleanup(journal)
            if not was_alive:
                raise OperationInvalidError(
                    f"domain '{name}' is not running (its QEMU had exited; its ports and "
                    "run-time files are cleaned up now)")

    def _forget_port(self, journal: Journal, port_uuid: str, quiet: bool = False) -> None:
        """Unplug one port of a running guest (undo its journal entry) and drop it from the
        journal; raises HostError when it could not be unplugged, unless ``quiet``."""
        entries = [e for e in journal.steps if e.get("kind") == "port"
                   and e.get("uuid") == port_uuid]
        self._forget(journal, entries, f"port {port_uuid}", quiet)
        if port_uuid in journal.info.get("ports", []):
            journal.info["ports"].remove(port_uuid)
        journal.save()

    def _forget(self, journal: Journal, entries: list[dict[str, Any]], what: str,
                quiet: bool = False) -> None:
        """Undo some entries of a running guest's journal and drop them from it."""
        with self.context() as ctx:
            failures = undo(Journal(journal.path, journal.owner, journal.state, entries), ctx)
        if failures and not quiet:
            raise HostError(f"unplugging {what} failed: {'; '.join(failures)}")
        journal.steps[:] = [e for e in journal.steps if e not in entries]
        journal.save()

    # -- hot-plug ----------------------------------------------------------------------------
    def attach_interface(self, name: str, iface: Interface, *, live: bool, config: bool
                         ) -> Interface:
        """Add a NIC to the running guest (``live``) and/or its definition (``config``)."""
        store = self.store
        with store.locked():
            journal = self.journal(name)
            conf_text = store.read_config(name)
            live, config = _affect(name, live, config, journal is not None,
                                   conf_text is not None)
            if iface.model is not None and iface.model not in NIC_MODELS:
                raise KvmnetError(f"unknown model '{iface.model}'")
            taken = used_macs(store)
            live_dom = self.live_domain(name) if live else None
            conf_dom = parse_domain(conf_text) if config and conf_text is not None else None
            mac = iface.mac or unique_mac(taken)
            for d in (live_dom, conf_dom):
                if d is not None and d.interface_by_mac(mac) is not None:
                    raise ConflictError(f"domain '{name}' already has an interface with MAC "
                                        f"address {mac}; choose another --mac")
            # the same interfaceid in the live and the persistent definition (libvirt's
            # attach-device --live --config)
            iface = replace(iface, mac=mac, model=iface.model or DEFAULT_NIC_MODEL,
                            virtualport=with_interfaceid(iface.type, iface.virtualport))
            if conf_dom is not None:
                new_conf = replace(conf_dom, interfaces=conf_dom.interfaces + (iface,))
                validate(new_conf)
            if live_dom is not None and journal is not None:
                self._hotplug(name, journal, live_dom, iface)
            if conf_dom is not None:
                store.write_config(name, format_domain(new_conf))
            return iface

    def _hotplug(self, name: str, journal: Journal, dom: Domain, iface: Interface) -> None:
        """Plug a port as a step on the guest's journal (its undo journalled first), then
        hand its tap (or its macvtap's descriptor) to QEMU, ``qemu.nic``; any failure
        unplugs it again.  Until the live definition names the NIC, the journal's
        ``hotplug`` record says what is under way, for :meth:`_settle_hotplug` to finish or
        take back after a kvmnet killed midway."""
        from kvmnet.engine.steps.port import SettlePorts
        from kvmnet.engine.steps.qemu import AddNic

        if iface.type == "hostdev":
            raise UnsupportedError(
                f"cannot hot-plug <interface type='hostdev'> into running domain '{name}': "
                "kvmnet gives SR-IOV VFs to a guest only at its start (VFIO and KVM); add it "
                "with --config and restart the guest")
        used = {i.alias for i in dom.interfaces}
        alias = next(f"net{n}" for n in range(1000) if f"net{n}" not in used)
        step = self._port_step(dom, iface)
        pending: dict[str, Any] = {"port": step.uuid, "alias": alias}
        journal.info["hotplug"] = pending
        journal.save()
        try:
            with self.context() as ctx:
                apply_steps([step, SettlePorts(uuids=[step.uuid])], journal, ctx)
            journal.info["ports"].append(step.uuid)
            info = step.result()
            if info.get("address"):
                raise UnsupportedError(f"network '{iface.network}' hands out SR-IOV VFs, which "
                                       "cannot be hot-plugged; use --config and restart the "
                                       "guest")
            plugged = _plugged(iface, info, alias)
            status = format_domain(replace(dom, interfaces=dom.interfaces + (plugged,)),
                                   live=True)
            node = info.get("node") or None  # a macvtap: QEMU gets its descriptor
            pending.update(status=status, node=bool(node))
            journal.save()
            nic = AddNic(qmp=journal.info["qmp"],
                         netdev=qemu.netdev_qmp_args(alias, plugged.target_dev or "",
                                                     by_fd=bool(node)),
                         device=qemu.nic_qmp_args(alias, iface.model, iface.mac or "",
                                                  iface.mtu),
                         node=node)
            with self.context() as ctx:
                apply_steps([nic], journal, ctx)
        except BaseException:
            self._forget_port(journal, step.uuid, quiet=True)
            journal.info.pop("hotplug", None)
            journal.save()
            raise
        self.store.write_status(name, status)
        journal.info.pop("hotplug", None)
        journal.save()

    def _settle_hotplug(self, journal: Journal) -> None:
        """Finish or take back a hot-plug a killed kvmnet left midway (``hotplug`` in the
        journal): QEMU has the device, so the live definition gets it; else the backend
        and descriptor QEMU may hold go, and the port is unplugged."""
        pending = journal.info["hotplug"]
        qmp, alias, status = journal.info["qmp"], pending["alias"], pending.get("status")
        if status is not None and alias in self.host.qemu_devices(qmp):
            self.store.write_status(journal.owner, status)
            if pending["port"] not in journal.info["ports"]:
                journal.info["ports"].append(pending["port"])
        else:
            from kvmnet.host.qmp import fd_name

            if status is not None:  # QMP may have gone as far as the backend
                self.host.qemu_drop_backend(qmp, qemu.netdev_id(alias),
                                            fd_name(alias) if pending.get("node") else None)
            self._forget_port(journal, pending["port"], quiet=True)
        del journal.info["hotplug"]
        journal.save()

    def detach_interface(self, name: str, itype: str, mac: str | None, *, live: bool,
                         config: bool) -> None:
        store = self.store
        with store.locked():
            journal = self.journal(name)
            conf_text = store.read_config(name)
            live, config = _affect(name, live, config, journal is not None,
                                   conf_text is not None)
            live_dom = self.live_domain(name) if live else None
            conf_dom = parse_domain(conf_text) if config and conf_text is not None else None
            # Find the interface in every affected definition before changing any of them.
            found: list[tuple[Domain, Interface]] = []
            for d in (live_dom, conf_dom):
                if d is not None:
                    found.append((d, _pick_interface(d, itype, mac)))
            if conf_dom is not None:
                victim = found[-1][1]
                new_conf = replace(conf_dom, interfaces=tuple(
                    i for i in conf_dom.interfaces if i is not victim))
            if live_dom is not None and journal is not None:
                self._hotunplug(name, journal, live_dom, found[0][1])
            if conf_dom is not None:
                store.write_config(name, format_domain(new_conf))

    def _hotunplug(self, name: str, journal: Journal, dom: Domain, iface: Interface) -> None:
        from kvmnet.engine.steps.qemu import RemoveNic

        alias = iface.alias
        if not alias:
            raise HostError(f"interface {iface.mac} of domain '{name}' has no device alias in "
                            "the live state; destroy and start the guest to recover")
        # a VF (vfio-pci) has no netdev backend
        out = RemoveNic(qmp=journal.info["qmp"], alias=alias, mac=iface.mac or "",
                        netdev=None if alias.startswith("hostdev") else qemu.netdev_id(alias),
                        timeout=UNPLUG_TIMEOUT)
        with self.context() as ctx:
            apply_steps([out], journal, ctx)
        if iface.type == "hostdev":  # its own VF: settings back, back to its driver
            from kvmnet.port.plugs.hostdev import HOLDS

            self._forget(journal, [e for e in journal.steps if e.get("address")
                                   == iface.pci_address and e["kind"] in HOLDS],
                         f"VF {iface.pci_address}")
        if iface.port_id:
            if any(e.get("uuid") == iface.port_id for e in journal.steps):
                self._forget_port(journal, iface.port_id)
            else:  # not in the journal (plugged by hand for this guest): unplug it anyway
                PortService(self.conn).unplug(iface.port_id)
        new = replace(dom, interfaces=tuple(i for i in dom.interfaces if i is not iface))
        self.store.write_status(name, format_domain(new, live=True))


# -- helpers ----------------------------------------------------------------------------------
def _check_files(dom: Domain) -> None:
    missing = []
    for what, path in (("kernel", dom.os.kernel), ("initrd", dom.os.initrd)):
        if path and not os.path.isfile(path):
            missing.append(f"{what} {path}")
    for d in dom.disks:
        if d.source and not os.path.exists(d.source):
            missing.append(f"disk {d.target_dev} source {d.source}")
    if missing:
        raise HostError(f"cannot start guest '{dom.name}': missing {'; '.join(missing)}; fix "
                        "the paths with 'kvmnet edit'")


def _plugged(iface: Interface, info: dict[str, Any], alias: str) -> Interface:
    """``iface`` as plugged: its tap, alias and port (``info``: the port's, see PortInfo),
    and on a network the port's virtualport as allocated (libvirt's live XML shows the
    actual one: the Open vSwitch interfaceid the switch has)."""
    vport = iface.virtualport
    if iface.type == "network" and info.get("virtualport") is not None:
        from kvmnet.model.precedence import settings_from_json

        vport = settings_from_json({"virtualport": info["virtualport"]})[0]
    return replace(iface, target_dev=info["tap"], alias=alias, port_id=info["uuid"],
                   bridge=info.get("bridge") or iface.bridge, virtualport=vport)


def _mirror_consoles(consoles: tuple[CharDev, ...], serials: tuple[CharDev, ...]
                     ) -> tuple[CharDev, ...]:
    by_port = {s.target_port: s for s in serials}
    out = []
    for c in consoles:
        s = by_port.get(c.target_port)
        out.append(replace(c, source_path=s.source_path, alias=s.alias) if s else c)
    return tuple(out)


def _affect(name: str, live: bool, config: bool, running: bool, persistent: bool
            ) -> tuple[bool, bool]:
    """virsh's --live/--config/--current: neither means the guest's current state."""
    if not live and not config:
        live, config = running, not running
    if live and not running:
        raise OperationInvalidError(f"domain '{name}' is not running; use --config to change "
                                    "its definition")
    if config and not persistent:
        raise OperationInvalidError(f"domain '{name}' is transient: it has no persistent "
                                    "definition to change (use --live)")
    return live, config


def _pick_interface(dom: Domain, itype: str, mac: str | None) -> Interface:
    of_type = [i for i in dom.interfaces if i.type == itype]
    if mac is not None:
        match = [i for i in of_type if (i.mac or "").lower() == mac.lower()]
        if not match:
            raise NotFoundError(f"no interface found whose type is {itype} and MAC address is "
                                f"{mac.lower()}; see 'kvmnet domiflist {dom.name}'")
        return match[0]
    if not of_type:
        raise NotFoundError(f"no interface of type {itype} in domain '{dom.name}'")
    if len(of_type) > 1:
        raise OperationInvalidError(f"domain '{dom.name}' has {len(of_type)} interfaces of type "
                                    f"{itype}; say which one to detach with --mac")
    return of_type[0]


def _chosen_tap_name(target_dev: str | None) -> str | None:
    """A ``<target dev>`` the user chose; ``vnetN`` names are generated ones, which libvirt
    ignores on the next start (copied from a live definition they would clash)."""
    if target_dev is None or (target_dev.startswith("vnet") and target_dev[4:].isdigit()):
        return None
    return target_dev
