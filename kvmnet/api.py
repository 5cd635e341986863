"""A libvirt-python shaped API over kvmnet's store.

``kvmnet.open()`` gives a :class:`Connection`; its methods and the
:class:`Network` handles mirror ``libvirt.virConnect`` and
``libvirt.virNetwork`` (same names, same numeric flags and enums), so code
written for libvirt-python reads the same.  Errors are
:class:`~kvmnet.errors.KvmnetError` subclasses with ``get_error_code()``.

Starting (``create``, ``networkCreateXML``), stopping (``destroy``) and live
updates go to :mod:`kvmnet.network.start`, :mod:`kvmnet.network.runtime` and
:mod:`kvmnet.network.compile`, imported only when used.  Nothing here imports lxml
until a document must be parsed, which keeps ``kvmnet net-list`` quick to
start.  The connection also hands out the other objects, as ``virConnect`` does: guest
ports (``networkPort*``), bridges (:meth:`Connection.bridges`), host interfaces
(:meth:`Connection.interfaces`) and guests (:meth:`Connection.guests`, with the
``VIR_DOMAIN_*`` constants loaded from :mod:`kvmnet.guests` on first use).  This is the
one facade: the command line uses nothing else that acts (see :mod:`kvmnet.cli`).
"""
from __future__ import annotations

import os
import time
from types import TracebackType

TYPE_CHECKING = False  # typing costs ~4.5 ms of a cold start: annotations only

from kvmnet.config.store import CorruptStoreError, Entry, Store, is_safe_name
from kvmnet.errors import (
    InvalidArgError,
    KvmnetError,
    NotFoundError,
    OperationInvalidError,
    XMLParseError,
)
from kvmnet.model.update import COMMAND_NAMES, SECTION_NAMES
from kvmnet.paths import Paths

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self

    from kvmnet.bridge.brctl import Bridges
    from kvmnet.engine.step import Step
    from kvmnet.guests import Guests
    from kvmnet.iface.interfaces import Interfaces
    from kvmnet.model.network import Network as NetworkDef
    from kvmnet.network.compile import Manager
    from kvmnet.port.ports import PortInfo

# virConnectListAllNetworksFlags
VIR_CONNECT_LIST_NETWORKS_INACTIVE = 1
VIR_CONNECT_LIST_NETWORKS_ACTIVE = 2
VIR_CONNECT_LIST_NETWORKS_PERSISTENT = 4
VIR_CONNECT_LIST_NETWORKS_TRANSIENT = 8
VIR_CONNECT_LIST_NETWORKS_AUTOSTART = 16
VIR_CONNECT_LIST_NETWORKS_NO_AUTOSTART = 32

# virNetworkXMLFlags
VIR_NETWORK_XML_INACTIVE = 1

# virNetworkDefineFlags, virNetworkCreateFlags: refuse unknown elements and attributes
# (libvirt: validate against the RelaxNG schema) instead of ignoring them.
VIR_NETWORK_DEFINE_VALIDATE = 1
VIR_NETWORK_CREATE_VALIDATE = 1

# virNetworkUpdateCommand (libvirt-python's names for kvmnet.model.update's numbers)
VIR_NETWORK_UPDATE_COMMAND_NONE = 0
VIR_NETWORK_UPDATE_COMMAND_MODIFY = 1
VIR_NETWORK_UPDATE_COMMAND_DELETE = 2
VIR_NETWORK_UPDATE_COMMAND_ADD_LAST = 3
VIR_NETWORK_UPDATE_COMMAND_ADD_FIRST = 4

# virNetworkUpdateSection (libvirt-python's names for kvmnet.model.update's numbers)
VIR_NETWORK_SECTION_NONE = 0
VIR_NETWORK_SECTION_BRIDGE = 1
VIR_NETWORK_SECTION_DOMAIN = 2
VIR_NETWORK_SECTION_IP = 3
VIR_NETWORK_SECTION_IP_DHCP_HOST = 4
VIR_NETWORK_SECTION_IP_DHCP_RANGE = 5
VIR_NETWORK_SECTION_FORWARD = 6
VIR_NETWORK_SECTION_FORWARD_INTERFACE = 7
VIR_NETWORK_SECTION_FORWARD_PF = 8
VIR_NETWORK_SECTION_PORTGROUP = 9
VIR_NETWORK_SECTION_DNS_HOST = 10
VIR_NETWORK_SECTION_DNS_TXT = 11
VIR_NETWORK_SECTION_DNS_SRV = 12

