"""Guest ports: plugging a guest NIC into a kvmnet network, as libvirt does.

:func:`plug` allocates the port (:func:`allocate`, libvirt's ``networkAllocatePort``: the
interface's own settings first, then its portgroup's -- the default portgroup when none is
named -- then the network's; the network's driver decides the ``<plug>``,
:meth:`kvmnet.model.modes.ModeRules.plug_for`), then hands it to the plugger of its
plug type (:mod:`kvmnet.port.plugs`; no plug-type branches here), and records the port.  The
tap-on-a-Linux-bridge plugger makes a persistent tap ``vnetN`` (the first free N in this
network namespace) with the host side's MAC (the guest's with first byte ``fe``), the
network's MTU, attaches it to the network's live bridge with the port's isolation, VLANs and
bandwidth limits, as engine steps run by the one executor; QEMU then opens the tap by name.

Records, one pair per port (``paths.ports``)::

    run/kvmnet/ports/NETWORK/UUID.json   the port's journal (the engine's one format): the undo
                                         of each step, written before the step runs, so that a
                                         crash mid-plug leaves something to clean up with, and
                                         what kvmnet made (tap, ifindex, tc...) as its "info"
    run/kvmnet/ports/NETWORK/UUID.xml    the <networkport> status, as libvirt keeps it;
                                         written last: the port exists when this file does
    run/kvmnet/ports/.bridge/...         ports plugged straight into a bridge (no network;
                                         no network name can start with '.')

Both are run-time state (tmpfs under a real ``/run``): they are replaced atomically by rename
but not fsynced, because they do not outlive a reboot anyway and plugging must be fast.
Plugging holds the store lock, so it never races a ``net-destroy``; unplugging many ports at
once deletes their taps in parallel threads, since each tap deletion waits ~15 ms for the
kernel's RCU grace periods, which overlap across threads.

A network's ports outlive a restart: ``net-destroy`` takes their taps off the bridge but keeps
them and their records, ``net-start`` plugs them back in (:mod:`kvmnet.port.keep`); the host
side of a port (plug, attach, detach, unplug) is its plugger's (:mod:`kvmnet.port.plugs`).
:func:`unplug_network` removes every port of a network outright.
"""
from __future__ import annotations

import os
import uuid as uuid_mod
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kvmnet.errors import (
    VIR_ERR_NO_NETWORK_PORT,
    ConflictError,
    HostError,
    InvalidArgError,
    KvmnetError,
    NotFoundError,
    OperationInvalidError,
    UnsupportedError,
    ValidationError,
    XMLParseError,
)
from kvmnet.model.frozen import fields, frozen, replace
from kvmnet.model.network import Bandwidth, VirtualPort, Vlan
from kvmnet.model.port import NetworkPort, Plug, PlugType
from kvmnet.network.drivers import driver_for, mode_of
from kvmnet.port import plugs
from kvmnet.port.plugs.base import PlugOptions, load_record, unlink, write

if TYPE_CHECKING:
    from kvmnet.api import Connection
    from kvmnet.engine.host import Host
    from kvmnet.model.network import Network as NetworkDef

#: Directory of the ports plugged straight into a bridge (``network`` None).
BRIDGE_ONLY = ".bridge"
#: Owner UUID of ports plugged without one.
NIL_UUID = "00000000-0000-0000-0000-000000000000"
#: Threads that delete taps at once when many ports go: their RCU waits overlap, and the
#: kernel kept up with 64 here (~1000 deletions/s, against ~60/s one at a time).
UNPLUG_THREADS = 64


@frozen
class PortInfo:
    """A plugged port: what a guest runner needs to start QEMU with it."""

    uuid: str
    network: str | None  # None: plugged straight into ``bridge``
    tap: str  # QEMU: -netdev tap,ifname=TAP,script=no,downscript=no
    bridge: str
    mac: str  # the guest's MAC (QEMU: -device ...,mac=MAC)
    tap_mac: str  # the host side's MAC
    mtu: int
    owner_name: str
    owner_uuid: str
    group: str | None = None
    isolated: bool = False
    plug_type: str = "network"
    created: bool = True  # False: an existing device (e.g. a veth end) was attached
    skipped: tuple[str, ...] = ()  # optional tc parts this kernel lacks (see kvmnet.host.tap)
    kept: bool = False  # off its bridge, kept while its network is down (see kvmnet.port.keep)
    dev: str | None = None  # direct: the host device its macvtap is on (``tap``: the macvtap)
    node: str | None = None  # direct: the macvtap's private device node, which QEMU gets open
    address: str | None = None  # an SR-IOV VF's PCI address (QEMU: -device vfio-pci,host=...)
    # the port's virtualport as allocated (merged, its ids generated): what a running guest's
    # XML shows, as libvirt's shows the actual one; only a port just plugged knows it
    virtualport: VirtualPort | None = None

    def as_dict(self) -> dict[str, Any]:
        from kvmnet.model.precedence import settings_json

        out = {k: (list(v) if isinstance(v, tuple) else v)
               for k, v in ((f, getattr(self, f)) for f in fields(self)) if k != "virtualport"}
        if self.virtualport is not None:
            out.update(settings_json(self.virtualport, None, None) or {})
        return out


