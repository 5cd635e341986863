"""Host interfaces: the public API behind the ``iface-*`` verbs (libvirt's virInterface*).

An interface is known to kvmnet when it has a definition (libvirt interface XML under
``etc/kvmnet/interfaces``) or exists on the host: like virsh with the netcf backend, the list
shows both, an interface is *active* when its link exists and is up, and MAC addresses come
from the kernel.  Starting a definition configures what this kernel can run -- MTU, static
addresses and the default route of ethernet devices; bridges with their ports, STP and delay;
VLANs and bonds when the kernel has 802.1Q/bonding -- through :mod:`kvmnet.iface.bridging`, which
moves addresses and routes without dropping connectivity.  kvmnet runs no DHCP client for the
host: ``<dhcp/>`` is kept in the definition and reported as a note on start.

Every live change (``iface-start``, ``iface-destroy``, ``iface-bridge``, ``iface-unbridge``) is
the engine steps of :func:`kvmnet.iface.bridging.converge_steps` run by the one executor with
the interfaces' crash journal (``run/kvmnet/interfaces/journal.json``, the engine's one
format): each step's undo is journalled before it runs, a failure undoes the change step by
step, and a kvmnet killed midway leaves the journal, which the next changing verb (those, and
``iface-begin``/``iface-rollback``) undoes first.  The journal lives only while a change runs.

Changes can be wrapped in a transaction (``begin``/``commit``/``rollback``: a snapshot of the
definitions and of the live state) and guarded like ``netplan try``: :meth:`Interfaces.guard`
starts a detached kvmnet process that rolls the transaction back after N seconds unless
:meth:`Interfaces.commit` stops it first (by PID, safe against PID reuse).  The transaction
stays a snapshot, not a journal: it is the user's unit of change (many verbs, definitions
included) and may end in a rollback long after the changes were made, so it is restored by
converging to the snapshot (best effort, the same steps without a journal), not by undoing
recorded steps that later changes may have overtaken.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kvmnet.engine.host import Host
from kvmnet.engine.journal import Journal
from kvmnet.errors import (
    VIR_ERR_NO_INTERFACE,
    ConflictError,
    HostError,
    InvalidArgError,
    KvmnetError,
    NotFoundError,
    OperationInvalidError,
    XMLParseError,
)
from kvmnet.iface.store import IfaceStore, check_clash, check_definition, check_name
from kvmnet.model.interface import (
    LINK_STATES,
    BondDef,
    BridgeDef,
    InterfaceDef,
    IPAddress,
    Link,
    Protocol,
    VlanDef,
)
from kvmnet.paths import Paths

if TYPE_CHECKING:
    from kvmnet.host.netlink import Netlink
    from kvmnet.iface.bridging import LiveState

MAX_XML_BYTES = 1024 * 1024
NO_MAC = "00:00:00:00:00:00"  # what virsh shows for an interface without a known MAC
_HINT = "run 'kvmnet iface-list --all' to see the interfaces"


@dataclass(frozen=True)
class IfaceInfo:
    """One row of ``iface-list``."""

    name: str
    active: bool
    mac: str
    defined: bool
    live: bool


def _not_found(name: str) -> NotFoundError:
    return NotFoundError(f"interface '{name}' not found: it is neither defined nor present on "
                         f"this host; {_HINT}", code=VIR_ERR_NO_INTERFACE)


def is_mac(text: str) -> bool:
    parts = text.split(":")
    return len(parts) == 6 and all(1 <= len(p) <= 2 and all(c in "0123456789abcdefABCDEF"
                                                              for c in p) for p in parts)


def canonical_mac(text: str) -> str:
    return ":".join(f"{int(p, 16):02x}" for p in text.split(":"))


class Interfaces:
    """Host interfaces under one state root, in the network namespace kvmnet runs in."""

    def __init__(self, paths: Paths | None = None) -> None:
        self.paths = paths if paths is not None else Paths()
        self.store = IfaceStore(self.paths)

    @contextmanager
    def _netlink(self) -> Iterator[Netlink]:
        from kvmnet.host.netlink import Netlink

        with Netlink() as nl:
            yield nl

    def _live(self) -> LiveState:
        from kvmnet.iface.bridging import capture

        with self._netlink() as nl:
            return capture(nl)

    # -- lookups ------------------------------------------------------------------------------
    def resolve(self, ident: str) -> str:
        """The name of an interface given by name or MAC address (virsh's lookup order)."""
        return self.name_of(ident) if is_mac(ident) else ident

    def list_all(self) -> list[IfaceInfo]:
        """Every defined or live interface, in virsh's order (case-insensitive by name)."""
        live = self._live()
        defs = self.store.load_all()
        out = []
        for name in set(defs) | set(live.links):
            link = live.links.get(name)
            d = defs.get(name)
            mac = (link.mac if link is not None and link.mac else
                   (d.mac if d is not None and d.mac else NO_MAC))
            out.append(IfaceInfo(name, link is not None and link.up, mac, d is not None,
                                 link is not None))
        return sorted(out, key=lambda i: (i.name.lower(), i.name))

    def definition(self, ident: str) -> InterfaceDef | None:
        return self.store.load(self.resolve(ident))

    def xml(self, ident: str, inactive: bool = False) -> str:
        """``iface-dumpxml``: the live state of an active interface, else its definition
        (``inactive``: the definition, or for an undefined device its settings as one)."""
        from kvmnet.xmlio.interface import format_interface

        name = self.resolve(ident)
        d = self.store.load(name)
        if d is not None and inactive:
            return format_interface(d)
        live = self._live()
        link = live.links.get(name)
        if d is not None and (link is None or not link.up):
            return format_interface(d)
        if link is None:
            raise _not_found(name)
        now = live_definition(live, name, status=not inactive)
        if d is not None:
            now = replace(now, start_mode=d.start_mode)
        return format_interface(now)

    def mac_of(self, name: str) -> str:
        """``iface-mac``: the kernel's MAC of the interface, else the definition's."""
        link = self._live().links.get(name)
        if link is not None and link.mac:
            return str(link.mac)
        d = self.store.load(name)
        if d is None:
            raise _not_found(name)
        if not d.macs():
            raise OperationInvalidError(f"interface '{name}' has no MAC address: it is not on "
                                        "the host and its definition names none")
        return d.macs()[0]

    def name_of(self, mac: str) -> str:
        """``iface-name``: the one interface with this MAC (live ones first, then definitions)."""
        if not is_mac(mac):
            raise InvalidArgError(f"'{mac}' is not a MAC address; write six hex bytes "
                                  "separated by colons, e.g. 52:54:00:12:34:56")
        want = canonical_mac(mac)
        found = sorted(n for n, link in self._live().links.items()
                       if link.mac and link.mac.lower() == want)
        if not found:
            found = sorted(n for n, d in self.store.load_all().items()
                           if d.mac and d.mac.lower() == want)
        if not found:
            raise NotFoundError(f"no interface has the MAC address {want}; {_HINT}",
                                code=VIR_ERR_NO_INTERFACE)
        if len(found) > 1:
            raise ConflictError(f"multiple interfaces have the MAC address {want}: "
                                f"{', '.join(found)} (a bridge shares its port's MAC); name "
                                "the interface instead")
        return found[0]

    # -- definitions ----------------------------------------------------------------------------
    def define_xml(self, xml: str | bytes, *, strict: bool = False,
                   warn: Callable[[str], None] | None = None) -> InterfaceDef:
        """``iface-define``: parse, check and store; replaces a definition of the same name.

        Unknown elements and attributes: ``strict`` (``--validate``) refuses them, else they
        are ignored as libvirt does and ``warn`` hears of each.
        """
        from kvmnet.xmlio.interface import parse_interface
        from kvmnet.xmlio.strict import mention_ignored, settle

        size = len(xml) if isinstance(xml, bytes) else len(xml.encode("utf-8", "surrogatepass"))
        if size > MAX_XML_BYTES:
            raise XMLParseError(f"interface XML is {size} bytes; kvmnet accepts at most "
                                f"{MAX_XML_BYTES}: check that this is the right file")
        unknown: list[str] | None = [] if strict or warn is not None else None
        iface = parse_interface(xml, unknown=unknown)
        if unknown and strict:
            settle(unknown, "interface XML", validate=True, warn=None)
        try:
            defined = self.define(iface)
        except KvmnetError as exc:
            if unknown:  # what was ignored may be the cause: say so in the one error line
                raise mention_ignored(exc, unknown) from None
            raise
        if unknown:
            settle(unknown, "interface XML", validate=False, warn=warn)
        return defined

    def define(self, iface: InterfaceDef) -> InterfaceDef:
        check_definition(iface)
        with self.store.locked():
            defs = self.store.load_all()
            # As netcf does, a device's own definition is folded into the bridge/bond that
            # now contains it.
            absorbed = {d.name for d in iface.walk()[1:]} & set(defs)
            for other in defs.values():
                if other.name != iface.name and other.name not in absorbed:
                    check_clash(iface, other)
            self.store.write(iface)
            for name in absorbed:
                self.store.delete(name)
        return iface

    def undefine(self, ident: str) -> str:
        name = self.resolve(ident)
        with self.store.locked():
            if not self.store.delete(name):
                if name in self._live().links:
                    raise OperationInvalidError(f"interface '{name}' is not defined (it exists "
                                                "on the host, but kvmnet has no definition)")
                raise _not_found(name)
        return name

    # -- start / destroy ----------------------------------------------------------------------------
    def start(self, ident: str) -> list[str]:
        """``iface-start``: configure the host as the definition says; returns notes."""
        name = self.resolve(ident)
        with self.store.locked(), self._netlink() as nl:
            d = self.store.load(name)
            if d is None:
                if name in self._live().links:
                    raise OperationInvalidError(
                        f"interface '{name}' has no definition to start; define one with "
                        f"'kvmnet iface-define FILE' (see 'kvmnet iface-dumpxml {name} "
                        "--inactive' for its current settings)")
                raise _not_found(name)
            return self._start(nl, d)

    def _start(self, nl: Netlink, d: InterfaceDef) -> list[str]:
        from kvmnet.iface.bridging import capture, converge, plan_start

        self._recover(nl)
        before = capture(nl)
        plan = plan_start(d, before)
        made = (set(plan.target.links) | plan.new_links) - set(before.links)
        # The executor journals each step's undo and, on failure, undoes them all: the host
        # is as before, links made here go away.
        converge(nl, plan.target, deletable=set(), journal=self._journal(d.name),
                 before=plan.precreate)
        self._journal(d.name).delete()
        if made:
            self.store.set_created(self.store.created() | made)
        return plan.notes

    # -- the crash journal of a change -------------------------------------------------------------
    def _journal(self, owner: str) -> Journal:
        """The journal of the change being made (one at a time: the store lock): each step's
        undo, written before the step; deleted once the change is complete."""
        return Journal(self.paths.run_interfaces / "journal.json", owner)

    def _recover(self, nl: Netlink) -> None:
        """Roll back a change a killed kvmnet left half-made (its journal), before the next."""
        from kvmnet.engine.executor import Context, undo_and_forget

        leftover = Journal.load(self.paths.run_interfaces / "journal.json")
        if leftover is None:
            return
        failures = undo_and_forget(leftover, Context(Host(), nl=nl))
        if failures:
            raise HostError(f"an interrupted change of interface '{leftover.owner}' could not "
                            f"be rolled back: {'; '.join(failures)}; fix that, then retry")

    def destroy(self, ident: str) -> str:
        """``iface-destroy``: take the interface down (virtual links kvmnet manages go away)."""
        from kvmnet.iface.bridging import capture, converge, plan_destroy

        name = self.resolve(ident)
        with self.store.locked(), self._netlink() as nl:
            self._recover(nl)
            d = self.store.load(name)
            cur = capture(nl)
            link = cur.links.get(name)
            if link is None or not link.up:
                if d is None and link is None:
                    raise _not_found(name)
                raise OperationInvalidError(f"interface '{name}' is not active")
            created = self.store.created()
            target, deletable = plan_destroy(d, cur, name, created)
            converge(nl, target, deletable=deletable, journal=self._journal(name))
            self._journal(name).delete()
            if deletable & created:
                self.store.set_created(created - deletable)
        return name

    # -- bridge / unbridge --------------------------------------------------------------------------
    def bridge(self, iface: str, bridge: str, *, stp: bool = True, delay: int = 0,
               start: bool = True) -> list[str]:
        """``iface-bridge``: define BRIDGE with IFACE as its port and (unless ``start`` is
        false) move IFACE's addresses and routes onto it; returns notes."""
        with self.store.locked():
            br_def = bridge_definition(iface, bridge, self.store.load(iface), self._live(),
                                       self.store.load_all(), stp=stp, delay=delay)
            saved = self.store.files()
            self.define(br_def)
            if not start:
                return []
            try:
                with self._netlink() as nl:
                    return self._start(nl, br_def)
            except BaseException:
                self.store.restore_files(saved)  # a bridge that did not come up stays undefined
                raise

    def unbridge(self, bridge: str, *, start: bool = True) -> str:
        """``iface-unbridge``: give the bridge's addresses and routes back to its one port,
        delete the bridge and define the port; returns the port's name."""
        from kvmnet.iface.bridging import capture, converge, drop_link, move_l3

        with self.store.locked(), self._netlink() as nl:
            self._recover(nl)
            cur = capture(nl)
            port_def = unbridge_definition(bridge, self.store.load(bridge), cur)
            port = port_def.name
            self._check_unused(bridge, port, cur)
            saved = self.store.files()
            self.store.delete(bridge)
            try:
                self.define(port_def)
            except BaseException:
                self.store.restore_files(saved)
                raise
            if bridge in cur.links:
                target = cur.copy()
                if start:
                    move_l3(target, bridge, port)
                drop_link(target, bridge)
                if port in target.links:
                    target.links[port] = replace(target.links[port], up=True)
                converge(nl, target, deletable={bridge}, journal=self._journal(bridge))
                self._journal(bridge).delete()
                self.store.set_created(self.store.created() - {bridge})
            elif start and port in cur.links:
                self._start(nl, port_def)
        return port

    def _check_unused(self, bridge: str, port: str, cur: LiveState) -> None:
        """iface-unbridge takes the bridge apart: refuse (as virsh does) while it holds ports
        other than ``port`` or carries an active kvmnet network, naming them."""
        from kvmnet.config.store import Store

        others = [p for p in cur.ports_of(bridge) if p != port]
        networks = sorted(name for name, peek in Store(self.paths).peeks(status=True)
                          if peek.bridge == bridge)
        uses, fixes = [], []
        if others:
            uses.append(f"it still holds {'ports' if len(others) > 1 else 'port'} "
                        f"{', '.join(others)} besides {port}")
            fixes.append(f"take {'them' if len(others) > 1 else 'it'} out ("
                         + ", ".join(f"'kvmnet bridge delif {bridge} {p}'" for p in others) + ")")
        if networks:
            uses.append(f"active network{'s' if len(networks) > 1 else ''} "
                        + ", ".join(f"'{n}'" for n in networks) + " runs on it")
            fixes.append(f"stop {'them' if len(networks) > 1 else 'it'} ("
                         + ", ".join(f"'kvmnet net-destroy {n}'" for n in networks) + ")")
        if uses:
            raise OperationInvalidError(
                f"bridge {bridge} is in use ({'; '.join(uses)}): iface-unbridge would cut "
                f"them off; {' and '.join(fixes)} first; nothing was changed")

    # -- transactions ----------------------------------------------------------------------------
    def begin(self) -> str:
        """``iface-begin``: save definitions and live state to roll back to; returns a token."""
        from kvmnet.iface.bridging import capture

        with self.store.locked():
            tx = self.store.transaction()
            if tx is not None:
                since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(tx.get("time", 0)))
                raise OperationInvalidError(
                    f"a network config change transaction is already open (since {since}); "
                    "commit it with 'kvmnet iface-commit' or undo it with 'kvmnet "
                    "iface-rollback' first")
            with self._netlink() as nl:
                self._recover(nl)
                live = capture(nl)
            token = uuid.uuid4().hex
            self.store.write_transaction({
                "token": token, "time": time.time(), "definitions": self.store.files(),
                "live": live.to_json(), "created": sorted(self.store.created())})
        return token

    def _open_tx(self) -> dict[str, Any]:
        tx = self.store.transaction()
        if tx is None:
            raise OperationInvalidError(
                "no network config change transaction is open (it was committed, rolled back "
                "-- perhaps by a confirm timeout -- or never begun); start one with 'kvmnet "
                "iface-begin'")
        return tx

    def commit(self) -> None:
        """``iface-commit``: keep the changes, forget the snapshot, stop a confirm guard."""
        with self.store.locked():
            self._open_tx()
            self._stop_guard()
            self.store.delete_transaction()

    def rollback(self, *, token: str | None = None) -> list[str]:
        """``iface-rollback``: restore the snapshot; returns what could not be restored.

        With ``token`` (the guard's own call) only that transaction is rolled back; one that
        was committed or replaced meanwhile is left alone.
        """
        from kvmnet.iface.bridging import LiveState, converge

        with self.store.locked():
            tx = self.store.transaction() if token is not None else self._open_tx()
            if tx is None or (token is not None and tx.get("token") != token):
                return []
            if token is None:
                self._stop_guard()
            target = LiveState.from_json(tx["live"])
            created_now = self.store.created()
            with self._netlink() as nl:
                self._recover(nl)
                outcome = converge(nl, target, deletable=created_now - set(target.links),
                                   best_effort=True)
            self.store.restore_files(dict(tx.get("definitions", {})))
            self.store.set_created(set(tx.get("created", [])) | outcome.created)
            self.store.delete_transaction()
            if token is not None:
                self.store.delete_guard()
        return outcome.problems

    # -- the confirm-timeout guard -----------------------------------------------------------------
    def guard(self, token: str, seconds: float) -> int:
        """Start the detached process that rolls transaction ``token`` back after ``seconds``
        unless it is committed first; records and returns its PID."""
        argv = [sys.executable, "-m", "kvmnet", "--root", str(self.paths.root.resolve()),
                "iface-rollback", "--guard", token, "--after", f"{seconds:g}"]
        self.paths.run_interfaces.mkdir(parents=True, exist_ok=True)
        with open(self.store.guard_log, "ab") as log:
            # A new session: the guard must outlive the terminal (and SSH session) that the
            # change may have cut off.
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True, close_fds=True, cwd="/")
        self.store.write_guard(proc.pid, token)
        return proc.pid

    def _stop_guard(self) -> None:
        import signal

        from kvmnet.host.process import is_alive, send_signal

        found = self.store.guard()
        if found is None:
            return
        pid, token = found
        if pid != os.getpid() and send_signal(pid, signal.SIGTERM,
                                              expected_cmdline_contains=token):
            deadline = time.monotonic() + 5.0
            while is_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.01)
        self.store.delete_guard()

    def run_guard(self, token: str, seconds: float) -> list[str]:
        """The guard process's body: wait, then roll back unless committed meanwhile."""
        import signal

        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        time.sleep(max(0.0, seconds))
        problems = self.rollback(token=token)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        sys.stdout.write(f"{stamp} guard {token}: rolled back"
                         + (f"; problems: {problems}" if problems else "") + "\n")
        return problems