# virNetworkUpdateFlags
VIR_NETWORK_UPDATE_AFFECT_CURRENT = 0
VIR_NETWORK_UPDATE_AFFECT_LIVE = 1
VIR_NETWORK_UPDATE_AFFECT_CONFIG = 2

#: Names of the update commands and sections, as virsh spells them (index = enum value),
#: from net-update's one table (kvmnet.model.update).
UPDATE_COMMANDS = COMMAND_NAMES
UPDATE_SECTIONS = SECTION_NAMES

#: Largest network document accepted, the same as the XML parser (xmlio.safe) allows:
#: virsh reads up to 10 MiB, but no sane network definition comes near 1 MiB, and the
#: cap keeps a hostile file from eating memory.
MAX_XML_BYTES = 1024 * 1024

_LIST_ALL = (VIR_CONNECT_LIST_NETWORKS_INACTIVE | VIR_CONNECT_LIST_NETWORKS_ACTIVE
             | VIR_CONNECT_LIST_NETWORKS_PERSISTENT | VIR_CONNECT_LIST_NETWORKS_TRANSIENT
             | VIR_CONNECT_LIST_NETWORKS_AUTOSTART | VIR_CONNECT_LIST_NETWORKS_NO_AUTOSTART)

#: How long a handle from listAllNetworks answers state queries from the listing itself.
SNAPSHOT_SECONDS = 1.0

_HINT_LIST = "run 'kvmnet net-list --all' to see the defined networks"


def check_size(data: str | bytes, what: str = "network XML") -> None:
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > MAX_XML_BYTES:
        raise XMLParseError(
            f"{what} is {size} bytes; kvmnet accepts at most {MAX_XML_BYTES} bytes, "
            "which no network definition needs: check that this is the right file")


def sort_key(name: str) -> tuple[bytes, bytes]:
    """virsh's order: ASCII case-insensitive (g_ascii_strcasecmp), then exact."""
    raw = name.encode("utf-8", "surrogateescape")
    return raw.lower(), raw


def _parse(text: str) -> NetworkDef:
    from kvmnet.xmlio.network import parse_network

    return parse_network(text)


def _format(net: NetworkDef, inactive: bool) -> str:
    from kvmnet.xmlio.network import format_network

    return format_network(net, inactive=inactive)


def canonicalNetworkXML(xml: str | bytes, flags: int = 0,
                        warn: Callable[[str], None] | None = None) -> str:
    """Parse and validate a network document; return it as libvirt formats a parsed network.

    Nothing is assigned (no UUID, bridge name or MAC): this is the document's
    own content after parse-time normalisation.  Raises the parse or
    validation error otherwise.  Backs ``kvmnet net-validate``.  Unknown elements and
    attributes: ``VIR_NETWORK_DEFINE_VALIDATE`` refuses them, else ``warn`` hears of each.
    """
    from kvmnet.config.define import prepare

    check_size(xml)
    net = prepare(xml, strict=bool(flags & VIR_NETWORK_DEFINE_VALIDATE), warn=warn)
    return _format(net, inactive=False)


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
                     warn=self.warn)
        assert net.uuid is not None
        from kvmnet.network.compile import precompile

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
        store = self.store
        with store.locked():
            entry = store.entry(net.name)
            if (entry is not None and not entry.persistent and entry.active
                    and self._finish_interrupted_destroy(net.name)):
                entry = store.entry(net.name)  # a transient network: gone now
            if entry is not None:
                raise OperationInvalidError(
                    f"network '{net.name}' already exists: start it with 'kvmnet net-start "
                    f"{net.name}', or give the new network another name")
            others, previous = gather(store, net.name)
            net = assign(net, others, previous)
            start_network(net, store, self.paths, notify=self.notify)
            _replug_ports(self, net.name)
        assert net.uuid is not None
        return Network(self, net.name, net.uuid)

    def manager(self) -> Manager:
        """The lifecycle manager (host changes) for this connection's state root."""
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
        """Allocate and plug the port a ``<networkport>`` document describes (net-port-create)."""
        from kvmnet.port.ports import create_port

        return create_port(self, network, xml, tap_name=tap_name, mtu=mtu,
                           multi_queue=multi_queue, vlan_filtering=vlan_filtering)

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
                                + _HINT_LIST)
        return Network(self, name)

    def networkLookupByUUIDString(self, uuidstr: str) -> Network:
        from kvmnet.xmlio.canon import canonical_uuid

        wanted = canonical_uuid(uuidstr)
        from kvmnet.config.define import other_networks

        # no network is named "": every stored one is a candidate (a damaged file names none)
        holder = other_networks(self.store, "").uuid_user(wanted)
        if holder is None:
            raise NotFoundError(f"network not found: no network with matching uuid "
                                f"{uuidstr!r}; " + _HINT_LIST)
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
                                f"{ident!r}; " + _HINT_LIST)
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
        """Whether ``name`` is known only by a run record: a transient network whose destroy
        was interrupted after its status (its only definition) went.  Its handle can only be
        destroyed, which finishes the teardown (kvmnet.network.runtime.destroy)."""
        return is_safe_name(name) and (self.paths.run_networks / f"{name}.json").is_file()

    # -- listing ---------------------------------------------------------------------
    def _entries(self, flags: int) -> list[Entry]:
        if flags & ~_LIST_ALL:
            raise InvalidArgError(f"unsupported flags 0x{flags & ~_LIST_ALL:x} for listAllNetworks")

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