# -- records ----------------------------------------------------------------------------------
def port_dir(conn: Connection, network: str | None) -> Path:
    if network is None:
        return conn.paths.ports / BRIDGE_ONLY
    from kvmnet.config.store import name_problem

    problem = name_problem(network)
    if problem is not None:
        raise InvalidArgError(problem)
    return conn.paths.ports / network


def _uuid_arg(text: str) -> str:
    from kvmnet.xmlio.values import uuid_text

    try:
        return uuid_text(text, "")
    except XMLParseError:
        raise InvalidArgError(f"'{text}' is not a port UUID; write 32 hex digits, e.g. "
                              "5d744f21-ba4a-4d6e-bdb2-30a35ff3207d") from None


def port_files(directory: Path) -> dict[str, set[str]]:
    """UUID -> suffixes present ('xml', 'json') in one network's directory."""
    found: dict[str, set[str]] = {}
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return found
    for fname in names:
        stem, dot, suffix = fname.rpartition(".")
        if dot and not fname.startswith(".") and suffix in ("xml", "json"):
            found.setdefault(stem, set()).add(suffix)
    return found


def _dirs(conn: Connection) -> list[str | None]:
    """Every network (None: bridge-only ports) that has a port directory."""
    try:
        names = sorted(e.name for e in os.scandir(conn.paths.ports) if e.is_dir())
    except FileNotFoundError:
        return []
    return [None if n == BRIDGE_ONLY else n for n in names]


def port_info(rec: dict[str, Any]) -> PortInfo:
    return PortInfo(uuid=rec["uuid"], network=rec.get("network"), tap=rec["tap"],
                    bridge=rec["bridge"], mac=rec["mac"], tap_mac=rec["tap_mac"],
                    mtu=int(rec["mtu"]), owner_name=rec["owner_name"],
                    owner_uuid=rec["owner_uuid"], group=rec.get("group"),
                    isolated=bool(rec.get("isolated")), plug_type=rec.get("plug_type", "network"),
                    created=bool(rec.get("created", True)), skipped=tuple(rec.get("skipped", ())),
                    kept=bool(rec.get("kept")), dev=rec.get("dev"), node=rec.get("node"),
                    address=rec.get("address"))


# -- networks ---------------------------------------------------------------------------------
_PARSED: dict[str, NetworkDef] = {}  # status text -> parsed definition (plugging is frequent)


def _network_name(conn: Connection, ident: str) -> str:
    """A network's name from its name or UUID; NotFoundError when there is none."""
    return ident if conn.store.entry(ident) is not None else conn.lookupNetwork(ident).name()


def live_network(conn: Connection, ident: str) -> NetworkDef:
    """The live definition of active network ``ident`` (name or UUID)."""
    from kvmnet.xmlio.network import parse_network

    name = _network_name(conn, ident)
    text = conn.store.read_status(name)
    if text is None:
        raise OperationInvalidError(f"network '{name}' is not active: start it with 'kvmnet "
                                    f"net-start {name}' before plugging guests into it")
    net = _PARSED.get(text)
    if net is None:
        if len(_PARSED) > 16:
            _PARSED.clear()
        net = _PARSED[text] = parse_network(text)
    return net


