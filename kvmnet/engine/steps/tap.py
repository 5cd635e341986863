"""Guest taps: create a tap or adopt a link, attach it to a Linux bridge, limit its bandwidth.

The steps of the tap-on-a-Linux-bridge plugger (:mod:`kvmnet.port.plugs.tap_bridge`), run by
the executor with the port's journal (``run/kvmnet/ports/NETWORK/UUID.json``).  Undo kinds:
``tap`` (delete the tap kvmnet made; with it go its place on the bridge and its qdiscs),
``tap.restore`` (an adopted link: off the bridge, its own MAC and MTU back) and ``tap.tc``
(an adopted link's qdiscs).

Plugging is a hot path (>= 250 plugs+unplugs/s): the adapters are imported inside the methods,
and a created tap's attach and qdiscs journal nothing, since deleting the tap removes them.
"""
from __future__ import annotations

from kvmnet.engine.step import KERNEL, Step, Undo, register, register_undo
from kvmnet.errors import KvmnetError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from kvmnet.engine.executor import Context


@register
class CreateTap(Step):
    """A persistent tap, up from the start: without carrier (no QEMU yet) it passes nothing,
    and it saves the two netlink round trips of a separate link-up, a fifth of a plug.

    ``name`` may be a template (``vnet%d``: the kernel picks the first free N); the journalled
    undo record gets the real name and ifindex once the tap exists (:attr:`made`)."""

    kind = "tap.create"
    section = "links"
    fields = ("name", "mac", "mtu", "multi_queue")
    defaults: ClassVar[dict[str, Any]] = {"multi_queue": False}
    name: str
    mac: str
    mtu: int | None  # None: the kernel's default (describe only; a plug knows the bridge's)
    multi_queue: bool

    #: the tap's real name, once applied
    made: str | None = None
    _undo: dict[str, Any] | None = None

    def describe(self) -> str:
        mtu = f" mtu {self.mtu}" if self.mtu is not None else ""
        return (f"ip tuntap add dev {self.name} mode tap"
                + (" multi_queue" if self.multi_queue else "")
                + f"\nip link set dev {self.name} address {self.mac}{mtu} up")

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        # Before the tap exists its name may be a template and its ifindex is unknown: the
        # undo then finds it by its MAC (see DeleteTap); apply() fills both in, and the
        # plugger's next journal write records them.
        self._undo = {"kind": "tap", "name": self.name, "mac": self.mac, "ifindex": None}
        return self._undo

    def apply(self, ctx: Context) -> None:
        from kvmnet.host import tap as taps

        try:
            self.made = taps.create_tap(self.name, mac=self.mac, mtu=self.mtu,
                                        multi_queue=self.multi_queue, up=True, nl=ctx.nl)
        except BaseException:
            # create_tap leaves nothing behind when it fails (the tap dies with its
            # descriptor until made persistent): nothing to undo, and the link whose name
            # made it fail (maybe another port's tap, with the same MAC) is not ours
            if self._undo is not None:
                self._undo["made"] = False
            raise
        if self._undo is not None:
            self._undo.update(name=self.made, ifindex=taps.ifindex(self.made))


@register
class AdoptLink(Step):
    """An existing link (e.g. the host end of a veth) takes the port's MAC and MTU; its own
    are journalled first, to be restored when the port goes."""

    kind = "tap.adopt"
    section = "links"
    fields = ("name", "mac", "mtu")
    name: str
    mac: str
    mtu: int | None  # None: keep its own (describe only; a plug knows the bridge's)

    def describe(self) -> str:
        mtu = f" mtu {self.mtu}" if self.mtu is not None else ""
        return f"ip link set dev {self.name} address {self.mac}{mtu}"

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        from kvmnet.host import tap as taps

        return {"kind": "tap.restore", "name": self.name, "mac": taps.get_mac(self.name),
                "mtu": taps.get_mtu(self.name)}

    def apply(self, ctx: Context) -> None:
        from kvmnet.host import tap as taps

        taps.set_mac(self.name, self.mac)
        if self.mtu is not None:
            taps.set_mtu(self.name, self.mtu)


