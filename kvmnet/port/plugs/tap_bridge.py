"""The tap-on-a-Linux-bridge plugger (:class:`TapBridgePlugger`, plug types ``network`` and
``bridge``): a guest port's tap, its place on a bridge, its run record.

One function per job, shared by every caller:

* :func:`make` creates the tap (or adopts an existing device), :func:`attach`s it and applies
  its bandwidth limits: a new port (:func:`kvmnet.port.ports.plug`);
* :func:`attach` puts a tap on a bridge with the port's bridge-side settings (isolation,
  static MAC table, VLANs): a new port, and a kept port when its network starts again
  (:mod:`kvmnet.port.keep`);
* :func:`detach` takes a tap off its bridge, down, and keeps it (``net-destroy``): what lives
  on the tap itself (MTU, MAC, the tc qdiscs of its bandwidth limits) stays, what lives on the
  bridge port (isolation, VLANs, learning, FDB entries) goes with the bridge and is re-applied
  by :func:`attach`;
* :func:`unplug` removes what a record lists.

Run records (``NETWORK/UUID.json``, see :mod:`kvmnet.port.ports`) are written here, atomically but
without fsync (run-time state on tmpfs).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kvmnet.errors import (
    ConflictError,
    HostError,
    KvmnetError,
    NotFoundError,
    OperationInvalidError,
)
from kvmnet.port.plugs.base import Plugger, PlugOptions, save, unlink

if TYPE_CHECKING:
    from kvmnet.host.netlink import Netlink
    from kvmnet.model.port import NetworkPort


def make(nl: Netlink, directory: Path, port: NetworkPort, network: str | None, *,
         mtu: int | None, tap_name: str | None, device: str | None, multi_queue: bool,
         vlan_filtering: bool, owned_bridge: bool) -> dict[str, Any]:
    """Make the tap (or adopt ``device``), attach and configure it; returns its run record.

    The record is written as soon as there is something to undo; any failure undoes
    everything and removes it again.
    """
    from kvmnet.host import tap as taps

    assert port.plug is not None and port.plug.bridge is not None
    bridge = port.plug.bridge
    if not owned_bridge:
        taps.check_linux_bridge(nl, bridge)
    try:
        bridge_mtu = taps.get_mtu(bridge)
    except HostError:
        raise OperationInvalidError(
            f"bridge {bridge} of network '{network}' does not exist: the network is marked "
            "active but its bridge is gone; restart it (net-destroy, net-start)") from None
    mtu = mtu if mtu is not None else bridge_mtu
    tap_mac = taps.host_side_mac(port.mac)
    rec: dict[str, Any] = {
        "uuid": port.uuid, "network": network, "bridge": bridge, "mac": port.mac,
        "tap_mac": tap_mac, "mtu": mtu, "owner_uuid": port.owner_uuid, "group": port.group,
        "isolated": bool(port.isolated), "plug_type": port.plug.type.value,
        "created": device is None, "tc": False, "skipped": [],
    }
    if device is None:
        try:
            # Up from the start: without carrier (no QEMU yet) it passes nothing, and it saves
            # the two netlink round trips of set_link_up, a fifth of a plug.
            name = taps.create_tap(tap_name or "vnet%d", mac=tap_mac, mtu=mtu,
                                   multi_queue=multi_queue, up=True)
        except taps.TapExistsError as exc:
            raise ConflictError(f"cannot create tap {tap_name}: a network interface with that "
                                "name already exists; choose another tap name or leave it out "
                                "(kvmnet then picks the first free vnetN)") from exc
    else:
        if taps.ifindex(device) is None:
            raise NotFoundError(f"device {device} does not exist in this network namespace")
        name = device
        rec["restore"] = {"mac": taps.get_mac(device), "mtu": taps.get_mtu(device)}
    rec.update(tap=name, ifindex=taps.ifindex(name),
               owner_name=port.owner_name or name)  # an anonymous port is named by its tap
    record = directory / f"{port.uuid}.json"
    try:
        save(record, rec)
        if device is not None:
            taps.set_mac(name, tap_mac)
            taps.set_mtu(name, mtu)
        attach(nl, rec, port, vlan_filtering=vlan_filtering)
        bw = port.bandwidth
        if bw is not None and (bw.inbound is not None or bw.outbound is not None):
            rec["tc"] = True
            save(record, rec)
            rec["skipped"] = taps.apply_bandwidth(name, *(
                taps.Rate(r.average, r.peak, r.burst) if r is not None and r.average else None
                for r in (bw.inbound, bw.outbound)))
            if rec["skipped"]:
                save(record, rec)
    except BaseException:
        unplug(nl, rec, quiet=True)
        unlink(record)
        raise
    return rec


def attach(nl: Netlink, rec: dict[str, Any], port: NetworkPort, *,
           vlan_filtering: bool) -> None:
    """Put the tap of ``rec`` on ``port``'s bridge with the port's bridge-side settings:
    isolation, libvirt's static MAC table, VLANs (``vlan_filtering``: turn VLAN filtering on
    on the bridge if a VLAN needs it).  Bandwidth lives on the tap, not here."""
    from kvmnet.host import tap as taps

    assert port.plug is not None and port.plug.bridge is not None
    name, bridge = rec["tap"], port.plug.bridge
    try:
        nl.set_master(name, bridge)
    except HostError as exc:
        raise HostError(f"attaching {name} to bridge {bridge} failed: {exc.message}",
                        exc.command, exc.errno) from exc
    if port.isolated:
        nl.bridge_port_set(name, isolated=True)
    batch: list[str] = []
    if port.plug.mac_table_manager == "libvirt":
        batch += taps.libvirt_mac_table_batch(name, port.mac)
    vlan = port.vlan
    if vlan is not None and vlan.tags:
        native = next((t for t in vlan.tags if t.native_mode), None)
        batch += taps.port_vlans(name, bridge, [t.id for t in vlan.tags],
                                 trunk=bool(vlan.trunk),
                                 native=native.id if native is not None else None,
                                 native_tagged=native is not None
                                 and native.native_mode == "tagged", enable=vlan_filtering)
    taps.bridge_batch(batch)
    if rec.get("kept") or not rec.get("created", True):
        # as libvirt, an adopted device goes up once attached and configured; so does a kept
        # tap (see detach).  A new tap was made up: it saves two netlink round trips.
        nl.set_link_up(name)


def is_ours(rec: dict[str, Any]) -> bool:
    """Whether the link ``rec`` names still exists and is the one kvmnet recorded (after a
    crash or a reboot the name may belong to another link, or to none)."""
    from kvmnet.host import tap as taps

    name = rec.get("tap")
    index = taps.ifindex(name) if name else None
    return index is not None and rec.get("ifindex") in (None, index)


def detach(nl: Netlink, rec: dict[str, Any]) -> None:
    """Take the tap of ``rec`` off its bridge and keep it (and what lives on it: MTU, MAC,
    tc qdiscs); a tap already gone or already detached is fine.

    The tap goes down first: a tap that is up but on no bridge hands the guest's frames to
    the host's own IP stack, outside the network's firewall (an ARP for a host address gets
    an answer, then the host routes for the guest).  Down, the guest's writes fail (QEMU
    drops those frames) and nothing reaches the host; :func:`attach` brings it up again."""
    if is_ours(rec):
        nl.set_link_down(rec["tap"])
        nl.set_master(rec["tap"], None)


def unplug(nl: Netlink, rec: dict[str, Any], quiet: bool = False) -> None:
    """Undo what ``rec`` lists; a tap already gone (or replaced by another link) is fine."""
    from kvmnet.host import tap as taps

    name = rec.get("tap")
    try:
        if name is None or taps.ifindex(name) is None:
            return
        if rec.get("created", True):
            # Only the link kvmnet made: after a crash the name may belong to someone else.
            if is_ours(rec):
                nl.delete_link(name)
            return
        if rec.get("tc"):
            taps.clear_bandwidth(name)
        nl.set_master(name, None)
        restore = rec.get("restore") or {}
        if restore.get("mac"):
            taps.set_mac(name, restore["mac"])
        if restore.get("mtu"):
            taps.set_mtu(name, int(restore["mtu"]))
    except KvmnetError:
        if not quiet:
            raise


class TapBridgePlugger(Plugger):
    """A tap (or an adopted link) on a Linux bridge: plug types ``network`` (the network's
    own bridge) and ``bridge`` (a host bridge)."""

    label = "tap on a Linux bridge"

    def plug(self, nl: Netlink, directory: Path, port: NetworkPort, network: str | None,
             opts: PlugOptions) -> dict[str, Any]:
        return make(nl, directory, port, network, mtu=opts.mtu, tap_name=opts.tap_name,
                    device=opts.device, multi_queue=opts.multi_queue,
                    vlan_filtering=opts.vlan_filtering, owned_bridge=opts.owned_bridge)

    def unplug(self, nl: Netlink, rec: dict[str, Any], quiet: bool = False) -> None:
        unplug(nl, rec, quiet=quiet)

    def attach(self, nl: Netlink, rec: dict[str, Any], port: NetworkPort, *,
               vlan_filtering: bool) -> None:
        attach(nl, rec, port, vlan_filtering=vlan_filtering)

    def detach(self, nl: Netlink, rec: dict[str, Any]) -> None:
        detach(nl, rec)

    def is_ours(self, rec: dict[str, Any]) -> bool:
        return is_ours(rec)

    def describe(self, port: NetworkPort, opts: PlugOptions) -> list[str]:
        from kvmnet.host import tap as taps

        assert port.plug is not None and port.plug.bridge is not None
        bridge, tap = port.plug.bridge, opts.device or opts.tap_name or "vnet%d"
        mtu = f" mtu {opts.mtu}" if opts.mtu is not None else ""
        lines = []
        if opts.device is None:
            lines.append(f"ip tuntap add dev {tap} mode tap"
                         + (" multi_queue" if opts.multi_queue else ""))
            lines.append(f"ip link set dev {tap} address {taps.host_side_mac(port.mac)}{mtu} up")
        else:
            lines.append(f"ip link set dev {tap} address {taps.host_side_mac(port.mac)}{mtu}")
        lines.append(f"ip link set dev {tap} master {bridge}")
        if port.isolated:
            lines.append(f"bridge link set dev {tap} isolated on")
        batch: list[str] = []
        if port.plug.mac_table_manager == "libvirt":
            batch += taps.libvirt_mac_table_batch(tap, port.mac)
        vlan = port.vlan
        if vlan is not None and vlan.tags:
            native = next((t for t in vlan.tags if t.native_mode), None)
            if opts.vlan_filtering:
                lines.append(f"ip link set dev {bridge} type bridge vlan_filtering 1")
            batch += taps.vlan_batch(tap, [t.id for t in vlan.tags], trunk=bool(vlan.trunk),
                                     native=native.id if native is not None else None,
                                     native_tagged=native is not None
                                     and native.native_mode == "tagged")
        lines += [f"bridge {line}" for line in batch]
        if opts.device is not None:
            lines.append(f"ip link set dev {tap} up")
        bw = port.bandwidth
        if bw is not None:
            for step in taps.bandwidth_steps(tap, *(
                    taps.Rate(r.average, r.peak, r.burst) if r is not None and r.average else None
                    for r in (bw.inbound, bw.outbound))):
                lines.append(" ".join(step.argv))
        return lines