# -- definitions read from the host ---------------------------------------------------------------
def _vlans() -> dict[str, tuple[int, str]]:
    """name -> (tag, device) from /proc/net/vlan/config (absent without 8021q)."""
    out: dict[str, tuple[int, str]] = {}
    try:
        with open("/proc/net/vlan/config", encoding="utf-8") as f:
            lines = f.read().splitlines()[2:]  # two header lines
    except OSError:
        return out
    for line in lines:
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[1].isdigit():
            out[parts[0]] = (int(parts[1]), parts[2])
    return out


def _protocols(state: LiveState, name: str) -> tuple[Protocol, ...]:
    out = []
    for family, version in (("ipv4", 4), ("ipv6", 6)):
        ips = tuple(IPAddress(a.address, a.prefixlen) for a in state.addresses_of(name)
                    if a.family == version)
        gateway = next((r.gateway for r in state.routes if r.ifname == name and r.gateway
                        and r.prefixlen == 0 and r.family == version), None)
        has_any = any(a.ifname == name and a.family == version for a in state.addresses)
        if ips or gateway or (version == 6 and has_any):
            out.append(Protocol(family=family, ips=ips, gateway=gateway))
    return tuple(out)


def _delay_text(forward_delay_cs: int | None) -> str | None:
    if forward_delay_cs is None:
        return None
    return f"{forward_delay_cs / 100:g}"