def allocate(net: NetworkDef, port: NetworkPort) -> NetworkPort:
    """What ``port`` gets on ``net`` (libvirt's networkAllocatePort; no host access).

    Fills in ``<plug>``, and bandwidth, VLAN, rx-filter trust and isolation from the portgroup
    (``port.group``, else the network's default portgroup) and the network where the port has
    none of its own; the virtualport is the merge of the three
    (:mod:`kvmnet.model.precedence`), with the identifier its type needs generated when
    none of them gives it (an Open vSwitch ``interfaceid``).  Unlike libvirt, an unknown portgroup is an error, not
    silently ignored.
    """
    if port.group is not None:
        pg = next((p for p in net.portgroups if p.name == port.group), None)
        if pg is None:
            have = ", ".join(p.name for p in net.portgroups) or "none"
            raise InvalidArgError(f"network '{net.name}' has no portgroup '{port.group}' "
                                  f"(its portgroups: {have}); name one of them or leave it out")
    else:
        pg = next((p for p in net.portgroups if p.default), None)
    from kvmnet.model.precedence import MergeConflict, completed, resolve

    try:
        got = resolve(net, pg, virtualport=port.virtualport, vlan=port.vlan,
                      bandwidth=port.bandwidth)
    except MergeConflict as exc:
        raise ValidationError([(f"port {port.mac} on network '{net.name}': {exc}; remove the "
                                "conflicting <virtualport> parameter from the interface or "
                                "make it match the network's")]) from None
    # libvirt's networkAllocatePort ends with CheckComplete(generateMissing): an Open vSwitch
    # port whose interface named no interfaceid gets a new one (not the port's UUID), kept in
    # the port's XML so that a network restart (kvmnet.port.keep) re-plugs it with the same
    bandwidth, vlan, vport = got.bandwidth, got.vlan, completed(got.virtualport)
    trust = port.trust_guest_rx_filters
    if trust is None:
        trust = (pg.trust_guest_rx_filters if pg is not None
                 and pg.trust_guest_rx_filters is not None else net.trust_guest_rx_filters)
    isolated = port.isolated if port.isolated is not None else net.port_isolated
    mgr = net.bridge.mac_table_manager if net.bridge is not None else None
    # the network's driver decides the plug; a plugger must exist for it
    port = replace(port, plug=mode_of(net).plug_for(net, vport, mgr), virtualport=vport)
    plugs.require(net, port)
    if bandwidth is not None and bandwidth.inbound is not None and bandwidth.inbound.floor:
        if net.bandwidth is None or net.bandwidth.inbound is None:
            raise ValidationError([(f"invalid use of 'floor' on interface with MAC address "
                                   f"{port.mac} - network '{net.name}' has no inbound QoS set")])
        raise UnsupportedError("a guaranteed 'floor' needs network-wide QoS classes on the "
                               "bridge, which kvmnet does not set up yet; remove floor=")
    return replace(port, bandwidth=bandwidth, vlan=vlan, trust_guest_rx_filters=trust,
                   isolated=isolated)


