"""Define a persistent network: what libvirt's networkDefineXML assigns and refuses.

Assigned when missing (the parsed definition stays untouched otherwise):

* a UUID (random, version 4);
* for networks whose bridge kvmnet owns (isolated, nat, route, open): a bridge
  name from libvirt's template ``virbr%d`` (or the user's own ``...%d``
  template), the lowest number that no other defined or active network uses;
* for the same modes: a bridge MAC address ``52:54:00:xx:xx:xx``.

When a network of the same name already exists and the new XML leaves one of
these out, the existing value is kept, so that re-running ``net-define`` on
the same file keeps the network's identity, bridge and MAC stable (libvirt
would generate new ones, or refuse a missing UUID).

Refused (:class:`~kvmnet.errors.ConflictError`): a name that exists with
another UUID, a UUID that another network uses, and a bridge name that another
network uses.
"""
from __future__ import annotations

import os

from kvmnet.config.claims import BRIDGE, UUID
from kvmnet.config.store import CorruptStoreError, Peek, Store, check_name
from kvmnet.errors import VIR_ERR_INTERNAL_ERROR, ConflictError, InvalidArgError, KvmnetError
from kvmnet.model.frozen import replace
from kvmnet.model.modes import mode_of
from kvmnet.model.network import Bridge, Network
from kvmnet.xmlio.canon import canonical_uuid

# No typing at run time (the repo's idiom, free of complexity): lxml.etree still loads it on
# net-define today, so this pays (~3 ms) only once define parses without lxml.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import NamedTuple
else:
    from kvmnet.tuples import NamedTuple

#: libvirt's default bridge name template.  libvirt gives up after id 255 (MAX_BRIDGE_ID),
#: which caps it at 256 networks with generated bridge names; kvmnet goes on while the name
#: still fits a Linux interface name (virbr0 .. virbr9999999999).
BRIDGE_TEMPLATE = "virbr%d"
MAX_BRIDGE_ID = 1 << 20
#: Linux interface names are at most IFNAMSIZ - 1 bytes.
MAX_IFNAME_BYTES = 15
#: libvirt's (and QEMU's) locally administered MAC prefix.
MAC_PREFIX = "52:54:00"


class Other(NamedTuple):
    """Another network (persistent config or live state) as define sees it."""

    name: str
    uuid: str | None
    bridge: str | None
    owns_bridge: bool


class Others:
    """What define asks about the other networks (every name but the one being defined)."""

    def uuid_user(self, uuid: str) -> str | None:
        """The name of another network with this (canonical) UUID, if any."""
        raise NotImplementedError

    def bridge_users(self, bridge: str) -> list[tuple[str, bool]]:
        """``(name, owns the bridge)`` of the other networks with this bridge name."""
        raise NotImplementedError

    def bridges(self) -> set[str]:
        """Bridge names that other networks may use: a superset is fine (it only makes a
        generated name skip one); exact answers come from :meth:`bridge_users`."""
        raise NotImplementedError


class OtherList(Others):
    """The other networks as a list: read from every stored file, or given by a test."""

    def __init__(self, others: Iterable[Other]) -> None:
        self._others = list(others)

    def uuid_user(self, uuid: str) -> str | None:
        return next((o.name for o in self._others if o.uuid == uuid), None)

    def bridge_users(self, bridge: str) -> list[tuple[str, bool]]:
        return [(o.name, o.owns_bridge) for o in self._others if o.bridge == bridge]

    def bridges(self) -> set[str]:
        return {o.bridge for o in self._others if o.bridge}


class ClaimedOthers(Others):
    """The other networks through the claim index (kvmnet.config.claims): a few directory entries
    instead of every stored file.  Each claim is checked against its holder's file, so a
    claim left over by a crash is no conflict."""

    def __init__(self, store: Store, name: str) -> None:
        claims = store.claims
        self._trees = ((claims.config, store.peek_config), (claims.status, store.peek_status))
        self._name = name

    def _users(self, kind: str, value: str) -> list[tuple[str, bool]]:
        out = []
        for tree, peek_of in self._trees:
            for holder in tree.holders(kind, value):
                if holder == self._name:
                    continue
                try:
                    peek = peek_of(holder)
                except CorruptStoreError:
                    continue  # a damaged file claims nothing (as in a full read)
                if peek is not None and (peek.uuid if kind == UUID else peek.bridge) == value:
                    out.append((holder, peek.owns_bridge))
        return out

    def uuid_user(self, uuid: str) -> str | None:
        users = self._users(UUID, uuid)
        return users[0][0] if users else None

    def bridge_users(self, bridge: str) -> list[tuple[str, bool]]:
        return self._users(BRIDGE, bridge)

    def bridges(self) -> set[str]:
        return {value for tree, _ in self._trees for value in tree.values(BRIDGE)}