def live_definition(state: LiveState, name: str, *, status: bool) -> InterfaceDef:
    """A definition describing ``name`` as it is on the host now.

    ``status`` adds what is state rather than configuration (``<link state=...>``), as
    libvirt's live XML does; without it the result can be defined and started again.
    """
    link = state.links[name]
    vlans = _vlans()
    lnk = Link()
    if status and link.operstate and link.operstate.lower() in LINK_STATES:
        lnk = Link(state=link.operstate.lower())
    common: dict[str, Any] = {"name": name, "mtu": link.mtu or 0,
                              "protocols": _protocols(state, name)}
    if link.kind == "bridge":
        ports = tuple(_port(state, p) for p in state.ports_of(name))
        return InterfaceDef(type="bridge", **common, bridge=BridgeDef(
            stp=bool(link.stp), delay=_delay_text(link.forward_delay_cs), interfaces=ports))
    if link.kind == "vlan" and name in vlans:
        tag, device = vlans[name]
        return InterfaceDef(type="vlan", **common, link=lnk, vlan=VlanDef(tag, device))
    if link.kind == "bond" and state.ports_of(name):
        slaves = tuple(InterfaceDef(type="ethernet", name=p, mac=state.links[p].mac)
                       for p in state.ports_of(name))
        return InterfaceDef(type="bond", **common, link=lnk, bond=BondDef(interfaces=slaves))
    return InterfaceDef(type="ethernet", **common, link=lnk, mac=link.mac)


