"""The connection (``virConnect``): the one facade for networks, ports, bridges, host
interfaces and guests.

The command line reaches everything through it; each call imports the module that does the
work only when used, so that the cold network verbs stay short.
"""
from __future__ import annotations

import os
from types import TracebackType

TYPE_CHECKING = False  # typing costs ~4.5 ms of a cold start: annotations only

from kvmnet.api.constants import (
    LIST_ALL,
    VIR_CONNECT_LIST_NETWORKS_ACTIVE,
    VIR_CONNECT_LIST_NETWORKS_AUTOSTART,
    VIR_CONNECT_LIST_NETWORKS_INACTIVE,
    VIR_CONNECT_LIST_NETWORKS_NO_AUTOSTART,
    VIR_CONNECT_LIST_NETWORKS_PERSISTENT,
    VIR_CONNECT_LIST_NETWORKS_TRANSIENT,
    VIR_NETWORK_CREATE_VALIDATE,
    VIR_NETWORK_DEFINE_VALIDATE,
)
from kvmnet.api.documents import check_size
from kvmnet.api.network import HINT_LIST, Network, replug_ports
from kvmnet.config.store import Entry, Store, is_safe_name
from kvmnet.errors import (
    ConflictError,
    InvalidArgError,
    KvmnetError,
    NotFoundError,
)
from kvmnet.paths import Paths

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self

    from kvmnet.api.nodedev import NodeDevice
    from kvmnet.bridge.brctl import Bridges
    from kvmnet.engine.step import Step
    from kvmnet.guests import Guests
    from kvmnet.iface.interfaces import Interfaces
    from kvmnet.model.network import Network as NetworkDef
    from kvmnet.network.compile import Manager
    from kvmnet.port.ports import PortInfo


def sort_key(name: str) -> tuple[bytes, bytes]:
    """virsh's order: ASCII case-insensitive (g_ascii_strcasecmp), then exact."""
    raw = name.encode("utf-8", "surrogateescape")
    return raw.lower(), raw


def _log_warning(text: str) -> None:
    import logging

    logging.getLogger("kvmnet").warning("%s", text)


