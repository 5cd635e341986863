"""Host interfaces (the ``iface-*`` verbs): the changes of a converge, each with its exact undo.

:func:`kvmnet.iface.bridging.converge_steps` turns "from this live state to that one" into
these steps, in the order that keeps connectivity (see :mod:`kvmnet.iface.bridging`); the
interface verbs run them with the executor and the interfaces' crash journal
(``run/kvmnet/interfaces/journal.json``), so a change that fails, or a kvmnet killed midway
(``KVMNET_FAULT_KILL_AFTER=iface.master``...), is rolled back step by step.  Each undo record
holds the value the step replaced (a master, an MTU, an address...), read from the live state
the converge started from; a deleted bridge's record holds its settings, ports, addresses and
routes, so that it can be made again.

Addresses are ``[ifname, address, prefixlen, family]``, routes ``[dst, prefixlen, gateway,
ifname, metric, family]`` (:class:`kvmnet.host.nltypes.Address`, ``Route``).
"""
from __future__ import annotations

from kvmnet.engine.step import KERNEL, Step, Undo, register, register_undo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from kvmnet.engine.executor import Context

#: The kernel keeps a bridge's forward delay within 2..30 s while STP runs.
STP_MIN_CS, STP_MAX_CS = 200, 3000

NO_8021Q = ("this kernel has no 802.1Q support (module 8021q), so VLAN interface {name} cannot "
            "be created; load it with 'modprobe 8021q' or use a kernel built with "
            "CONFIG_VLAN_8021Q")
NO_BONDING = ("this kernel has no bonding support (module bonding), so bond {name} cannot be "
              "created; load it with 'modprobe bonding' or use a kernel built with "
              "CONFIG_BONDING")


def set_bridge_stp(name: str, stp: bool, forward_delay_cs: int | None) -> None:
    from kvmnet.host import iproute

    fd = forward_delay_cs
    if fd is not None and stp:
        fd = min(max(fd, STP_MIN_CS), STP_MAX_CS)
    elif fd is not None and not STP_MIN_CS <= fd <= STP_MAX_CS:
        # the kernel checks the delay before it turns STP off: off first, then the delay
        iproute.set_bridge_stp(name, False, None)
    iproute.set_bridge_stp(name, stp, fd)


def _exists(ctx: Context, name: str) -> bool:
    return ctx.nl.link_info(name) is not None


def _route_words(r: list[Any]) -> str:
    dst, prefixlen, gateway, ifname, metric, family = r
    words = [f"ip{' -6' if family == 6 else ''} route", f"{dst}/{prefixlen}"]
    if gateway:
        words.append(f"via {gateway}")
    if ifname:
        words.append(f"dev {ifname}")
    if metric is not None:
        words.append(f"metric {metric}")
    return " ".join(words)


def _add_route(ctx: Context, r: list[Any]) -> None:
    dst, prefixlen, gateway, ifname, metric, _family = r
    ctx.nl.add_route(dst, prefixlen, gateway, metric=metric, ifname=ifname)


def _delete_route(ctx: Context, r: list[Any]) -> None:
    dst, prefixlen, gateway, ifname, metric, _family = r
    ctx.nl.delete_route(dst, prefixlen, gateway, metric=metric, ifname=ifname)


class IfaceStep(Step):
    """An interface step; :meth:`links` names the links it acts on (a best-effort converge
    skips the steps of a bridge it could not make)."""

    section = "interfaces"

    def links(self) -> set[str]:
        return {getattr(self, f) for f in ("name", "ifname", "master")
                if isinstance(getattr(self, f, None), str)}


# -- links ------------------------------------------------------------------------------------------
@register
class NewBridge(IfaceStep):
    """Created with STP off (it goes on once the ports that carry addresses are in)."""

    kind = "iface.bridge"
    fields = ("name", "forward_delay_cs", "mtu", "mac", "up")
    name: str
    forward_delay_cs: int
    mtu: int | None
    mac: str | None
    up: bool

    def describe(self) -> str:
        words = ["ip link add", self.name]
        if self.mac:
            words.append(f"address {self.mac}")
        if self.mtu:
            words.append(f"mtu {self.mtu}")
        words.append(f"type bridge stp_state 0 forward_delay {self.forward_delay_cs}")
        if self.up:
            words.append(f"&& ip link set {self.name} up")
        return " ".join(words)

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        return {"kind": "link", "name": self.name}

    def apply(self, ctx: Context) -> None:
        ctx.nl.create_bridge(self.name, stp=False, forward_delay_cs=self.forward_delay_cs,
                             mtu=self.mtu, mac=self.mac, up=self.up)