def _port(state: LiveState, name: str) -> InterfaceDef:
    link = state.links[name]
    vlans = _vlans()
    if link.kind == "vlan" and name in vlans:
        return InterfaceDef(type="vlan", name=name, vlan=VlanDef(*vlans[name]))
    if link.kind == "bond" and state.ports_of(name):
        slaves = tuple(InterfaceDef(type="ethernet", name=p, mac=state.links[p].mac)
                       for p in state.ports_of(name))
        return InterfaceDef(type="bond", name=name, bond=BondDef(interfaces=slaves))
    return InterfaceDef(type="ethernet", name=name, mac=link.mac)


# -- definitions derived from others (iface-bridge / iface-unbridge, as virsh builds them) -------
def bridge_definition(iface: str, bridge: str, base: InterfaceDef | None, live: LiveState,
                      defs: dict[str, InterfaceDef], *, stp: bool, delay: int) -> InterfaceDef:
    """The bridge virsh's iface-bridge defines: IFACE's start mode, MTU and addressing move
    up to the bridge, its MAC/bond/VLAN part moves down into the nested port."""
    if iface == "lo":
        raise InvalidArgError("the loopback device lo cannot be attached to a bridge: it "
                              "carries only the host's own traffic; name a network device")
    if iface == bridge:
        raise InvalidArgError(f"a bridge cannot be attached to itself: choose a new name for "
                              f"the bridge that is to carry {iface}")
    check_name(bridge)
    link = live.links.get(iface)
    if base is None and link is None:
        raise _not_found(iface)
    if (base is not None and base.type == "bridge") or (link is not None and link.kind == "bridge"):
        raise OperationInvalidError(f"existing device {iface} is already a bridge; bridges "
                                    "cannot be attached to bridges")
    if bridge in defs or bridge in live.links:
        raise ConflictError(f"network device {bridge} already exists; choose another name for "
                            "the new bridge")
    if link is not None and link.master:
        from kvmnet.iface.bridging import release_hint

        raise ConflictError(f"interface '{iface}' is already attached to '{link.master}'; a "
                            "device can be attached to one bridge only: detach it first ("
                            f"{release_hint(live, iface, link.master)})")
    for other in defs.values():
        if iface in {d.name for d in other.walk()[1:]}:
            raise ConflictError(f"interface '{iface}' is already part of {other.type} "
                                f"'{other.name}'; detach it first (e.g. 'kvmnet "
                                f"iface-unbridge {other.name}')")
    if base is None:
        base = live_definition(live, iface, status=False)
    port = InterfaceDef(type=base.type, name=iface, mac=base.mac, bond=base.bond, vlan=base.vlan)
    return InterfaceDef(type="bridge", name=bridge, start_mode=base.start_mode, mtu=base.mtu,
                        protocols=base.protocols,
                        bridge=BridgeDef(stp=stp, delay=str(delay) if stp else None,
                                         interfaces=(port,)))