class Connection:
    """A connection to the kvmnet state under one root (``virConnect``)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self._root = root
        self._paths = Paths(root)
        self._store: Store | None = Store(self._paths)
        #: Told about each element or attribute a define ignores (without the VALIDATE flag);
        #: logs a warning by default, the CLI prints ``warning: ...`` lines.
        self.warn: Callable[[str], None] = _log_warning

    # -- plumbing -------------------------------------------------------------
    @property
    def store(self) -> Store:
        if self._store is None:
            raise InvalidArgError("the connection is closed; open a new one with kvmnet.open()")
        return self._store

    @property
    def paths(self) -> Paths:
        """Every kvmnet location under this connection's root."""
        return self._paths

    def close(self) -> int:
        self._store = None
        return 0

    def isAlive(self) -> bool:
        return self._store is not None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def getURI(self) -> str:
        return f"kvmnet://{self._paths.root}"

    # -- define / create -----------------------------------------------------------
    def networkDefineXML(self, xml: str | bytes) -> Network:
        """Define (or redefine) a persistent network; see :mod:`kvmnet.config.define`.

        ``xml`` may be bytes, so that a file's own encoding declaration is honoured.
        Unknown elements and attributes are ignored (each one told to :attr:`warn`).
        """
        return self.networkDefineXMLFlags(xml, 0)

    def networkDefineXMLFlags(self, xml: str | bytes, flags: int = 0) -> Network:
        """``VIR_NETWORK_DEFINE_VALIDATE`` refuses unknown elements and attributes."""
        if flags & ~VIR_NETWORK_DEFINE_VALIDATE:
            raise InvalidArgError(f"unsupported flags 0x{flags:x} for networkDefineXMLFlags")
        from kvmnet.config.define import define

        check_size(xml)
        net = define(self.store, xml, strict=bool(flags & VIR_NETWORK_DEFINE_VALIDATE),
                     warn=self.warn, host_check=host_check)
        assert net.uuid is not None
        from kvmnet.network.precompile import precompile

        precompile(self.store, self.paths, net)
        return Network(self, net.name, net.uuid)

    def networkCreateXML(self, xml: str | bytes) -> Network:
        """Create and start a transient network (it is gone once destroyed)."""
        return self.networkCreateXMLFlags(xml, 0)

    def networkCreateXMLFlags(self, xml: str | bytes, flags: int = 0) -> Network:
        """``VIR_NETWORK_CREATE_VALIDATE`` refuses unknown elements and attributes."""
        if flags & ~VIR_NETWORK_CREATE_VALIDATE:
            raise InvalidArgError(f"unsupported flags 0x{flags:x} for networkCreateXMLFlags")
        from kvmnet.config.define import assign, gather, prepare
        from kvmnet.network.start import start_network

        check_size(xml)
        net = prepare(xml, strict=bool(flags & VIR_NETWORK_CREATE_VALIDATE), warn=self.warn)
        host_check(net)
        store = self.store
        with store.locked():
            entry = store.entry(net.name)
            if (entry is not None and not entry.persistent and entry.active
                    and self._finish_interrupted_destroy(net.name)):
                entry = store.entry(net.name)  # a transient network: gone now
            if entry is not None:
                raise ConflictError(
                    f"network '{net.name}' already exists: start it with 'kvmnet net-start "
                    f"{net.name}', or give the new network another name")
            others, previous = gather(store, net.name)
            net = assign(net, others, previous)
            start_network(net, store, self.paths, notify=self.notify)
            replug_ports(self, net.name)
        assert net.uuid is not None
        return Network(self, net.name, net.uuid)

    def manager(self) -> Manager:
        """Live updates of running networks (:class:`kvmnet.network.compile.Manager`) here."""
        from kvmnet.network.compile import Manager

        return Manager(self.store, self.paths, notify=self.notify)

    def notify(self, text: str) -> None:
        """Tell the user about a change made on their behalf; the CLI replaces this."""
        import logging

        logging.getLogger("kvmnet").warning("%s", text)

    def autostartAll(self) -> list[tuple[str, KvmnetError | None]]:
        """Start every inactive network marked autostart (for boot); one result per network."""
        results: list[tuple[str, KvmnetError | None]] = []
        for net in self.listAllNetworks(VIR_CONNECT_LIST_NETWORKS_AUTOSTART
                                        | VIR_CONNECT_LIST_NETWORKS_INACTIVE):
            try:
                net.create()
                results.append((net.name(), None))
            except KvmnetError as exc:
                results.append((net.name(), exc))
        return results

    def networkPlan(self, net: NetworkDef) -> tuple[Step, ...]:
        """The steps starting ``net`` would apply, in order (nothing is applied)."""
        from kvmnet.network.compile import start_steps

        return start_steps(net, self.paths)

    # -- ports, bridges, host interfaces, guests ---------------------------------------------
    # The command line reaches everything through this facade; each call imports its module
    # only when used, so that the cold network verbs stay short.
    def networkPortCreateXML(self, network: str, xml: str | bytes, *, tap_name: str | None = None,
                             mtu: int | None = None, multi_queue: bool = False,
                             vlan_filtering: bool = False) -> PortInfo:
        """Allocate and plug the port a ``<networkport>`` document describes (net-port-create),
        and wait until its switch took it (``ports.settle``): a port its switch refused is
        unplugged again and the error says why."""
        from kvmnet.port.ports import create_port, settle, unplug

        info = create_port(self, network, xml, tap_name=tap_name, mtu=mtu,
                           multi_queue=multi_queue, vlan_filtering=vlan_filtering)
        try:
            settle(self, [info.uuid])
        except KvmnetError:
            unplug(self, info.uuid)
            raise
        return info

    def listNetworkPorts(self, network: str | None) -> list[PortInfo]:
        """The ports of ``network`` (name or UUID; None: those plugged straight into a bridge)."""
        from kvmnet.port.ports import list_ports

        return list_ports(self, network)

    def networkPortXMLDesc(self, network: str, port_uuid: str) -> str:
        """A port's ``<networkport>`` status document (net-port-dumpxml)."""
        from kvmnet.port.ports import port_xml

        return port_xml(self, network, port_uuid)

    def networkPortDelete(self, port_uuid: str, network: str | None = None) -> str:
        """Unplug and forget a port (on ``network`` when given); returns its canonical UUID."""
        from kvmnet.port.ports import unplug

        unplug(self, port_uuid, network)
        from kvmnet.xmlio.canon import canonical_uuid

        return canonical_uuid(port_uuid)

    def bridges(self) -> Bridges:
        """brctl's commands on the current namespace's bridges (a context manager)."""
        from kvmnet.bridge.brctl import Bridges

        return Bridges()

    def interfaces(self) -> Interfaces:
        """Host interfaces (libvirt's ``virInterface`` calls) under this connection's root."""
        from kvmnet.iface.interfaces import Interfaces

        return Interfaces(self.paths)

    def autostartInterfaces(self) -> list[tuple[str, KvmnetError | None]]:
        """Start every interface defined with ``<start mode='onboot'/>``; one result each."""
        from kvmnet.iface.interfaces import autostart

        return autostart(self)

    def bridgeNF(self, value: bool | None = None) -> dict[str, str | None]:
        """The ``net.bridge.bridge-nf-call-*`` switches (None: br_netfilter not loaded);
        ``value`` sets all three first."""
        from kvmnet.iface.interfaces import bridge_nf

        return bridge_nf(value)

    def guests(self) -> Guests:
        """The guests (libvirt's domain calls on ``virConnect``)."""
        from kvmnet.guests import Guests

        return Guests(self)

    # -- lookup ----------------------------------------------------------------------
    def networkLookupByName(self, name: str) -> Network:
        if self.store.entry(name) is None:
            raise NotFoundError(f"network not found: no network with matching name {name!r}; "
                                + HINT_LIST)
        return Network(self, name)

    def networkLookupByUUIDString(self, uuidstr: str) -> Network:
        from kvmnet.xmlio.canon import canonical_uuid

        wanted = canonical_uuid(uuidstr)
        from kvmnet.config.define import other_networks

        # no network is named "": every stored one is a candidate (a damaged file names none)
        holder = other_networks(self.store, "").uuid_user(wanted)
        if holder is None:
            raise NotFoundError(f"network not found: no network with matching uuid "
                                f"{uuidstr!r}; " + HINT_LIST)
        return Network(self, holder, wanted)

    def networkLookupByUUID(self, raw: bytes) -> Network:
        if len(raw) != 16:
            raise InvalidArgError(f"a raw UUID is 16 bytes, got {len(raw)}")
        return self.networkLookupByUUIDString(raw.hex())

    def lookupNetwork(self, ident: str) -> Network:
        """By UUID when ``ident`` looks like one and matches, else by name (as virsh does)."""
        if len(ident) == 36 or (len(ident) == 32 and "-" not in ident):
            try:
                return self.networkLookupByUUIDString(ident)
            except NotFoundError:
                pass
        if self.store.entry(ident) is None and not self._half_destroyed(ident):
            raise NotFoundError(f"network not found: no network with matching name or uuid "
                                f"{ident!r}; " + HINT_LIST)
        return Network(self, ident)

    def _finish_interrupted_destroy(self, name: str) -> bool:
        """Finish the destroy of active network ``name`` if one was cut short after its
        bridge went (kvmnet.network.start.interrupted_destroy); True if there was one.  Asked
        only before refusing a start as "already active"."""
        from kvmnet.network.runtime import Host, Runtime
        from kvmnet.network.start import finish, interrupted_destroy

        host = Host()
        ghost = interrupted_destroy(self.store, Runtime(self.paths, name), host)
        if ghost is None:
            return False
        finish(ghost, "an interrupted destroy", self.store, host, self.notify)
        return True

    def _half_destroyed(self, name: str) -> bool:
        """Whether ``name`` is known only by its journal: a transient network whose destroy
        was interrupted after its status (its only definition) went.  Its handle can only be
        destroyed, which finishes the teardown (kvmnet.network.runtime.destroy)."""
        return is_safe_name(name) and os.path.isfile(
            os.path.join(self.paths.text("run_networks"), f"{name}.json"))

    # -- listing ---------------------------------------------------------------------
    def _entries(self, flags: int) -> list[Entry]:
        if flags & ~LIST_ALL:
            raise InvalidArgError(f"unsupported flags 0x{flags & ~LIST_ALL:x} for listAllNetworks")

        def pick(value: bool, yes: int, no: int) -> bool:
            group = flags & (yes | no)
            return not group or bool(group & (yes if value else no))

        chosen = [
            e for e in self.store.entries()
            if pick(e.active, VIR_CONNECT_LIST_NETWORKS_ACTIVE, VIR_CONNECT_LIST_NETWORKS_INACTIVE)
            and pick(e.persistent, VIR_CONNECT_LIST_NETWORKS_PERSISTENT,
                     VIR_CONNECT_LIST_NETWORKS_TRANSIENT)
            and pick(e.autostart, VIR_CONNECT_LIST_NETWORKS_AUTOSTART,
                     VIR_CONNECT_LIST_NETWORKS_NO_AUTOSTART)
        ]
        chosen.sort(key=lambda e: sort_key(e.name))
        return chosen

    def listAllNetworks(self, flags: int = 0) -> list[Network]:
        return [Network(self, e.name, entry=e) for e in self._entries(flags)]

    def listNetworks(self) -> list[str]:
        """Names of the active networks."""
        return [e.name for e in self._entries(VIR_CONNECT_LIST_NETWORKS_ACTIVE)]

    def listDefinedNetworks(self) -> list[str]:
        """Names of the inactive (defined, not running) networks."""
        return [e.name for e in self._entries(VIR_CONNECT_LIST_NETWORKS_INACTIVE)]

    def numOfNetworks(self) -> int:
        return len(self.listNetworks())

    def numOfDefinedNetworks(self) -> int:
        return len(self.listDefinedNetworks())

    # -- node devices (kvmnet.api.nodedev: imported when first asked) -----------------------
    def listAllDevices(self, flags: int = 0) -> list[NodeDevice]:
        from kvmnet.api.nodedev import list_all

        return list_all(self.paths, flags)

    def listDevices(self, cap: str | None = None, flags: int = 0) -> list[str]:
        from kvmnet.api.nodedev import list_all, node_device_cap_flags

        return [d.name() for d in list_all(self.paths, node_device_cap_flags([cap or ""]))]

    def numOfDevices(self, cap: str | None = None, flags: int = 0) -> int:
        return len(self.listDevices(cap, flags))

    def nodeDeviceLookupByName(self, name: str) -> NodeDevice:
        from kvmnet.api.nodedev import lookup_by_name

        return lookup_by_name(self.paths, name)


def host_check(net: NetworkDef) -> None:
    """What define checks on the host itself, per forward mode (``ModeRules.define_check``)."""
    from kvmnet.model.modes import hook, mode_of

    check = mode_of(net).define_check
    if check:
        hook(check)(net)
