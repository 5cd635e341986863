"""Run guests: start, destroy, hot-plug NICs, and notice QEMUs that died.

Every guest NIC is a port from :mod:`kvmnet.port.ports` (a persistent tap on the network's
bridge, owned by the guest's UUID) that QEMU opens by name (``-netdev tap,ifname=vnetN``).
QEMU runs daemonized with its pid file, QMP socket and serial console sockets under
``run/kvmnet/guests`` (see :mod:`kvmnet.guests.store`).

Start order, so that a failure at any step (or a crash of kvmnet itself) leaves nothing that
the next command cannot clean: run record first ("starting"), then each port (its UUID is
recorded as soon as it exists), then QEMU, then the live XML.  A record whose QEMU is not alive
is stale: :meth:`Runner.live` unplugs its ports (and any other port the guest's UUID owns) and
removes its files; ``start``, ``list``, ``destroy`` and every live operation go through it.
"""
from __future__ import annotations

import os
import select
import subprocess
import time
from typing import TYPE_CHECKING

from kvmnet.errors import (
    ConflictError,
    HostError,
    KvmnetError,
    NotFoundError,
    OperationInvalidError,
)
from kvmnet.guests import qemu
from kvmnet.guests.define import unique_mac, used_macs, validate
from kvmnet.guests.store import GuestStore, Record
from kvmnet.host import process
from kvmnet.model.domain import DEFAULT_NIC_MODEL, NIC_MODELS, CharDev, Domain, Interface
from kvmnet.model.frozen import replace
from kvmnet.xmlio.domain import format_domain, parse_domain

if TYPE_CHECKING:
    from kvmnet.api import Connection
    from kvmnet.port.ports import PortInfo

#: How long QEMU may take to set up the machine before daemonizing.
LAUNCH_TIMEOUT = 60.0
#: How long a guest may take to release a hot-unplugged NIC (ACPI eject; slow under TCG).
UNPLUG_TIMEOUT = 30.0