def unbridge_definition(bridge: str, base: InterfaceDef | None, live: LiveState) -> InterfaceDef:
    """The port's definition after virsh's iface-unbridge: the bridge's start mode, MTU and
    addressing move down to its one port."""
    link = live.links.get(bridge)
    if base is None and link is None:
        raise _not_found(bridge)
    if (base.type if base is not None else link.kind if link is not None else None) != "bridge":
        raise OperationInvalidError(f"device {bridge} is not a bridge")
    if base is None:
        base = live_definition(live, bridge, status=False)
    ports = base.bridge.interfaces if base.bridge is not None else ()
    if not ports:
        raise OperationInvalidError(f"no interface is attached to bridge {bridge}, so there is "
                                    f"nothing to hand its configuration to; remove it with "
                                    f"'kvmnet iface-destroy {bridge}' and 'kvmnet "
                                    f"iface-undefine {bridge}'")
    if len(ports) > 1:
        raise OperationInvalidError(f"multiple interfaces are attached to bridge {bridge} ("
                                    + ", ".join(p.name for p in ports) + "); iface-unbridge "
                                    "hands the bridge's configuration to a single port: detach "
                                    "the others first")
    p = ports[0]
    return InterfaceDef(type=p.type, name=p.name, start_mode=base.start_mode, mtu=base.mtu,
                        protocols=base.protocols, link=p.link, mac=p.mac, bond=p.bond,
                        vlan=p.vlan)