@register
class NewVlan(IfaceStep):
    kind = "iface.vlan"
    fields = ("name", "device", "tag")
    name: str
    device: str
    tag: int

    def describe(self) -> str:
        return f"ip link add link {self.device} name {self.name} type vlan id {self.tag}"

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        return {"kind": "link", "name": self.name}

    def apply(self, ctx: Context) -> None:
        from kvmnet.host import iproute

        iproute.create_vlan(self.name, self.device, self.tag, NO_8021Q.format(name=self.name))


@register
class NewBond(IfaceStep):
    """``miimon``: [freq, downdelay, updelay, carrier]; ``arpmon``: [interval, target,
    validate] (libvirt's bond options)."""

    kind = "iface.bond"
    fields = ("name", "mode", "miimon", "arpmon")
    name: str
    mode: str | None
    miimon: list[Any] | None
    arpmon: list[Any] | None

    def describe(self) -> str:
        words = [f"ip link add {self.name} type bond"]
        if self.mode:
            words.append(f"mode {self.mode}")
        if self.miimon:
            freq, down, up, carrier = self.miimon
            words.append(f"miimon {freq} downdelay {down} updelay {up}")
            if carrier is not None:
                words.append(f"use_carrier {carrier}")
        if self.arpmon:
            interval, target, validate = self.arpmon
            words.append(f"arp_interval {interval} arp_ip_target {target}")
            if validate is not None:
                words.append(f"arp_validate {validate}")
        return " ".join(words)

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        return {"kind": "link", "name": self.name}

    def apply(self, ctx: Context) -> None:
        from kvmnet.host import iproute

        iproute.create_bond(self.name, self.mode,
                            tuple(self.miimon) if self.miimon else None,  # type: ignore[arg-type]
                            tuple(self.arpmon) if self.arpmon else None,  # type: ignore[arg-type]
                            NO_BONDING.format(name=self.name))


@register
class Enslave(IfaceStep):
    """A bond slave: the bonding driver takes only slaves that are down; it brings them up."""

    kind = "iface.enslave"
    fields = ("name", "master", "old")
    name: str
    master: str
    old: str | None

    def describe(self) -> str:
        return (f"ip link set {self.name} down && ip link set {self.name} master {self.master}"
                f" && ip link set {self.name} up")

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        return {"kind": "iface.master", "name": self.name, "master": self.old}

    def apply(self, ctx: Context) -> None:
        ctx.nl.set_link_down(self.name)
        ctx.nl.set_master(self.name, self.master)
        ctx.nl.set_link_up(self.name)


@register
class SetMaster(IfaceStep):
    kind = "iface.master"
    fields = ("name", "master", "old")
    name: str
    master: str | None
    old: str | None

    def describe(self) -> str:
        return f"ip link set {self.name} " + (f"master {self.master}" if self.master
                                              else "nomaster")

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        return {"kind": "iface.master", "name": self.name, "master": self.old}

    def apply(self, ctx: Context) -> None:
        ctx.nl.set_master(self.name, self.master)


@register
class SetMtu(IfaceStep):
    kind = "iface.mtu"
    fields = ("name", "mtu", "old")
    name: str
    mtu: int
    old: int | None

    def describe(self) -> str:
        return f"ip link set {self.name} mtu {self.mtu}"

    def undo_record(self, ctx: Context) -> dict[str, Any] | None:
        return {"kind": "iface.mtu", "name": self.name, "mtu": self.old} if self.old else None

    def apply(self, ctx: Context) -> None:
        ctx.nl.set_mtu(self.name, self.mtu)


@register
class SetUp(IfaceStep):
    kind = "iface.up"
    fields = ("name", "up")
    name: str
    up: bool

    def describe(self) -> str:
        return f"ip link set {self.name} {'up' if self.up else 'down'}"

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        return {"kind": "iface.up", "name": self.name, "up": not self.up}

    def apply(self, ctx: Context) -> None:
        (ctx.nl.set_link_up if self.up else ctx.nl.set_link_down)(self.name)