class Runner:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.store = GuestStore(conn.paths)
        #: Notices for the user from the last operation (e.g. "using TCG").
        self.notices: list[str] = []

    # -- state -------------------------------------------------------------------------------
    def live(self, name: str) -> Record | None:
        """The run record of a running guest; a dead guest's leftovers are cleaned up."""
        with self.store.locked():
            record = self.store.read_record(name)
            if record is None:
                return None
            if _alive(record):
                return record
            self._cleanup(name, record)
            return None

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

    def _cleanup(self, name: str, record: Record) -> None:
        """Unplug every port of the guest and remove its run-time files."""
        from kvmnet.port import ports

        uuid = record.get("uuid")
        for port in record.get("ports") or ():
            try:
                ports.unplug(self.conn, str(port))
            except NotFoundError:
                pass
        if isinstance(uuid, str):
            ports.unplug_owner(self.conn, uuid)
        self.store.clear_runtime(name, record)

    # -- start -------------------------------------------------------------------------------
    def start(self, name: str) -> Record:
        """Start the defined guest ``name``; returns its run record."""
        from kvmnet.port import ports

        store = self.store
        self.notices = []
        with store.locked():
            if self.live(name) is not None:
                raise OperationInvalidError(f"domain '{name}' is already active; run 'kvmnet "
                                            f"destroy {name}' first to restart it")
            text = store.read_config(name)
            if text is None:
                raise NotFoundError(f"domain not found: no domain with matching name '{name}'; "
                                    "run 'kvmnet list --all' to see the defined guests")
            dom = parse_domain(text)
            validate(dom)
            assert dom.uuid is not None, "a defined guest has a uuid"
            _check_files(dom)
            binary = qemu.qemu_binary(dom)
            accel = qemu.choose_accel(dom.type)
            if accel.notice:
                self.notices.append(accel.notice)
            if dom.extra_devices:
                kinds = sorted({f"<{r.tag}>" for r in dom.extra_devices})
                self.notices.append(f"guest '{name}': {', '.join(kinds)} kept in the definition "
                                    "but not emulated (kvmnet runs guests headless)")
            record: Record = {"state": "starting", "uuid": dom.uuid, "id": store.next_id(),
                              "pid": None, "ports": [], "accel": accel.name,
                              "qmp": str(store.qmp_path(dom.uuid)), "serials": [],
                              "pidfile": str(store.pid_path(name))}
            store.write_record(name, record)
            try:
                # Ports a crashed kvmnet may have left for this guest go first.
                ports.unplug_owner(self.conn, dom.uuid)
                ifaces = []
                for i, iface in enumerate(dom.interfaces):
                    info = self._plug(dom, iface)
                    record["ports"].append(info.uuid)
                    store.write_record(name, record)
                    ifaces.append(_plugged(iface, info, f"net{i}"))
                serials, plans = self._serials(dom, name)
                record["serials"] = [{"port": p.port, "socket": p.socket, "log": p.log}
                                     for p in plans]
                live = replace(dom, id=record["id"], interfaces=tuple(ifaces), serials=serials,
                               consoles=_mirror_consoles(dom.consoles, serials),
                               disks=tuple(replace(d, alias=f"disk{i}")
                                           for i, d in enumerate(dom.disks)))
                pidfile = record["pidfile"]
                argv = qemu.build_argv(live, binary=binary, accel=accel, qmp=record["qmp"],
                                       pidfile=pidfile, serials=plans)
                started = time.monotonic()
                record["pid"] = _launch(argv, pidfile, name)
                record.update(state="running", started=time.time(),
                              launch_seconds=round(time.monotonic() - started, 3))
                store.write_status(name, format_domain(live, live=True))
                store.write_record(name, record)
            except BaseException:
                self._stop_qemu(record)
                self._cleanup(name, record)
                raise
        return record

    def _plug(self, dom: Domain, iface: Interface) -> PortInfo:
        from kvmnet.port import ports

        assert iface.mac is not None
        return ports.plug(self.conn, iface.network if iface.type == "network" else None,
                          mac=iface.mac, bridge=iface.bridge if iface.type == "bridge" else None,
                          owner_name=dom.name, owner_uuid=dom.uuid, portgroup=iface.portgroup,
                          tap_name=_chosen_tap_name(iface.target_dev), mtu=iface.mtu)

    def _serials(self, dom: Domain, name: str) -> tuple[tuple[CharDev, ...], list[qemu.SerialPlan]]:
        assert dom.uuid is not None
        self.store.log.mkdir(parents=True, exist_ok=True)
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
        with self.store.locked():
            record = self.store.read_record(name)
            if record is None:
                raise OperationInvalidError(f"domain '{name}' is not running")
            was_alive = _alive(record)
            self._stop_qemu(record)
            self._cleanup(name, record)
            if not was_alive:
                raise OperationInvalidError(
                    f"domain '{name}' is not running (its QEMU had exited; its ports and "
                    "run-time files are cleaned up now)")

    def _stop_qemu(self, record: Record) -> None:
        """QMP quit, then SIGTERM/SIGKILL by PID (only if the PID is still this QEMU)."""
        if record.get("pid") is None and isinstance(record.get("pidfile"), str):
            # Interrupted between QEMU daemonizing and the record naming its PID.
            try:
                with open(record["pidfile"]) as fh:
                    record["pid"] = int(fh.read().strip())
            except (OSError, ValueError):
                pass
        pid = record.get("pid")
        qmp_path = record.get("qmp")
        if not isinstance(pid, int) or not isinstance(qmp_path, str) or not _alive(record):
            return
        try:
            from kvmnet.guests.qmp import Qmp

            with Qmp(qmp_path, timeout=3.0) as mon:
                mon.execute("quit")
        except (KvmnetError, OSError):
            pass  # a hung or broken monitor: the signals below still stop it
        if _wait_exit(pid, 5.0):
            return
        process.terminate(pid, expected_cmdline_contains=qmp_path, timeout=5.0)

    # -- hot-plug ----------------------------------------------------------------------------
    def attach_interface(self, name: str, iface: Interface, *, live: bool, config: bool
                         ) -> Interface:
        """Add a NIC to the running guest (``live``) and/or its definition (``config``)."""
        store = self.store
        with store.locked():
            record = self.live(name)
            conf_text = store.read_config(name)
            live, config = _affect(name, live, config, record is not None, conf_text is not None)
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
            iface = replace(iface, mac=mac, model=iface.model or DEFAULT_NIC_MODEL)
            if conf_dom is not None:
                new_conf = replace(conf_dom, interfaces=conf_dom.interfaces + (iface,))
                validate(new_conf)
            if live_dom is not None and record is not None:
                self._hotplug(name, record, live_dom, iface)
            if conf_dom is not None:
                store.write_config(name, format_domain(new_conf))
            return iface

    def _hotplug(self, name: str, record: Record, dom: Domain, iface: Interface) -> None:
        from kvmnet.guests.qmp import Qmp, QmpError
        from kvmnet.port import ports

        used = {i.alias for i in dom.interfaces}
        alias = next(f"net{n}" for n in range(1000) if f"net{n}" not in used)
        info = self._plug(dom, iface)
        record["ports"].append(info.uuid)
        self.store.write_record(name, record)
        plugged = _plugged(iface, info, alias)
        try:
            with Qmp(record["qmp"]) as mon:
                mon.execute("netdev_add", {"type": "tap", "id": qemu.netdev_id(alias),
                                           "ifname": plugged.target_dev, "script": "no",
                                           "downscript": "no"})
                try:
                    mon.execute("device_add", qemu.nic_qmp_args(alias, iface.model,
                                                                iface.mac or "", iface.mtu))
                except QmpError:
                    mon.execute("netdev_del", {"id": qemu.netdev_id(alias)})
                    raise
        except BaseException:
            ports.unplug(self.conn, info.uuid)
            record["ports"].remove(info.uuid)
            self.store.write_record(name, record)
            raise
        new = replace(dom, interfaces=dom.interfaces + (plugged,))
        self.store.write_status(name, format_domain(new, live=True))

    def detach_interface(self, name: str, itype: str, mac: str | None, *, live: bool,
                         config: bool) -> None:
        store = self.store
        with store.locked():
            record = self.live(name)
            conf_text = store.read_config(name)
            live, config = _affect(name, live, config, record is not None, conf_text is not None)
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
            if live_dom is not None and record is not None:
                self._hotunplug(name, record, live_dom, found[0][1])
            if conf_dom is not None:
                store.write_config(name, format_domain(new_conf))

    def _hotunplug(self, name: str, record: Record, dom: Domain, iface: Interface) -> None:
        from kvmnet.guests.qmp import Qmp
        from kvmnet.port import ports

        alias = iface.alias
        if not alias:
            raise HostError(f"interface {iface.mac} of domain '{name}' has no device alias in "
                            "the live state; destroy and start the guest to recover")
        with Qmp(record["qmp"]) as mon:
            mon.execute("device_del", {"id": alias})
            if mon.wait_event("DEVICE_DELETED", {"device": alias}, UNPLUG_TIMEOUT) is None:
                raise HostError(
                    f"the guest did not release interface {iface.mac} ({alias}) within "
                    f"{UNPLUG_TIMEOUT:.0f} s: it must handle ACPI PCI hot-unplug (a guest that "
                    "has not finished booting cannot); the unplug request stays pending, so "
                    "run detach-interface again later, or use --config and restart the guest")
            mon.execute("netdev_del", {"id": qemu.netdev_id(alias)})
        if iface.port_id:
            try:
                ports.unplug(self.conn, iface.port_id)
            except NotFoundError:
                pass
            if iface.port_id in record.get("ports", []):
                record["ports"].remove(iface.port_id)
                self.store.write_record(name, record)
        new = replace(dom, interfaces=tuple(i for i in dom.interfaces if i is not iface))
        self.store.write_status(name, format_domain(new, live=True))