# -- plugging ----------------------------------------------------------------------------------
def plug(conn: Connection, network_name: str | None, *, mac: str, bridge: str | None = None,
         owner_name: str | None = None, owner_uuid: str | None = None,
         portgroup: str | None = None, tap_name: str | None = None, mtu: int | None = None,
         bandwidth: Bandwidth | None = None, vlan: Vlan | None = None,
         isolated: bool | None = None, trust_guest_rx_filters: bool | None = None,
         port_uuid: str | None = None, device: str | None = None, multi_queue: bool = False,
         vlan_filtering: bool = False, source_dev: str | None = None,
         source_mode: str | None = None, virtualport: VirtualPort | None = None,
         host: Host | None = None) -> PortInfo:
    """Plug a guest NIC with MAC ``mac`` into network ``network_name`` (name or UUID), or,
    with ``network_name`` None, straight into Linux bridge ``bridge`` (libvirt's
    ``<interface type='bridge'>``), or as a macvtap on host device ``source_dev`` in macvtap
    mode ``source_mode`` (libvirt's ``<interface type='direct'>``; default vepa).

    ``bandwidth``, ``vlan``, ``isolated``, ``trust_guest_rx_filters``: the interface's own
    settings (they win over the portgroup's and the network's).  ``owner_*``: the guest
    (default: the tap's name and the nil UUID).  ``device``: attach this existing link (e.g.
    the host end of a veth) instead of making a tap; unplugging then detaches it and restores
    its MAC and MTU.  ``multi_queue``: a tap QEMU may open with several queues.
    ``vlan_filtering``: turn VLAN filtering on on the bridge if a VLAN needs it.
    ``virtualport``: the interface's ``<virtualport>`` (merged with the network's and the
    portgroup's); straight into a bridge, ``type='openvswitch'`` makes it an Open vSwitch
    port (libvirt's ``<interface type='bridge'><virtualport type='openvswitch'/>``).
    ``host``: the host adapters the plug's steps act through (default: the real host).
    """
    from kvmnet.xmlio.values import mac_address

    if sum(x is not None for x in (network_name, bridge, source_dev)) != 1:
        raise InvalidArgError("plug a guest into a network, a bridge or a host device: give "
                              "exactly one of network_name, bridge and source_dev")
    direct = None
    if source_dev is not None:
        from kvmnet.model.port import DIRECT_MODES

        if (source_mode or "vepa") not in DIRECT_MODES:
            raise InvalidArgError(f"unknown macvtap mode '{source_mode}'; use one of "
                                  f"{', '.join(DIRECT_MODES)}")
        direct = Plug(type=PlugType.DIRECT, dev=source_dev, mode=source_mode or "vepa")
    if portgroup is not None and network_name is None:
        raise InvalidArgError("a portgroup belongs to a network; give the network too")
    try:
        guest_mac = mac_address(mac, "mac", unicast=False)
    except XMLParseError:
        raise InvalidArgError(f"invalid MAC address '{mac}'; write six hex bytes separated by "
                              "colons, e.g. 52:54:00:12:34:56") from None
    if owner_name is not None and not owner_name.strip():
        raise InvalidArgError("the owner name is empty; give the guest's name or leave it out")
    port = NetworkPort(
        uuid=_uuid_arg(port_uuid) if port_uuid is not None else str(uuid_mod.uuid4()),
        owner_name=owner_name or "", mac=guest_mac,
        owner_uuid=_uuid_arg(owner_uuid) if owner_uuid is not None else NIL_UUID,
        group=portgroup, bandwidth=bandwidth, vlan=vlan, isolated=isolated,
        trust_guest_rx_filters=trust_guest_rx_filters, virtualport=virtualport)
    if network_name is None and virtualport is not None and virtualport.type != "openvswitch":
        raise InvalidArgError(f"<virtualport type='{virtualport.type}'> cannot plug into bridge "
                              f"{bridge}: a bridge takes type='openvswitch' (an Open vSwitch "
                              "bridge) or no virtualport (a Linux bridge)")
    return _create(conn, network_name, bridge, port, tap_name=tap_name, mtu=mtu, device=device,
                   multi_queue=multi_queue, vlan_filtering=vlan_filtering, plug=direct,
                   host=host)


def create_port(conn: Connection, network: str, xml: str | bytes, *, tap_name: str | None = None,
                mtu: int | None = None, multi_queue: bool = False,
                vlan_filtering: bool = False) -> PortInfo:
    """``net-port-create``: allocate and plug the port a ``<networkport>`` document describes.

    As libvirt without ``VIR_NETWORK_PORT_CREATE_RECLAIM``, the document must not have a
    ``<plug>``: the network decides it.
    """
    from kvmnet.xmlio.port import parse_port

    port = parse_port(xml)
    if port.plug is not None:
        raise InvalidArgError(f"the port XML has <plug type='{port.plug.type.value}'>, but the "
                              "network decides how a new port is plugged; remove <plug>")
    return _create(conn, network, None, port, tap_name=tap_name, mtu=mtu, device=None,
                   multi_queue=multi_queue, vlan_filtering=vlan_filtering)


