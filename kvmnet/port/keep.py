"""Guest ports across a network restart: kept at ``net-destroy``, plugged back at ``net-start``.

libvirt deletes the taps of running guests when their network is destroyed (the guests lose
their NIC backend until they are restarted).  kvmnet keeps them:

* ``net-destroy`` (:func:`keep_network`) takes each port's tap down and off the bridge, before
  the network's firewall and bridge go, so that no guest frame crosses a half-removed network
  (nor the host's own stack: :func:`kvmnet.port.plugs.tap_bridge.detach`).  The tap, what lives on it (MAC,
  MTU, the tc qdiscs of its bandwidth limits) and its records stay; the record is marked
  ``"kept"``.  QEMU keeps its file descriptor: the guest sees a pause.
* ``net-start`` (:func:`replug_network`), once the bridge, firewall and dnsmasq are up, puts
  every port back on the (new) bridge with :func:`kvmnet.port.plugs.tap_bridge.attach`, the same code that
  plugs a new port, from the port's own ``<networkport>`` settings (isolation, VLANs, MAC
  table); the new network decides the plug (its bridge) as for a new port.  A kept port whose
  tap vanished meanwhile (its guest stopped behind kvmnet's back) is dropped with a notice, and
  so is a plug that never finished (a record without its XML: a crash mid-plug).

Both steps only read the records and the links, so they converge: a ``net-start`` killed while
re-plugging leaves ports kept or attached, and the next ``net-destroy`` detaches them all again
(detaching a detached tap is fine), the next ``net-start`` attaches them all.  The "kept" flag
is informational (listings, ``connections``): at start every complete port is re-plugged,
kept or not (a ``net-destroy`` killed before marking it leaves it unmarked).

The records stay under the network's *name* (``run/kvmnet/ports/NAME/``).  A network undefined
while it holds kept ports leaves them with their guests until the guests stop (guest destroy,
``net-port-delete``); a network of the same name started later plugs them in, as it would for a
restart.  Ports plugged straight into a bridge (no network) are not affected.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from kvmnet.errors import KvmnetError, OperationInvalidError
from kvmnet.model.frozen import replace
from kvmnet.port import plugs
from kvmnet.port.plugs.base import load_record, save, write
from kvmnet.port.ports import (
    PortInfo,
    allocate,
    list_dir,
    live_network,
    port_dir,
    port_files,
    remove_ports,
)

if TYPE_CHECKING:
    from kvmnet.api import Connection


def keep_network(conn: Connection, network: str) -> None:
    """``net-destroy``: take every port of ``network`` (by name) off its bridge and keep it;
    a plug that never finished is removed.  What fails is reported through ``conn.notify``
    (never raised: the network's own teardown must still run)."""
    from kvmnet.host.netlink import Netlink

    with conn.store.locked():
        directory = port_dir(conn, network)
        files = port_files(directory)
        failures = remove_ports(conn, [(network, u) for u, s in sorted(files.items())
                                       if "xml" not in s])
        complete = sorted(u for u, s in files.items() if "xml" in s)
        with Netlink() as nl:
            for puuid in complete:
                rec = load_record(directory, puuid)
                if rec is None:
                    continue  # no host state to keep; the next start drops the port
                try:
                    if not rec.get("kept"):
                        # marked first: a crash after this still finds the port at start
                        rec["kept"] = True
                        save(directory / f"{puuid}.json", rec)
                    plugs.plugger(plugs.record_key(rec)).detach(nl, rec)
                except (KvmnetError, OSError) as exc:
                    failures.append(f"port {puuid} ({rec.get('tap', '?')}): {exc}")
    if failures:
        conn.notify(f"network '{network}': some guest ports could not be taken off its bridge "
                    "(run net-destroy again): " + "; ".join(failures))


def replug_network(conn: Connection, network: str) -> None:
    """``net-start``: plug every port of ``network`` (by name), now active, back into its
    bridge with its settings; drop the ones whose tap is gone and unfinished plugs.  What
    cannot be plugged stays kept and is reported through ``conn.notify``."""
    from kvmnet.host.netlink import Netlink
    from kvmnet.xmlio.port import format_port, parse_port

    with conn.store.locked():
        directory = port_dir(conn, network)
        files = port_files(directory)
        if not files:
            return
        net = live_network(conn, network)
        drop: list[tuple[str, str]] = []  # (uuid, why)
        problems: list[str] = []
        with Netlink() as nl:
            for puuid, suffixes in sorted(files.items()):
                rec = load_record(directory, puuid)
                if "xml" not in suffixes:
                    drop.append((puuid, "its plug never finished"))
                    continue
                if rec is None:
                    drop.append((puuid, "its run record is missing or damaged"))
                    continue
                plugger = plugs.plugger(plugs.record_key(rec))
                if not plugger.is_ours(rec):
                    drop.append((puuid, f"its tap {rec['tap']} is gone"))
                    continue
                try:
                    port = parse_port((directory / f"{puuid}.xml").read_bytes())
                    # the port keeps its own settings; the network decides the plug (bridge)
                    port = allocate(net, replace(port, plug=None))
                    assert port.plug is not None
                    # it had its VLANs on the old bridge: the new one must carry them too
                    if type(plugs.plugger(plugs.key_of(port))) is not type(plugger):
                        # the network now hands out another kind of plug: this device cannot go
                        raise OperationInvalidError(
                            f"network '{net.name}' now plugs ports as "
                            f"'{plugs.key_of(port)}', this port is a "
                            f"'{plugs.record_key(rec)}' port; delete it and plug the guest again")
                    plugger.attach(nl, rec, port, vlan_filtering=True)
                    rec.update(bridge=port.plug.bridge, plug_type=port.plug.type.value,
                               isolated=bool(port.isolated), network=net.name)
                    rec.pop("kept", None)
                    write(directory / f"{puuid}.xml", format_port(plugger.plugged(port, rec)))
                    save(directory / f"{puuid}.json", rec)
                except (KvmnetError, OSError) as exc:
                    try:  # half-configured (e.g. without its VLAN) is worse than off
                        plugger.detach(nl, rec)
                    except KvmnetError:
                        pass
                    problems.append(f"port {puuid} ({rec['tap']} of {rec.get('owner_name')}): "
                                    f"{exc}")
        failures = remove_ports(conn, [(network, u) for u, _ in drop])
    if drop:
        conn.notify(f"network '{network}': dropped {len(drop)} stale guest port(s): "
                    + "; ".join(f"{u} ({why})" for u, why in drop)
                    + ("; removing them failed: " + "; ".join(failures) if failures else ""))
    if problems:
        conn.notify(f"network '{network}' started, but some guest ports could not be plugged "
                    "back in; they stay off the bridge until their guest stops or the network "
                    "restarts: " + "; ".join(problems))


def tell_kept(conn: Connection, network: str, what: str) -> None:
    """Say which guest ports outlive ``network``, which is gone now (``what``: destroyed,
    undefined)."""
    kept = kept_ports(conn, network)
    if kept:
        conn.notify(f"network '{network}' {what}; {len(kept)} guest port(s) ({describe(kept)}) "
                    "stay with their guests until they stop (or are deleted with "
                    f"net-port-delete); a network named '{network}' started later plugs them "
                    "back in")


def kept_ports(conn: Connection, network: str) -> list[PortInfo]:
    """The ports of ``network`` (by name) that are kept off a bridge."""
    return [p for p in list_dir(conn, network) if p.kept]


def usage(conn: Connection, network: str) -> tuple[int, dict[str, int]]:
    """libvirt's live ``connections`` of ``network`` (by name), from one reading of its port
    records: how many ports are plugged in, and how many of those sit on each pool device
    (macvtap ports: the ``connections`` of its ``<forward><interface>`` entries)."""
    plugged = [p for p in list_dir(conn, network) if not p.kept]
    used: dict[str, int] = {}
    for p in plugged:
        if p.dev:
            used[p.dev] = used.get(p.dev, 0) + 1
    return len(plugged), used


def describe(infos: list[PortInfo]) -> str:
    """``vnet0 of guest1, vnet1 of vnet1`` for a message, in the taps' order (vnet2 before
    vnet10)."""
    return ", ".join(f"{p.tap or p.uuid} of {p.owner_name}"
                     for p in sorted(infos, key=lambda p: (len(p.tap), p.tap)))