def autostart(conn_or_paths: Any = None) -> list[tuple[str, KvmnetError | None]]:
    """Start every interface defined with ``<start mode='onboot'/>`` (``kvmnet autostart`` at
    boot): one ``(name, error or None)`` each, ports and VLANs before bridges.

    ``conn_or_paths`` is a :class:`kvmnet.api.Connection`, a :class:`Paths` or None
    (``$KVMNET_ROOT``)."""
    paths = conn_or_paths if isinstance(conn_or_paths, Paths) else \
        getattr(conn_or_paths, "paths", None)
    ifaces = Interfaces(paths)
    onboot = [d for d in ifaces.store.load_all().values() if d.start_mode == "onboot"]
    results: list[tuple[str, KvmnetError | None]] = []
    for d in sorted(onboot, key=lambda d: (d.type == "bridge", d.name)):
        try:
            ifaces.start(d.name)
            results.append((d.name, None))
        except KvmnetError as exc:
            results.append((d.name, exc))
        except OSError as exc:
            results.append((d.name, HostError(f"starting interface {d.name} failed: {exc}")))
    return results


def bridge_nf(value: bool | None = None) -> dict[str, str | None]:
    """The ``net.bridge.bridge-nf-call-*`` switches, key -> "0"/"1" or None when the key does
    not exist (br_netfilter not loaded); ``value`` sets all three first."""
    from kvmnet.iface.bridging import bridge_nf as apply

    return apply(value)