@register
class SetStp(IfaceStep):
    kind = "iface.stp"
    fields = ("name", "stp", "forward_delay_cs", "old_stp", "old_delay")
    name: str
    stp: bool
    forward_delay_cs: int | None
    old_stp: bool
    old_delay: int | None

    def describe(self) -> str:
        fd = "" if self.forward_delay_cs is None else f" forward_delay {self.forward_delay_cs}"
        return f"ip link set dev {self.name} type bridge stp_state {int(self.stp)}{fd}"

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        return {"kind": "iface.stp", "name": self.name, "stp": self.old_stp,
                "forward_delay_cs": self.old_delay}

    def apply(self, ctx: Context) -> None:
        set_bridge_stp(self.name, self.stp, self.forward_delay_cs)


@register
class DeleteLink(IfaceStep):
    """A link that goes (one kvmnet made, or the bridge the user takes apart).  ``was``: what
    it was -- a bridge's settings, ports, addresses and routes, to make it again."""

    kind = "iface.delete"
    fields = ("name", "was")
    name: str
    was: dict[str, Any]

    def describe(self) -> str:
        return f"ip link del {self.name}"

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        return {"kind": "iface.relink", **self.was, "name": self.name}

    def apply(self, ctx: Context) -> None:
        ctx.nl.delete_link(self.name)


# -- addresses, routes, sysctls -----------------------------------------------------------------------
@register
class AddAddress(IfaceStep):
    kind = "iface.addr_add"
    fields = ("ifname", "address", "prefixlen", "family")
    ifname: str
    address: str
    prefixlen: int
    family: int

    def describe(self) -> str:
        nodad = " nodad" if self.family == 6 else ""
        return f"ip addr add {self.address}/{self.prefixlen} dev {self.ifname}{nodad}"

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        return {"kind": "iface.addr", "address": [self.ifname, self.address, self.prefixlen,
                                                  self.family]}

    def apply(self, ctx: Context) -> None:
        ctx.nl.add_address(self.ifname, self.address, self.prefixlen, nodad=self.family == 6)


@register
class DeleteAddress(IfaceStep):
    kind = "iface.addr_del"
    fields = ("ifname", "address", "prefixlen", "family")
    ifname: str
    address: str
    prefixlen: int
    family: int

    def describe(self) -> str:
        return f"ip addr del {self.address}/{self.prefixlen} dev {self.ifname}"

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        return {"kind": "iface.oldaddr", "address": [self.ifname, self.address,
                                                     self.prefixlen, self.family]}

    def apply(self, ctx: Context) -> None:
        ctx.nl.delete_address(self.ifname, self.address, self.prefixlen)


class _RouteStep(IfaceStep):
    """A route as [dst, prefixlen, gateway, ifname, metric, family]; ``verb`` is ip's."""

    fields = ("route",)
    route: list[Any]
    verb = ""

    def describe(self) -> str:
        return _route_words(self.route).replace(" route ", f" route {self.verb} ", 1)

    def links(self) -> set[str]:
        return {self.route[3]} if self.route[3] else set()


@register
class AddRoute(_RouteStep):
    kind = "iface.route_add"
    verb = "add"

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        return {"kind": "iface.route", "route": list(self.route)}

    def apply(self, ctx: Context) -> None:
        _add_route(ctx, self.route)


@register
class DeleteRoute(_RouteStep):
    kind = "iface.route_del"
    verb = "del"

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        return {"kind": "iface.oldroute", "route": list(self.route)}

    def apply(self, ctx: Context) -> None:
        _delete_route(ctx, self.route)


@register
class SetSysctl(IfaceStep):
    kind = "iface.sysctl"
    fields = ("key", "value", "old")
    key: str
    value: str
    old: str | None

    def describe(self) -> str:
        return f"sysctl -w {self.key}={self.value}"

    def undo_record(self, ctx: Context) -> dict[str, Any] | None:
        return {"kind": "iface.sysctl", "key": self.key, "value": self.old} \
            if self.old is not None else None

    def apply(self, ctx: Context) -> None:
        ctx.host.sysctl_write(self.key, self.value)


# -- undos ------------------------------------------------------------------------------------------
class _Undo(Undo):
    phase = KERNEL


@register_undo
class RestoreMaster(_Undo):
    kind = "iface.master"

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        if _exists(ctx, entry["name"]):
            ctx.nl.set_master(entry["name"], entry.get("master"))

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return SetMaster(name=entry["name"], master=entry.get("master"), old=None).describe()


