"""macvtap guest ports and the macvlan of a direct network's host access.

The steps of the macvtap plugger (:mod:`kvmnet.port.plugs.macvtap`), run by the executor with
the port's journal, and of a direct network's start (its host-access macvlan):

* ``macvtap.create``: a macvtap (or, ``link_kind="macvlan"``, a macvlan) on a parent device in a
  macvtap mode with the guest's MAC, up; undo kind ``macvtap``: delete that link, only while
  it is still the one kvmnet made (same ifindex; journalled before it existed: found by its
  MAC among the links of its kind);
* ``macvtap.node``: a private character device node for the macvtap, from the device number
  this namespace's sysfs gives (see :mod:`kvmnet.host.macvtap` for why not ``/dev/tapN``);
  undo kind ``macvtap.node``: remove it.
"""
from __future__ import annotations

from kvmnet.engine.step import KERNEL, LAST, Step, Undo, register, register_undo
from kvmnet.errors import KvmnetError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from kvmnet.engine.executor import Context


@register
class CreateMacvtap(Step):
    """``name`` None: the first free ``macvtapN`` (``macvlanN`` for a macvlan); the undo record
    and :attr:`made`/:attr:`ifindex` get the real name once it exists."""

    kind = "macvtap.create"
    section = "links"
    fields = ("parent", "mode", "mac", "link_kind", "name")
    defaults: ClassVar[dict[str, Any]] = {"link_kind": "macvtap", "name": None}
    parent: str
    mode: str  # libvirt's: bridge, private, vepa, passthrough
    mac: str
    link_kind: str  # macvtap | macvlan
    name: str | None

    made: str | None = None
    ifindex: int | None = None
    _undo: dict[str, Any] | None = None

    def _name(self) -> str:
        return self.made or self.name or f"{self.link_kind}%d"

    def describe(self) -> str:
        from kvmnet.host.macvtap import kernel_mode

        name = self._name()
        return (f"ip link add link {self.parent} name {name} address {self.mac} type "
                f"{self.link_kind} mode {kernel_mode(self.mode)}\nip link set dev {name} up")

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        self._undo = {"kind": "macvtap", "name": self.name, "mac": self.mac,
                      "link_kind": self.link_kind, "ifindex": None}
        return self._undo

    def apply(self, ctx: Context) -> None:
        from kvmnet.host import macvtap

        prefix = macvtap.MACVLAN_PREFIX if self.link_kind == "macvlan" else macvtap.MACVTAP_PREFIX
        try:
            self.made, self.ifindex = macvtap.create(self.parent, self.mode, self.mac,
                                                     kind=self.link_kind, prefix=prefix,
                                                     name=self.name)
        except BaseException:
            if self._undo is not None:
                self._undo["made"] = False  # nothing was made: the MAC's link is not ours
            raise
        if self._undo is not None:
            self._undo.update(name=self.made, ifindex=self.ifindex)
        ctx.nl.set_link_up(self.made)


@register_undo
class DeleteMacvtap(Undo):
    kind = "macvtap"
    phase = KERNEL

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        from kvmnet.host import macvtap

        if entry.get("made") is False:
            return
        name, made = entry.get("name"), entry.get("ifindex")
        if name and made is not None:
            info = macvtap.link_info(name)
            if info is not None and info[0] == made:
                ctx.nl.delete_link(name)
            return
        # journalled before the link existed and killed right after making it: the link of
        # our kind with the port's MAC is ours
        import socket

        kind, mac = entry.get("link_kind") or "macvtap", entry.get("mac")
        candidates = [name] if name else [n for _, n in socket.if_nameindex()
                                          if n.startswith(kind)]
        for candidate in candidates:
            info = macvtap.link_info(candidate)
            try:
                if info is not None and info[1] == kind and info[2] == mac:
                    ctx.nl.delete_link(candidate)
            except KvmnetError:
                continue  # gone meanwhile

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return f"ip link del {entry.get('name') or entry.get('link_kind', 'macvtap') + '%d'}"


@register
class NeedVirtualFunctions(Step):
    """A ``<pf>`` pool's PF must have virtual functions with network devices (sysfs), or the
    start fails saying so (libvirt's networkCreateInterfacePool); nothing to undo."""

    kind = "macvtap.vfs"
    section = "links"
    fields = ("pf",)
    pf: str

    def describe(self) -> str:
        return f"ls /sys/class/net/{self.pf}/device/virtfn*/net  # {self.pf} must have VFs"

    def apply(self, ctx: Context) -> None:
        from kvmnet.host.macvtap import pf_netdevs

        pf_netdevs(self.pf)


@register
class MakeTapNode(Step):
    """``mknod -m 600 PATH c MAJOR MINOR`` for macvtap ``link`` (``ifindex``: known once the
    macvtap exists; the device number is read from sysfs when applied)."""

    kind = "macvtap.node"
    section = "links"
    fields = ("path", "link", "ifindex")
    defaults: ClassVar[dict[str, Any]] = {"ifindex": None}
    path: str
    link: str
    ifindex: int | None

    def describe(self) -> str:
        index = self.ifindex if self.ifindex is not None else "$(cat /sys/class/net/" \
            f"{self.link}/ifindex)"
        return (f"mknod -m 600 {self.path} c $(cut -d: -f1 /sys/class/net/{self.link}/macvtap/"
                f"tap{index}/dev) $(cut -d: -f2 /sys/class/net/{self.link}/macvtap/tap{index}/dev)")

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        return {"kind": "macvtap.node", "path": self.path}

    def apply(self, ctx: Context) -> None:
        from kvmnet.host import macvtap

        index = self.ifindex
        if index is None:
            info = macvtap.link_info(self.link)
            if info is None:
                from kvmnet.errors import HostError

                raise HostError(f"macvtap {self.link} is gone before its device node was made")
            index = info[0]
        macvtap.make_node(self.path, *macvtap.device_number(self.link, index))


@register_undo
class RemoveTapNode(Undo):
    kind = "macvtap.node"
    phase = LAST

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        from kvmnet.host import macvtap

        macvtap.remove_node(str(entry["path"]))

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return f"rm -f {entry['path']}"
