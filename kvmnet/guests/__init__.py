"""Guests (libvirt "domains"): a small QEMU/KVM runner with a libvirt-python shaped API.

Entry point: :class:`Guests` over a :class:`kvmnet.api.Connection`::

    import kvmnet
    from kvmnet.guests import Guests

    conn = kvmnet.open()
    guests = Guests(conn)
    dom = guests.defineXML(open("demo.xml").read())
    dom.create()                              # start (QEMU daemonized, NICs on kvmnet ports)
    dom.interfaceAddresses()                  # from the networks' DHCP leases
    dom.attachDeviceFlags("<interface type='network'><source network='default'/></interface>",
                          VIR_DOMAIN_AFFECT_LIVE)
    dom.destroy()

Method names, flags and return shapes follow libvirt-python's ``virConnect`` /
``virDomain``; errors are :class:`~kvmnet.errors.KvmnetError` subclasses.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kvmnet.errors import DomainNotFoundError, InvalidArgError, NotFoundError, OperationInvalidError

if TYPE_CHECKING:
    from kvmnet.api import Connection
    from kvmnet.guests.runner import Runner
    from kvmnet.guests.store import GuestStore
    from kvmnet.model.domain import Domain as DomainDef
    from kvmnet.model.domain import Interface

# virConnectListAllDomainsFlags
VIR_CONNECT_LIST_DOMAINS_ACTIVE = 1
VIR_CONNECT_LIST_DOMAINS_INACTIVE = 2
VIR_CONNECT_LIST_DOMAINS_PERSISTENT = 4
VIR_CONNECT_LIST_DOMAINS_TRANSIENT = 8
# virDomainState
VIR_DOMAIN_NOSTATE = 0
VIR_DOMAIN_RUNNING = 1
VIR_DOMAIN_SHUTOFF = 5
# virDomainXMLFlags
VIR_DOMAIN_XML_INACTIVE = 2
# virDomainModificationImpact
VIR_DOMAIN_AFFECT_CURRENT = 0
VIR_DOMAIN_AFFECT_LIVE = 1
VIR_DOMAIN_AFFECT_CONFIG = 2
# virDomainInterfaceAddressesSource / virIPAddrType
VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE = 0
VIR_IP_ADDR_TYPE_IPV4 = 0
VIR_IP_ADDR_TYPE_IPV6 = 1

_STATE_FLAGS = VIR_CONNECT_LIST_DOMAINS_ACTIVE | VIR_CONNECT_LIST_DOMAINS_INACTIVE
_KIND_FLAGS = VIR_CONNECT_LIST_DOMAINS_PERSISTENT | VIR_CONNECT_LIST_DOMAINS_TRANSIENT
STATE_NAMES = {VIR_DOMAIN_RUNNING: "running", VIR_DOMAIN_SHUTOFF: "shut off"}
_HINT = "run 'kvmnet list --all' to see the guests"


class Guests:
    """The guest half of a connection (libvirt's domain calls on ``virConnect``)."""

    def __init__(self, conn: Connection) -> None:
        from kvmnet.guests.runner import Runner

        self.conn = conn
        self.runner: Runner = Runner(conn)
        self.store: GuestStore = self.runner.store

    # -- define ------------------------------------------------------------------------------
    def defineXML(self, xml: str | bytes) -> Domain:
        """Define (or redefine) a persistent guest; assigns UUID, MACs and NIC models."""
        from kvmnet.guests.define import assign, validate
        from kvmnet.xmlio.domain import format_domain, parse_domain

        dom = parse_domain(xml)
        validate(dom)
        with self.store.locked():
            dom = assign(self.store, dom)
            self.store.write_config(dom.name, format_domain(dom))
        return Domain(self, dom.name)

    # -- lookup ------------------------------------------------------------------------------
    def names(self) -> set[str]:
        """Defined guests and guests with a run record (not reconciled)."""
        return self.store.defined_names() | self.store.recorded_names()

    def lookupByName(self, name: str) -> Domain:
        if name not in self.names():
            raise DomainNotFoundError(f"domain not found: no domain with matching name '{name}'; "
                                + _HINT)
        return Domain(self, name)

    def lookupByUUIDString(self, uuid: str) -> Domain:
        from kvmnet.guests.define import uuid_of
        from kvmnet.xmlio.canon import canonical_uuid

        wanted = canonical_uuid(uuid)
        for name in sorted(self.names()):
            if uuid_of(self.store, name) == wanted:
                return Domain(self, name)
        raise DomainNotFoundError(f"domain not found: no domain with matching uuid '{uuid}'; " + _HINT)

    def lookupByID(self, dom_id: int) -> Domain:
        for name in sorted(self.runner.reconcile_all()):
            record = self.store.read_record(name)
            if record is not None and record.get("id") == dom_id:
                return Domain(self, name)
        raise DomainNotFoundError(f"domain not found: no running domain with id {dom_id}; " + _HINT)

    def lookup(self, ident: str) -> Domain:
        """As virsh: by id if numeric, then by UUID if it looks like one, then by name."""
        if ident.isdigit() and ident not in self.names():
            try:
                return self.lookupByID(int(ident))
            except NotFoundError:
                pass
        compact = ident.replace("-", "")
        if len(compact) == 32 and all(c in "0123456789abcdefABCDEF" for c in compact):
            try:
                return self.lookupByUUIDString(ident)
            except NotFoundError:
                pass
        if ident not in self.names():
            raise DomainNotFoundError(f"domain not found: no domain with matching name or uuid "
                                f"'{ident}'; " + _HINT)
        return Domain(self, ident)

    def listAllDomains(self, flags: int = 0) -> list[Domain]:
        """Guests sorted by name; dead QEMUs are noticed (and cleaned up) on the way."""
        running = self.runner.reconcile_all()
        defined = self.store.defined_names()
        out = []
        for name in sorted(defined | running):
            active = name in running
            persistent = name in defined
            state_flag = (VIR_CONNECT_LIST_DOMAINS_ACTIVE if active
                          else VIR_CONNECT_LIST_DOMAINS_INACTIVE)
            kind_flag = (VIR_CONNECT_LIST_DOMAINS_PERSISTENT if persistent
                         else VIR_CONNECT_LIST_DOMAINS_TRANSIENT)
            # Each pair of flags filters only when one of the pair is given.
            if flags & _STATE_FLAGS and not flags & state_flag:
                continue
            if flags & _KIND_FLAGS and not flags & kind_flag:
                continue
            out.append(Domain(self, name))
        return out


class Domain:
    """A handle on one guest (``virDomain``); state is re-read on every call."""

    def __init__(self, guests: Guests, name: str) -> None:
        self._g = guests
        self._name = name

    def __repr__(self) -> str:
        return f"<kvmnet.guests.Domain {self._name!r}>"

    @property
    def notices(self) -> list[str]:
        """What the last operation wants the user to know (e.g. that it fell back to TCG)."""
        return list(self._g.runner.notices)

    # -- identity and state ----------------------------------------------------------------------
    def name(self) -> str:
        return self._name

    def definition(self, inactive: bool = False) -> DomainDef:
        """The parsed definition: live while running (unless ``inactive``), else persistent."""
        from kvmnet.xmlio.domain import parse_domain

        store = self._g.store
        if not inactive:
            live = self._g.runner.live_domain(self._name)
            if live is not None:
                return live
        text = store.read_config(self._name)
        if text is None:
            live = self._g.runner.live_domain(self._name)
            if live is not None:
                return live
            raise DomainNotFoundError(f"domain not found: domain '{self._name}' no longer exists; "
                                + _HINT)
        return parse_domain(text)

    def UUIDString(self) -> str:
        uuid = self.definition().uuid
        assert uuid is not None
        return uuid

    def ID(self) -> int:
        record = self._g.runner.live(self._name)
        return int(record["id"]) if record is not None else -1

    def isActive(self) -> bool:
        return self._g.runner.live(self._name) is not None

    def isPersistent(self) -> bool:
        return self._g.store.read_config(self._name) is not None

    def state(self) -> list[int]:
        """``[state, reason]`` as libvirt returns it (running or shut off)."""
        return [VIR_DOMAIN_RUNNING if self.isActive() else VIR_DOMAIN_SHUTOFF, 1]

    def record(self) -> dict[str, Any] | None:
        """The run record (pid, id, accel, sockets, ports) of a running guest, else None."""
        return self._g.runner.live(self._name)

    def XMLDesc(self, flags: int = 0) -> str:
        from kvmnet.xmlio.domain import format_domain

        if flags & ~VIR_DOMAIN_XML_INACTIVE:
            raise InvalidArgError(f"unsupported flags 0x{flags:x} for XMLDesc")
        inactive = bool(flags & VIR_DOMAIN_XML_INACTIVE)
        dom = self.definition(inactive)
        return format_domain(dom, live=dom.id is not None and not inactive)

    def attachConsole(self, socket_path: str, in_fd: int, out_fd: int) -> str:
        """Relay a terminal to a serial console's socket until ^] ("escape") or the guest
        goes away ("closed"); ``virsh console``'s loop (virDomainOpenConsole plus a stream)."""
        from kvmnet.guests.console import attach

        return attach(socket_path, in_fd, out_fd)

    # -- lifecycle ----------------------------------------------------------------------------------
    def create(self) -> int:
        self._g.runner.start(self._name)
        return 0

    def destroy(self) -> int:
        """Stop the guest's QEMU and unplug its ports (a transient guest is gone then)."""
        self._g.runner.destroy(self._name)
        return 0

    def undefine(self) -> int:
        store = self._g.store
        with store.locked():
            if store.read_config(self._name) is None:
                raise OperationInvalidError(f"cannot undefine transient domain '{self._name}'")
            store.delete_config(self._name)
        return 0

    # -- devices --------------------------------------------------------------------------------------
    def attachInterface(self, iface: Interface, flags: int = 0) -> Interface:
        """Add a NIC; returns it with the MAC and model filled in."""
        return self._g.runner.attach_interface(
            self._name, iface, live=bool(flags & VIR_DOMAIN_AFFECT_LIVE),
            config=bool(flags & VIR_DOMAIN_AFFECT_CONFIG))

    def detachInterface(self, itype: str, mac: str | None, flags: int = 0) -> None:
        self._g.runner.detach_interface(
            self._name, itype, mac, live=bool(flags & VIR_DOMAIN_AFFECT_LIVE),
            config=bool(flags & VIR_DOMAIN_AFFECT_CONFIG))

    def attachDeviceFlags(self, xml: str, flags: int = 0) -> int:
        """Attach an ``<interface>`` given as XML (the only hot-pluggable device)."""
        self.attachInterface(_interface_xml(xml), flags)
        return 0

    def detachDeviceFlags(self, xml: str, flags: int = 0) -> int:
        iface = _interface_xml(xml)
        self.detachInterface(iface.type, iface.mac, flags)
        return 0

    def interfaceAddresses(self, source: int = VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
                           flags: int = 0) -> dict[str, dict[str, Any]]:
        """Addresses from the networks' DHCP leases, as libvirt-python returns them."""
        if source != VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE:
            raise InvalidArgError("only the lease source is supported (no guest agent, no ARP)")
        dom = self._g.runner.live_domain(self._name)
        if dom is None:
            raise OperationInvalidError(f"domain '{self._name}' is not running")
        out: dict[str, dict[str, Any]] = {}
        for iface in dom.interfaces:
            if iface.type != "network" or not iface.network or not iface.mac:
                continue
            try:
                leases = self._g.conn.lookupNetwork(iface.network).DHCPLeases(mac=iface.mac)
            except NotFoundError:
                continue
            if not leases:
                continue
            addrs = [{"type": int(str(lease["type"])), "addr": str(lease["ipaddr"]),
                      "prefix": int(str(lease["prefix"]))} for lease in leases]
            out[iface.target_dev or "-"] = {"addrs": addrs, "hwaddr": iface.mac}
        return out


def _interface_xml(xml: str) -> Interface:
    """One ``<interface>`` element parsed with the domain parser's rules."""
    from kvmnet.errors import XMLParseError
    from kvmnet.xmlio.domain import parse_domain
    from kvmnet.xmlio.safe import parse_document

    el = parse_document(xml, "device XML")
    if el.tag != "interface":
        raise XMLParseError(f"<{el.tag}> cannot be hot-plugged; kvmnet attaches and detaches "
                            "<interface> devices only", "/")
    from lxml import etree

    wrapper = ("<domain type='kvm'><name>x</name><memory>1</memory><os><type>hvm</type></os>"
               f"<devices>{etree.tostring(el, encoding='unicode')}</devices></domain>")
    return parse_domain(wrapper).interfaces[0]