@register
class AttachTap(Step):
    """The tap on its bridge with the port's bridge-side settings: isolation, libvirt's static
    MAC table (``guest_mac``: no learning or flooding, a static FDB entry), VLANs.  ``up``: an
    adopted link or a kept tap goes up once attached and configured.  Nothing to journal: it
    goes with the tap (deleted, or restored off the bridge)."""

    kind = "tap.attach"
    section = "links"
    fields = ("name", "bridge", "isolated", "guest_mac", "vlan", "vlan_filtering", "up",
              "hairpin")
    defaults: ClassVar[dict[str, Any]] = {"isolated": False, "guest_mac": None, "vlan": None,
                                          "vlan_filtering": False, "up": False,
                                          "hairpin": False}
    name: str
    bridge: str
    isolated: bool
    # a port forward's target reaching itself through the host comes back out of its own
    # port when bridge netfilter is on (kvmnet.network.firewall.forwards)
    hairpin: bool
    guest_mac: str | None
    # {"tags": [int], "trunk": bool, "native": int | None, "native_tagged": bool}
    vlan: dict[str, Any] | None
    vlan_filtering: bool
    up: bool

    def _batch(self, name: str, vlans: bool) -> list[str]:
        from kvmnet.host import tap as taps

        batch: list[str] = []
        if self.guest_mac:
            batch += taps.libvirt_mac_table_batch(name, self.guest_mac)
        if vlans and self.vlan:
            batch += taps.vlan_batch(name, **self.vlan)
        return batch

    def describe(self) -> str:
        lines = [f"ip link set dev {self.name} master {self.bridge}"]
        flags = (" isolated on" if self.isolated else "") + (" hairpin on" if self.hairpin else "")
        if flags:
            lines.append(f"bridge link set dev {self.name}{flags}")
        if self.vlan and self.vlan_filtering:
            lines.append(f"ip link set dev {self.bridge} type bridge vlan_filtering 1")
        lines += [f"bridge {line}" for line in self._batch(self.name, True)]
        if self.up:
            lines.append(f"ip link set dev {self.name} up")
        return "\n".join(lines)

    def apply(self, ctx: Context) -> None:
        from kvmnet.errors import HostError
        from kvmnet.host import tap as taps

        name, bridge, nl = self.name, self.bridge, ctx.nl
        try:
            nl.set_master(name, bridge)
        except HostError as exc:
            raise HostError(f"attaching {name} to bridge {bridge} failed: {exc.message}",
                            exc.command, exc.errno) from exc
        if self.isolated or self.hairpin:
            nl.bridge_port_set(name, isolated=True if self.isolated else None,
                               hairpin=True if self.hairpin else None)
        batch = self._batch(name, False)
        if self.vlan:
            batch += taps.port_vlans(name, bridge, enable=self.vlan_filtering, **self.vlan)
        taps.bridge_batch(batch)
        if self.up:
            nl.set_link_up(name)


@register
class LimitBandwidth(Step):
    """libvirt's tc set-up on the tap (rates as [average, peak, burst], kB/s and kB).
    ``adopted``: the link outlives the port, so its qdiscs are journalled for removal; a tap
    kvmnet made takes them with it.  :attr:`skipped`: optional parts this kernel lacks."""

    kind = "tap.tc"
    section = "links"
    fields = ("name", "inbound", "outbound", "adopted")
    defaults: ClassVar[dict[str, Any]] = {"inbound": None, "outbound": None, "adopted": False}
    name: str
    inbound: list[int | None] | None
    outbound: list[int | None] | None
    adopted: bool

    skipped: tuple[str, ...] = ()

    def _rates(self) -> tuple[Any, Any]:
        from kvmnet.host import tap as taps

        return tuple(taps.Rate(*r) if r is not None else None  # type: ignore[arg-type,return-value]
                     for r in (self.inbound, self.outbound))

    def describe(self) -> str:
        from kvmnet.host import tap as taps

        return "\n".join(" ".join(s.argv) for s in taps.bandwidth_steps(self.name, *self._rates()))

    def undo_record(self, ctx: Context) -> dict[str, Any] | None:
        return {"kind": "tap.tc", "name": self.name} if self.adopted else None

    def apply(self, ctx: Context) -> None:
        from kvmnet.host import tap as taps

        self.skipped = tuple(taps.apply_bandwidth(self.name, *self._rates()))


@register_undo
class DeleteTap(Undo):
    """The tap kvmnet made, only if it is still that one: after a crash or a reboot the name
    may belong to another link (or the template was never resolved: nothing was made)."""

    kind = "tap"
    phase = KERNEL

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        from kvmnet.host import tap as taps

        name, made = entry.get("name") or "", entry.get("ifindex")
        if entry.get("made") is False:
            return
        if made is not None:
            if taps.ifindex(name) == made:
                ctx.nl.delete_link(name)
            return
        # Journalled before the tap was made and the process killed right after creating it:
        # the link of that name, or of that template, with the tap's MAC is ours.
        mac = entry.get("mac")
        if not mac or not name:
            return
        if "%d" in name:
            import re
            import socket

            pattern = re.compile(re.escape(name).replace("%d", "[0-9]+") + "$")
            names = [n for _, n in socket.if_nameindex() if pattern.match(n)]
        else:
            names = [name]
        for candidate in names:
            try:
                if taps.get_mac(candidate) == mac:
                    ctx.nl.delete_link(candidate)
            except KvmnetError:
                continue  # gone meanwhile

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return f"ip link del {entry['name']}"


@register_undo
class RestoreLink(Undo):
    """An adopted link: off the bridge, its own MAC and MTU back."""

    kind = "tap.restore"
    phase = KERNEL

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        from kvmnet.host import tap as taps

        name = entry["name"]
        if taps.ifindex(name) is None:
            return
        ctx.nl.set_master(name, None)
        if entry.get("mac"):
            taps.set_mac(name, entry["mac"])
        if entry.get("mtu"):
            taps.set_mtu(name, int(entry["mtu"]))

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return (f"ip link set dev {entry['name']} nomaster address {entry.get('mac')} "
                f"mtu {entry.get('mtu')}")


@register_undo
class ClearBandwidth(Undo):
    kind = "tap.tc"
    phase = KERNEL

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        from kvmnet.host import tap as taps

        if taps.ifindex(entry["name"]) is not None:
            taps.clear_bandwidth(entry["name"])

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return f"tc qdisc del dev {entry['name']} root; tc qdisc del dev {entry['name']} ingress"