# -- helpers ----------------------------------------------------------------------------------
def _alive(record: Record) -> bool:
    pid = record.get("pid")
    qmp_path = record.get("qmp")
    if not isinstance(pid, int) or pid <= 1 or not isinstance(qmp_path, str):
        return False
    return process.is_alive(pid) and process.cmdline_matches(pid, qmp_path)


def _wait_exit(pid: int, timeout: float) -> bool:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while process.is_alive(pid):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            poller.poll(int(min(left, 0.2) * 1000))
        return True
    finally:
        os.close(fd)


def _launch(argv: list[str], pidfile: str, name: str) -> int:
    """Run QEMU (it daemonizes once the machine is set up); returns the daemon's PID."""
    try:
        os.unlink(pidfile)
    except FileNotFoundError:
        pass
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=LAUNCH_TIMEOUT, check=False)
    except FileNotFoundError:
        raise HostError(f"{argv[0]} is not installed; install the qemu-system-x86 package") \
            from None
    except subprocess.TimeoutExpired:
        raise HostError(f"QEMU did not finish setting up guest '{name}' within "
                        f"{LAUNCH_TIMEOUT:.0f} s") from None
    if proc.returncode != 0:
        why = (proc.stderr or proc.stdout).strip() or f"exit status {proc.returncode}"
        raise HostError(f"QEMU could not start guest '{name}': {why}",
                        " ".join(argv[:1] + ["..."]))
    try:
        with open(pidfile) as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        raise HostError(f"QEMU started guest '{name}' but wrote no pid file {pidfile}") from None


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


def _plugged(iface: Interface, info: PortInfo, alias: str) -> Interface:
    return replace(iface, target_dev=info.tap, alias=alias, port_id=info.uuid,
                   bridge=info.bridge or iface.bridge)


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