def _create(conn: Connection, network: str | None, bridge: str | None, port: NetworkPort, *,
            tap_name: str | None, mtu: int | None, device: str | None, multi_queue: bool,
            vlan_filtering: bool, plug: Plug | None = None,
            host: Host | None = None) -> PortInfo:
    from kvmnet.host.netlink import Netlink, check_ifname
    from kvmnet.xmlio.port import format_port

    if int(port.mac[:2], 16) & 1:
        raise InvalidArgError(f"expected a unicast MAC address for the guest, found multicast "
                              f"'{port.mac}' (lowest bit of the first byte is set); use e.g. "
                              "52:54:00:xx:xx:xx")
    for name, what in ((tap_name, "tap name"), (device, "device"), (bridge, "bridge"),
                       (plug.dev if plug is not None else None, "source device")):
        if name is not None:
            if "%" in name:
                raise InvalidArgError(f"{what} {name!r} contains '%'; choose a plain name")
            try:
                check_ifname(name)
            except HostError as exc:
                raise InvalidArgError(exc.message) from None
    if mtu is not None and not 68 <= mtu <= 65535:
        raise InvalidArgError(f"MTU {mtu} is out of range; use 68..65535")
    with conn.store.locked():
        if network is not None:
            net = live_network(conn, network)
            port = allocate(net, port)
            key, owned_bridge = net.name, mode_of(net).owns_bridge
            mtu = mtu if mtu is not None else net.mtu
            pool = driver_for(net).device_pool(net)
        else:
            from kvmnet.model.precedence import with_missing_ids

            # straight into a bridge: no allocation, so the ids libvirt's parser gives an
            # interface's <virtualport> (a defined guest's has them already)
            port = replace(port, plug=plug or Plug(type=PlugType.BRIDGE, bridge=bridge),
                           virtualport=with_missing_ids(port.virtualport))
            key, owned_bridge, pool = None, False, ()
        if find(conn, port.uuid) is not None:
            raise ConflictError(f"network port with UUID {port.uuid} already exists; give the "
                                "new port another UUID")
        plugger = plugs.plugger(plugs.key_of(port))
        opts = PlugOptions(mtu=mtu, tap_name=tap_name, device=device, multi_queue=multi_queue,
                           vlan_filtering=vlan_filtering, owned_bridge=owned_bridge, pool=pool,
                           state_dirs=(str(conn.paths.run), str(conn.paths.lib)),
                           state_root=os.path.abspath(conn.paths.root))
        directory = port_dir(conn, key)
        directory.mkdir(parents=True, exist_ok=True)
        with Netlink() as nl:
            rec = plugger.plug(nl, directory, port, key, opts, host=host)
            try:
                port = replace(plugger.plugged(port, rec), owner_name=rec["owner_name"])
                write(directory / f"{port.uuid}.xml", format_port(port))
            except BaseException:
                plugger.unplug(nl, rec, quiet=True, host=host)
                unlink(directory / f"{port.uuid}.json")
                raise
    if rec["skipped"]:
        conn.notify(f"port {port.uuid} on {rec['tap']}: this kernel lacks tc's "
                    f"{' and '.join(rec['skipped'])}; the bandwidth limits hold without them")
    return replace(port_info(rec), virtualport=port.virtualport)


