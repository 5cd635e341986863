"""The handle on one network (``virNetwork``): state, documents, lifecycle, leases, updates.

Starting (``create``), stopping (``destroy``) and live updates go to
:mod:`kvmnet.network.start`, :mod:`kvmnet.network.runtime` and :mod:`kvmnet.network.compile`,
imported only when used; a network's guest ports (:mod:`kvmnet.port.keep`) only when it has
any, which keeps the cold ``net-start``/``net-destroy`` path short.
"""
from __future__ import annotations

import os
import time

TYPE_CHECKING = False  # typing costs ~4.5 ms of a cold start: annotations only

from kvmnet.api.constants import (
    VIR_NETWORK_UPDATE_AFFECT_CONFIG,
    VIR_NETWORK_UPDATE_AFFECT_LIVE,
    VIR_NETWORK_XML_INACTIVE,
)
from kvmnet.api.documents import check_size, format_doc, parse_doc
from kvmnet.config.store import CorruptStoreError, Entry
from kvmnet.errors import (
    InvalidArgError,
    KvmnetError,
    NotFoundError,
    OperationInvalidError,
    UnsupportedError,
)

if TYPE_CHECKING:
    from kvmnet.api.connection import Connection
    from kvmnet.model.network import Network as NetworkDef

#: How long a handle from listAllNetworks answers state queries from the listing itself.
SNAPSHOT_SECONDS = 1.0

HINT_LIST = "run 'kvmnet net-list --all' to see the defined networks"


def has_ports(conn: Connection, name: str) -> bool:
    """Whether network ``name`` has port records: the ports modules are imported only then,
    to keep the cold net-start/net-destroy path short."""
    return os.path.isdir(os.path.join(conn.paths.text("ports"), name))


def replug_ports(conn: Connection, name: str) -> None:
    """After a start: plug the network's kept guest ports back in (see kvmnet.port.keep)."""
    if has_ports(conn, name):
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
                                + HINT_LIST)
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
                                + HINT_LIST)
        try:
            net = parse_doc(text)
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
        if not inactive and self.isActive():
            from kvmnet.network.drivers import live_view

            used: dict[str, int] = {}
            if has_ports(self._conn, self._name):
                # derived from the live port records on every call, so a crash never leaves a
                # stale count behind
                from kvmnet.model.frozen import replace
                from kvmnet.port.keep import usage

                count, used = usage(self._conn, self._name)
                net = replace(net, connections=count or None)
            net = live_view(self._conn, net, used)  # e.g. a macvtap or VF pool, found at start
        return format_doc(net, inactive)

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

            drop(cache_path(self._conn.paths.text("programs"), self._name))
            if not entry.active and has_ports(self._conn, self._name):
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
                                    + HINT_LIST)
            from kvmnet.network.start import start_defined

            start_defined(store, self._conn.paths, self._name, text, self._conn.notify)
            replug_ports(self._conn, self._name)
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
            ported = has_ports(self._conn, self._name)
            if ported:
                from kvmnet.port.keep import keep_network

                keep_network(self._conn, self._name)
            from kvmnet.network.runtime import destroy

            destroy(store, self._conn.paths, self._name)
            if ported and (entry is None or not entry.persistent):
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
        from kvmnet.model.update import COMMAND_NAMES as UPDATE_COMMANDS
        from kvmnet.model.update import SECTION_NAMES as UPDATE_SECTIONS

        if not 0 < command < len(UPDATE_COMMANDS):
            raise InvalidArgError(f"unknown network update command {command}; use one of "
                                  "VIR_NETWORK_UPDATE_COMMAND_MODIFY/DELETE/ADD_LAST/ADD_FIRST")
        if not 0 < section < len(UPDATE_SECTIONS):
            raise UnsupportedError(f"can't update unrecognized section {section} of network "
                                   f"'{self._name}'; use one of the VIR_NETWORK_SECTION_* values")
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
                store.write_config(self._name, format_doc(new_config, inactive=True))
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