def _has_ports(conn: Connection, name: str) -> bool:
    """Whether network ``name`` has port records: the ports modules are imported only then,
    to keep the cold net-start/net-destroy path short."""
    return (conn.paths.ports / name).is_dir()


def _replug_ports(conn: Connection, name: str) -> None:
    """After a start: plug the network's kept guest ports back in (see kvmnet.port.keep)."""
    if _has_ports(conn, name):
        from kvmnet.port.keep import replug_network

        replug_network(conn, name)


class Network:
    """A handle on one network (``virNetwork``); state is re-read on every call.

    The one exception: a handle from :meth:`Connection.listAllNetworks` answers
    ``isActive``, ``isPersistent`` and ``autostart`` from the listing for
    :data:`SNAPSHOT_SECONDS`, so that printing a table of many networks does
    not stat every file three more times.
    """

    def __init__(self, conn: Connection, name: str, uuid: str | None = None,
                 entry: Entry | None = None) -> None:
        self._conn = conn
        self._name = name
        self._uuid = uuid
        # The listing's view of the state, so that a table of N networks costs no extra
        # I/O; it answers isActive/isPersistent/autostart for SNAPSHOT_SECONDS only.
        self._snapshot = entry
        self._snapshot_at = time.monotonic() if entry is not None else 0.0

    def __repr__(self) -> str:
        return f"<kvmnet.api.Network {self._name!r}>"

    def connect(self) -> Connection:
        return self._conn

    # -- identity ---------------------------------------------------------------
    def name(self) -> str:
        return self._name

    def UUIDString(self) -> str:
        if self._uuid is None:
            self._uuid = self._current_uuid()
        return self._uuid

    def UUID(self) -> bytes:
        return bytes.fromhex(self.UUIDString().replace("-", ""))

    def _entry(self) -> Entry:
        entry = self._conn.store.entry(self._name)
        if entry is None:
            raise NotFoundError(f"network not found: network '{self._name}' no longer exists; "
                                + _HINT_LIST)
        return entry

    def _state(self) -> Entry:
        if self._snapshot is not None:
            if time.monotonic() - self._snapshot_at < SNAPSHOT_SECONDS:
                return self._snapshot
            self._snapshot = None
        return self._entry()

    def _current_uuid(self) -> str:
        store = self._conn.store
        entry = self._entry()
        peek = store.peek_config(self._name) if entry.persistent else store.peek_status(self._name)
        if peek is None or peek.uuid is None:
            raise CorruptStoreError(f"network '{self._name}' has no uuid in its stored file; "
                                    "redefine it with net-define")
        return peek.uuid

    def _check_same(self) -> Entry:
        """The network still exists and is still the one this handle was made for."""
        entry = self._entry()
        if self._uuid is not None and self._current_uuid() != self._uuid:
            raise NotFoundError(
                f"network not found: network '{self._name}' was redefined with another uuid "
                f"since this handle was made (was {self._uuid}); look it up again")
        return entry

    # -- state --------------------------------------------------------------------
    def isActive(self) -> bool:
        return self._state().active

    def isPersistent(self) -> bool:
        return self._state().persistent

    def autostart(self) -> bool:
        return self._state().autostart

    def setAutostart(self, autostart: bool | int) -> int:
        store = self._conn.store
        with store.locked():
            entry = self._check_same()
            if not entry.persistent:
                raise OperationInvalidError(
                    f"cannot set autostart for transient network '{self._name}'; define it "
                    "with net-define first")
            store.set_autostart(self._name, bool(autostart))
        return 0

    # -- documents --------------------------------------------------------------------
    def _definition(self, inactive: bool) -> NetworkDef:
        store = self._conn.store
        entry = self._check_same()
        if entry.active and not (inactive and entry.persistent):
            text, where = store.read_status(self._name), store.status_path(self._name)
        else:
            text, where = store.read_config(self._name), store.config_path(self._name)
        if text is None:  # removed between the two reads
            raise NotFoundError(f"network not found: network '{self._name}' no longer exists; "
                                + _HINT_LIST)
        try:
            net = _parse(text)
        except KvmnetError as exc:
            raise CorruptStoreError(f"stored file {where} cannot be read: {exc}; fix the file "
                                    "by hand or remove it") from None
        if net.name != self._name:
            raise CorruptStoreError(
                f"stored file {where} defines network '{net.name}', not '{self._name}'; "
                "rename the file or correct its <name>")
        return net

    def XMLDesc(self, flags: int = 0) -> str:
        if flags & ~VIR_NETWORK_XML_INACTIVE:
            raise InvalidArgError(f"unsupported flags 0x{flags:x} for XMLDesc")
        inactive = bool(flags & VIR_NETWORK_XML_INACTIVE)
        net = self._definition(inactive)
        if not inactive and _has_ports(self._conn, self._name) and self.isActive():
            # derived from the live port records on every call, so a crash never leaves a
            # stale count behind
            from kvmnet.model.frozen import replace
            from kvmnet.port.keep import connections

            net = replace(net, connections=connections(self._conn, self._name) or None)
        return _format(net, inactive)

    def bridgeName(self) -> str:
        store = self._conn.store
        entry = self._entry()
        peek = store.peek_status(self._name) if entry.active else store.peek_config(self._name)
        if peek is None or not peek.bridge:
            raise OperationInvalidError(f"network '{self._name}' does not have a bridge name "
                                        f"(forward mode '{peek.mode if peek else '?'}')")
        return peek.bridge

    # -- lifecycle --------------------------------------------------------------------------
    def undefine(self) -> int:
        store = self._conn.store
        with store.locked():
            entry = self._check_same()
            if not entry.persistent:
                raise OperationInvalidError(
                    f"cannot undefine transient network '{self._name}'; a transient network "
                    "goes away when it is destroyed")
            store.delete_config(self._name)
            from kvmnet.network.program import cache_path, drop

            drop(cache_path(self._conn.paths.programs, self._name))
            if not entry.active and _has_ports(self._conn, self._name):
                from kvmnet.port.keep import tell_kept

                tell_kept(self._conn, self._name, "undefined")
        return 0

    def create(self) -> int:
        """Start the persistent network (``virNetworkCreate``)."""
        store = self._conn.store
        with store.locked():
            entry = self._check_same()
            if entry.active and not self._conn._finish_interrupted_destroy(self._name):
                raise OperationInvalidError(
                    f"network '{self._name}' is already active: run 'kvmnet net-destroy "
                    f"{self._name}' first to restart it")
            text = store.read_config(self._name)
            if text is None:
                raise NotFoundError(f"network '{self._name}' has no persistent definition; "
                                    + _HINT_LIST)
            from kvmnet.network.start import start_defined

            start_defined(store, self._conn.paths, self._name, text, self._conn.notify)
            _replug_ports(self._conn, self._name)
        return 0

    def destroy(self) -> int:
        """Stop the network; a transient network is gone afterwards."""
        store = self._conn.store
        with store.locked():
            entry = store.entry(self._name)
            if entry is None and not self._conn._half_destroyed(self._name):
                self._entry()  # raises: not found
            # The guests' ports leave the bridge first, so that no guest frame crosses a
            # network whose firewall is half gone; they are kept (see kvmnet.port.keep).
            has_ports = _has_ports(self._conn, self._name)
            if has_ports:
                from kvmnet.port.keep import keep_network

                keep_network(self._conn, self._name)
            from kvmnet.network.runtime import destroy

            destroy(store, self._conn.paths, self._name)
            if has_ports and (entry is None or not entry.persistent):
                from kvmnet.port.keep import tell_kept

                tell_kept(self._conn, self._name, "destroyed")
        return 0

    def definition(self, inactive: bool = False) -> NetworkDef:
        """The parsed definition: live when active (unless ``inactive``), else persistent."""
        return self._definition(inactive)

    def DHCPLeases(self, mac: str | None = None, flags: int = 0) -> list[dict[str, object]]:
        """Current leases, as libvirt-python's ``virNetwork.DHCPLeases`` returns them."""
        from kvmnet.model.addr import ip_interface
        from kvmnet.network import leases as leasedb

        net = self._definition(inactive=False)
        bridge = net.bridge_name or ""
        prefixes = {}
        for ip in net.ips:
            iface = ip_interface(ip)
            if iface is not None:
                prefixes[iface.version] = iface.network.prefixlen
        now = time.time()
        path = leasedb.status_path(self._conn.paths.dnsmasq, self._name)
        out: list[dict[str, object]] = []
        for lease in leasedb.active(leasedb.load(path), now):
            v6 = lease.get("type") == "ipv6"
            lmac = lease.get("mac-address")
            if mac is not None and (lmac is None or lmac.lower() != mac.lower()):
                continue
            out.append({
                "iface": bridge, "expirytime": int(lease.get("expiry-time", 0)),
                "type": 1 if v6 else 0, "mac": lmac, "iaid": lease.get("iaid") if v6 else None,
                "ipaddr": lease["ip-address"], "prefix": prefixes.get(6 if v6 else 4, 0),
                "hostname": lease.get("hostname"), "clientid": lease.get("client-id"),
            })
        return out

    def update(self, command: int, section: int, parentIndex: int, xml: str,
               flags: int = 0) -> int:
        """Change one part of the definition (``virNetworkUpdate``), as libvirt's enums say."""
        if not 0 < command < len(UPDATE_COMMANDS):
            raise InvalidArgError(f"unknown network update command {command}; use one of "
                                  "VIR_NETWORK_UPDATE_COMMAND_MODIFY/DELETE/ADD_LAST/ADD_FIRST")
        if not 0 < section < len(UPDATE_SECTIONS):
            raise InvalidArgError(f"unknown network update section {section}")
        if flags & ~(VIR_NETWORK_UPDATE_AFFECT_LIVE | VIR_NETWORK_UPDATE_AFFECT_CONFIG):
            raise InvalidArgError(f"unsupported flags 0x{flags:x} for network update")
        check_size(xml, "update XML")
        store = self._conn.store
        with store.locked():
            entry = self._check_same()
            live = bool(flags & VIR_NETWORK_UPDATE_AFFECT_LIVE)
            config = bool(flags & VIR_NETWORK_UPDATE_AFFECT_CONFIG)
            if not (live or config):  # AFFECT_CURRENT: whatever the network is now
                live, config = entry.active, not entry.active
            if config and not entry.persistent:
                raise OperationInvalidError(
                    f"cannot change the persistent config of transient network '{self._name}'")
            if live and not entry.active:
                raise OperationInvalidError(
                    f"network '{self._name}' is not active, so it has no live state to "
                    "update; use --config to change its persistent definition")
            args = (UPDATE_COMMANDS[command], UPDATE_SECTIONS[section], parentIndex, xml)
            # Compute both results before changing either, so that a bad update changes nothing.
            new_live = self._updated(False, *args) if live else None
            new_config = self._updated(True, *args) if config else None
            if new_live is not None:
                self._conn.manager().update_live(self._definition(inactive=False), new_live,
                                                 UPDATE_SECTIONS[section])
            if new_config is not None:
                store.write_config(self._name, _format(new_config, inactive=True))
        return 0

    def _updated(self, persistent: bool, command: str, section: str, parent_index: int,
                 xml: str) -> NetworkDef:
        """The persistent (or live) definition with the update applied, validated."""
        from kvmnet.config.update import apply_update
        from kvmnet.config.validate import validate_network

        old = self._definition(inactive=persistent)
        new = apply_update(old, command, section, xml, parent_index)
        if new.name != old.name or new.uuid != old.uuid:
            raise InvalidArgError("a network update may not change the network's name or uuid")
        validate_network(new)
        return new


_GUEST_CONSTANTS = ("VIR_DOMAIN_", "VIR_CONNECT_LIST_DOMAINS_", "VIR_IP_ADDR_TYPE_")


def __getattr__(name: str) -> int:
    """libvirt's domain constants (``VIR_DOMAIN_AFFECT_LIVE``, ...), defined beside the guests
    in :mod:`kvmnet.guests` and loaded from there on first use (the network verbs need none)."""
    if name.startswith(_GUEST_CONSTANTS):
        from kvmnet import guests

        value = getattr(guests, name, None)
        if isinstance(value, int):
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