@register_undo
class RestoreMtu(_Undo):
    kind = "iface.mtu"

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        if _exists(ctx, entry["name"]):
            ctx.nl.set_mtu(entry["name"], int(entry["mtu"]))

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return f"ip link set {entry['name']} mtu {entry['mtu']}"


@register_undo
class RestoreUp(_Undo):
    kind = "iface.up"

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        if _exists(ctx, entry["name"]):
            (ctx.nl.set_link_up if entry["up"] else ctx.nl.set_link_down)(entry["name"])

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return f"ip link set {entry['name']} {'up' if entry['up'] else 'down'}"


@register_undo
class RestoreStp(_Undo):
    kind = "iface.stp"

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        if _exists(ctx, entry["name"]):
            set_bridge_stp(entry["name"], bool(entry["stp"]), entry.get("forward_delay_cs"))

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        fd = entry.get("forward_delay_cs")
        return (f"ip link set dev {entry['name']} type bridge stp_state {int(entry['stp'])}"
                + ("" if fd is None else f" forward_delay {fd}"))


@register_undo
class RemoveAddress(_Undo):
    kind = "iface.addr"

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        ifname, address, prefixlen, _family = entry["address"]
        if _exists(ctx, ifname):
            ctx.nl.delete_address(ifname, address, prefixlen)  # False when gone: fine

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return DeleteAddress(**dict(zip(AddAddress.fields, entry["address"]))).describe()


@register_undo
class RestoreAddress(_Undo):
    kind = "iface.oldaddr"

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        ifname, address, prefixlen, family = entry["address"]
        if _exists(ctx, ifname):
            ctx.nl.add_address(ifname, address, prefixlen, nodad=family == 6)

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return AddAddress(**dict(zip(AddAddress.fields, entry["address"]))).describe()


@register_undo
class RemoveRoute(_Undo):
    kind = "iface.route"

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        _delete_route(ctx, entry["route"])  # False when gone: fine

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return DeleteRoute(route=entry["route"]).describe()


@register_undo
class RestoreRoute(_Undo):
    kind = "iface.oldroute"

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        ifname = entry["route"][3]
        if ifname is None or _exists(ctx, ifname):
            _add_route(ctx, entry["route"])

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return AddRoute(route=entry["route"]).describe()


@register_undo
class RestoreSysctl(_Undo):
    kind = "iface.sysctl"

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        ctx.host.sysctl_write(entry["key"], entry["value"])

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return f"sysctl -w {entry['key']}={entry['value']}"


def _delay(entry: dict[str, Any]) -> int:
    fd = entry.get("forward_delay_cs")
    return 1500 if fd is None else int(fd)  # the kernel's default, 15 s


@register_undo
class Relink(_Undo):
    """A deleted bridge made again, with its ports, addresses and routes; another kind of
    link cannot be made from its record (the error says so)."""

    kind = "iface.relink"

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        name = entry["name"]
        if _exists(ctx, name):
            return
        if entry.get("kind_of") != "bridge":
            from kvmnet.errors import HostError

            raise HostError(f"{name} ({entry.get('kind_of') or 'device'}) was deleted and "
                            "kvmnet cannot make it again; recreate it by hand")
        nl = ctx.nl
        nl.create_bridge(name, stp=bool(entry.get("stp")), forward_delay_cs=_delay(entry),
                         mtu=entry.get("mtu"), mac=entry.get("mac"), up=bool(entry.get("up")))
        for port in entry.get("ports") or ():
            if _exists(ctx, port):
                nl.set_master(port, name)
        for ifname, address, prefixlen, family in entry.get("addresses") or ():
            nl.add_address(ifname, address, prefixlen, nodad=family == 6)
        for route in entry.get("routes") or ():
            _add_route(ctx, route)

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        lines = [NewBridge(name=entry["name"], forward_delay_cs=_delay(entry),
                           mtu=entry.get("mtu"), mac=entry.get("mac"),
                           up=bool(entry.get("up"))).describe()]
        lines += [f"ip link set {port} master {entry['name']}" for port in entry.get("ports")
                  or ()]
        lines += [AddAddress(**dict(zip(AddAddress.fields, a))).describe()
                  for a in entry.get("addresses") or ()]
        lines += [AddRoute(route=r).describe() for r in entry.get("routes") or ()]
        return "\n".join(lines)