def settle(conn: Connection, port_uuids: list[str]) -> None:
    """Wait until the switches behind these ports have taken them; raise, naming each port
    and why, when one could not (:meth:`kvmnet.port.plugs.base.Plugger.settle`: an Open
    vSwitch whose ovs-vswitchd cannot open the tap).  :func:`plug` never waits for that; a
    guest start settles its ports once, after plugging them all.  UUIDs that name no port
    are skipped."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for puuid in port_uuids:
        found = find(conn, puuid)
        rec = load_record(port_dir(conn, found[0]), found[1]) if found is not None else None
        if rec is not None:
            by_key.setdefault(plugs.record_key(rec), []).append(rec)
    for key, recs in by_key.items():
        plugs.plugger(key).settle(recs)


# -- unplugging --------------------------------------------------------------------------------
def find(conn: Connection, port_uuid: str) -> tuple[str | None, str] | None:
    """(network or None, canonical UUID) of the port with this UUID, or None."""
    wanted = _uuid_arg(port_uuid)
    for network in _dirs(conn):
        base = f"{port_dir(conn, network) / wanted}"
        if os.path.lexists(f"{base}.xml") or os.path.lexists(f"{base}.json"):
            return network, wanted
    return None


def _not_found(port_uuid: str, network: str | None = None) -> NotFoundError:
    where = f" on network '{network}'" if network is not None else ""
    return NotFoundError(f"network port not found: no port with UUID {port_uuid}{where}; run "
                         "'kvmnet net-port-list NETWORK' to see the ports",
                         code=VIR_ERR_NO_NETWORK_PORT)


def remove_ports(conn: Connection, items: list[tuple[str | None, str]],
                 host: Host | None = None) -> list[str]:
    """Unplug these (network, uuid) ports, many taps deleted in parallel; returns failures.
    ``host``: the host adapters their undo acts through (default: the real host)."""
    from kvmnet.host.netlink import Netlink

    def work(item: tuple[str | None, str]) -> str | None:
        directory = port_dir(conn, item[0])
        rec = load_record(directory, item[1]) or {}
        try:
            if rec:
                with Netlink() as nl:
                    plugs.plugger(plugs.record_key(rec)).unplug(nl, rec, host=host)
        except KvmnetError as exc:
            return f"port {item[1]} ({rec.get('tap', '?')}): {exc}"
        unlink(directory / f"{item[1]}.xml")
        unlink(directory / f"{item[1]}.json")
        return None

    if len(items) <= 1:
        results = [work(i) for i in items]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(UNPLUG_THREADS, len(items))) as pool:
            results = list(pool.map(work, items))
    for network in {n for n, _ in items}:
        try:
            port_dir(conn, network).rmdir()  # only when it is empty
        except OSError:
            pass
    return [r for r in results if r is not None]


def unplug(conn: Connection, port_uuid: str, network: str | None = None,
           host: Host | None = None) -> None:
    """Remove a port: its tap (or the adopted device's attachment), tc state and records.

    With ``network`` (name or UUID) the port must be on that network.
    """
    with conn.store.locked():
        found = find(conn, port_uuid)
        if found is None or (network is not None and found[0] != network
                             and found[0] != _network_name(conn, network)):
            raise _not_found(port_uuid, network)
        failures = remove_ports(conn, [found], host)
    if failures:
        raise HostError("unplugging failed: " + "; ".join(failures) + "; retry the unplug")


def unplug_many(conn: Connection, port_uuids: list[str]) -> list[str]:
    """Unplug several ports at once (taps deleted in parallel); returns the failures (empty:
    all gone).  UUIDs that name no port are failures too."""
    with conn.store.locked():
        items, failures = [], []
        for puuid in port_uuids:
            found = find(conn, puuid)
            if found is None:
                failures.append(f"port {puuid}: no such port")
            else:
                items.append(found)
        return failures + remove_ports(conn, items)


def unplug_owner(conn: Connection, owner_uuid: str, host: Host | None = None) -> list[str]:
    """Unplug every port of one guest; returns their UUIDs.  Raises HostError listing what
    could not be removed (after removing everything else)."""
    wanted = _uuid_arg(owner_uuid)
    with conn.store.locked():
        items = [(network, info.uuid) for network in _dirs(conn)
                 for info in list_dir(conn, network, complete=False)
                 if info.owner_uuid == wanted]
        failures = remove_ports(conn, items, host)
    if failures:
        raise HostError("unplugging the guest's ports failed: " + "; ".join(failures))
    return [u for _, u in items]


def unplug_network(conn: Connection, network: str) -> list[str]:
    """Remove every port of ``network`` (by name), complete or half-made, taps included
    (``net-destroy`` keeps them instead: :mod:`kvmnet.port.keep`).  Returns what could not be
    removed; never raises for a host failure."""
    with conn.store.locked():
        files = port_files(port_dir(conn, network))
        return remove_ports(conn, [(network, u) for u in sorted(files)])


# -- listing ----------------------------------------------------------------------------------
def list_dir(conn: Connection, network: str | None, complete: bool = True) -> list[PortInfo]:
    """Ports in one directory; ``complete=False`` includes plugs that never finished."""
    from kvmnet.host.tap import host_side_mac
    from kvmnet.xmlio.port import parse_port

    directory = port_dir(conn, network)
    out = []
    for puuid, suffixes in sorted(port_files(directory).items()):
        if complete and "xml" not in suffixes:
            continue  # a plug still in progress (or interrupted): not a port yet
        rec = load_record(directory, puuid)
        if rec is not None:
            out.append(port_info(rec))
        elif "xml" in suffixes:  # no run record: what the XML says (no tap known)
            try:
                port = parse_port((directory / f"{puuid}.xml").read_bytes())
            except (OSError, KvmnetError):
                continue
            out.append(PortInfo(
                uuid=port.uuid, network=network, tap="", mac=port.mac,
                bridge=port.plug.bridge or "" if port.plug is not None else "",
                tap_mac=host_side_mac(port.mac), mtu=0, owner_name=port.owner_name,
                owner_uuid=port.owner_uuid, group=port.group, isolated=bool(port.isolated),
                plug_type=port.plug_type.value))
    return out


def list_ports(conn: Connection, network: str | None) -> list[PortInfo]:
    """The ports of ``network`` (name or UUID; None: those plugged straight into a bridge),
    ordered by UUID as virsh net-port-list orders them."""
    if network is not None and not port_dir(conn, network).is_dir():
        network = _network_name(conn, network)  # a UUID, or NotFoundError
    return list_dir(conn, network)


#: For net-destroy: the ports a network has (same as :func:`list_ports`).
ports_of = list_ports


def port_xml(conn: Connection, network: str, port_uuid: str) -> str:
    """The ``<networkport>`` status of a port (``net-port-dumpxml``)."""
    puuid = _uuid_arg(port_uuid)
    if not port_dir(conn, network).is_dir():
        network = _network_name(conn, network)
    try:
        return (port_dir(conn, network) / f"{puuid}.xml").read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        raise _not_found(port_uuid, network) from None