def random_mac() -> str:
    tail = os.urandom(3)
    return MAC_PREFIX + "".join(f":{b:02x}" for b in tail)


def new_uuid() -> str:
    """A random (version 4) UUID, as uuid.uuid4() makes it.

    Built by hand because importing the uuid module (it pulls in platform)
    costs several milliseconds of every ``kvmnet net-define``.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def free_bridge_name(template: str, used: Iterable[str]) -> str:
    """Lowest ``template % N`` that no other network uses and that fits IFNAMSIZ."""
    head, _, tail = template.partition("%d")
    taken = set()  # the numbers N of the used names that the template makes
    for name in used:
        if name.startswith(head) and name.endswith(tail) and len(name) > len(head) + len(tail):
            number = name[len(head):len(name) - len(tail)]
            if number.isdigit() and number.isascii():
                taken.add(number)
    n = 0
    while str(n) in taken and n < MAX_BRIDGE_ID:
        n += 1
    candidate = template.replace("%d", str(n), 1)
    if n == 0 or (n < MAX_BRIDGE_ID and len(candidate.encode("utf-8")) <= MAX_IFNAME_BYTES):
        return candidate  # when the template itself is too long, the caller says so
    raise ConflictError(
        f"no free bridge name from template '{template}': {template.replace('%d', '0')} to "
        f"{template.replace('%d', str(n - 1))} are all used by other networks or too long; "
        "give the network an explicit <bridge name='...'/> or undefine unused networks")


def assign(net: Network, others: Others | Iterable[Other],
           previous: Iterable[Peek] = ()) -> Network:
    """Fill in the UUID, bridge name and MAC that define assigns, then check conflicts.

    ``others`` are all networks with another name; ``previous`` are the stored
    config and/or live state of the network with this name, if any.
    """
    if not isinstance(others, Others):
        others = OtherList(others)
    previous = [p for p in previous if p is not None]
    prev_uuid = next((p.uuid for p in previous if p.uuid), None)

    # Identity: same name keeps its UUID; another UUID for the same name is refused.
    if net.uuid is None:
        net = replace(net, uuid=prev_uuid or new_uuid())
    elif prev_uuid is not None and canonical_uuid(net.uuid) != prev_uuid:
        raise ConflictError(
            f"network '{net.name}' already exists with uuid {prev_uuid}, but the new definition "
            f"has uuid {net.uuid}; to replace the network, use uuid {prev_uuid} or leave <uuid> "
            "out; to keep both, give the new network another <name>")
    assert net.uuid is not None
    user = others.uuid_user(canonical_uuid(net.uuid))
    if user is not None:
        raise ConflictError(
            f"uuid {net.uuid} is already used by network '{user}'; leave <uuid> out "
            f"to get a fresh one, or undefine '{user}' first if it should be replaced")

    if mode_of(net).owns_bridge:
        net = _assign_bridge(net, others, previous)
        if net.mac is None:
            prev_mac = next((p.mac for p in previous if p.mac and p.owns_bridge), None)
            net = replace(net, mac=prev_mac or random_mac())
    elif net.bridge_name is not None:
        # A bridge-mode network attaches to an existing host bridge, which several
        # networks may share, but not one that another network creates and owns.
        for other, owns in others.bridge_users(net.bridge_name):
            if owns:
                raise ConflictError(
                    f"bridge '{net.bridge_name}' is the bridge that network '{other}' "
                    "creates; a bridge-mode network needs a host bridge of its own, so choose "
                    "another <bridge name='...'/>")
    return net


def _assign_bridge(net: Network, others: Others, previous: list[Peek]) -> Network:
    name = net.bridge_name
    if name is None:
        prev = next((p.bridge for p in previous
                     if p.bridge and p.owns_bridge and "%d" not in p.bridge), None)
        if prev is not None and not others.bridge_users(prev):
            name = prev
        else:
            name = free_bridge_name(BRIDGE_TEMPLATE, others.bridges())
    elif "%d" in name:
        name = free_bridge_name(name, others.bridges())
    else:
        owner = next((other for other, _owns in others.bridge_users(name)), None)
        if owner is not None:
            raise ConflictError(  # libvirt's number for this clash: internal error
                f"bridge name '{name}' is already used by network '{owner}'; choose another "
                "<bridge name='...'/>, or leave the name out and kvmnet assigns a free virbrN",
                code=VIR_ERR_INTERNAL_ERROR)
    if len(name.encode("utf-8")) > MAX_IFNAME_BYTES:
        raise InvalidArgError(
            f"bridge name '{name}' is {len(name.encode('utf-8'))} bytes long; Linux interface "
            f"names are at most {MAX_IFNAME_BYTES} bytes, so choose a shorter "
            "<bridge name='...'/>")
    bridge = net.bridge if net.bridge is not None else Bridge()
    return replace(net, bridge=replace(bridge, name=name))


def gather(store: Store, name: str, rebuild: bool = True) -> tuple[Others, list[Peek]]:
    """The other networks' identities and bridges, and this name's stored states.

    ``rebuild``: the caller holds the store lock and may rebuild an untrusted claim index
    (define, create); read-only commands (net-plan) pass False and, when the index cannot be
    trusted, read every stored file instead.
    """
    previous = []
    for peek_of in (store.peek_config, store.peek_status):
        try:
            peek = peek_of(name)
        except CorruptStoreError:
            continue  # redefining the network is how a damaged file gets repaired
        if peek is not None:
            previous.append(peek)
    return other_networks(store, name, rebuild), previous


def other_networks(store: Store, name: str, rebuild: bool = False) -> Others:
    """Every stored network but ``name``: through the claim index when it can be trusted
    (``rebuild``: the caller holds the lock and may rebuild it), else from every file."""
    if store.ensure_claims() if rebuild else store.claims.valid():
        return ClaimedOthers(store, name)
    return OtherList(Other(other, peek.uuid, peek.bridge, peek.owns_bridge)
                     for status in (False, True) for other, peek in store.peeks(status)
                     if other != name)


def prepare(data: str | bytes, *, strict: bool = False,
            warn: Callable[[str], None] | None = None) -> Network:
    """Parse and validate a definition (no assignment, no store access).

    Elements and attributes the parser does not know: ``strict`` (``--validate``) refuses
    them all at once, before any other check (as virsh checks the schema first); otherwise
    they are ignored, as libvirt does, and ``warn`` hears about each.
    """
    from kvmnet.config.validate import validate_network
    from kvmnet.xmlio.network import parse_network
    from kvmnet.xmlio.strict import mention_ignored, settle

    unknown: list[str] | None = [] if strict or warn is not None else None
    net = parse_network(data, unknown=unknown)
    if unknown and strict:
        settle(unknown, "network XML", validate=True, warn=None)
    try:
        validate_network(net)  # every semantic problem at once, names included
        check_name(net.name)  # the store's own rules (e.g. no leading dot) on top
    except KvmnetError as exc:
        if unknown:
            # what was ignored may be the cause (a misspelt <forward>): say so in the error
            raise mention_ignored(exc, unknown) from None
        raise
    if unknown:
        settle(unknown, "network XML", validate=False, warn=warn)
    return net


def define(store: Store, data: str | bytes, *, strict: bool = False,
           warn: Callable[[str], None] | None = None,
           host_check: Callable[[Network], None] | None = None) -> Network:
    """Parse, validate, assign and store a persistent definition; returns what was stored.
    ``strict`` and ``warn``: see :func:`prepare`; ``host_check`` raises for what libvirt's
    define checks on the host itself (a hostdev pool's devices must be VFs), before storing."""
    from kvmnet.xmlio.network import format_network

    net = prepare(data, strict=strict, warn=warn)
    if host_check is not None:
        host_check(net)
    with store.locked():
        others, previous = gather(store, net.name)
        net = assign(net, others, previous)
        store.write_config(net.name, format_network(net, inactive=True))
    return net
