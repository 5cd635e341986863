"""Links: create a bridge, bring a link up, need an existing link; undo: delete the link."""
from __future__ import annotations

from kvmnet.engine.step import KERNEL, Step, Undo, register, register_undo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from kvmnet.engine.executor import Context


@register
class CreateBridge(Step):
    kind = "link.bridge"
    section = "links"
    fields = ("name", "stp", "delay", "mtu", "mac")
    defaults: ClassVar[dict[str, Any]] = {"mtu": None, "mac": None}
    name: str
    stp: bool
    delay: int  # seconds, as in the XML
    mtu: int | None
    mac: str | None

    def describe(self) -> str:
        words = ["ip", "link", "add", self.name]
        if self.mac:
            words += ["address", self.mac]
        if self.mtu:
            words += ["mtu", str(self.mtu)]
        words += ["type", "bridge", "stp_state", "1" if self.stp else "0",
                  "forward_delay", str(self.delay * 100)]
        return " ".join(words)

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        return {"kind": "link", "name": self.name}

    def apply(self, ctx: Context) -> None:
        # created down: it comes up once IPv6 is settled (see LinkUp)
        ctx.nl.create_bridge(self.name, stp=self.stp, forward_delay_cs=self.delay * 100,
                             mtu=self.mtu, mac=self.mac, up=False)


@register
class LinkUp(Step):
    """Up before the addresses, once IPv6 is off where unused: an address on a link that is
    up brings its local, prefix and broadcast routes in one kernel call, so a dnsmasq that
    still hears route changes (see host/routemute.py) wakes once per start, not twice."""

    kind = "link.up"
    section = "links"
    fields = ("name",)
    name: str

    def describe(self) -> str:
        return f"ip link set {self.name} up"

    def apply(self, ctx: Context) -> None:
        ctx.nl.set_link_up(self.name)


@register
class NeedLink(Step):
    """A host link the network uses and does not create (a host bridge, a macvtap parent):
    preflight checks it exists before anything changes; applying it changes nothing."""

    kind = "link.exists"
    section = "links"
    fields = ("name",)
    name: str

    def describe(self) -> str:
        return f"# needs the existing link {self.name}"

    def apply(self, ctx: Context) -> None:
        pass


@register_undo
class DeleteLink(Undo):
    """Any link kvmnet created (bridge now; macvtap, tap later) goes by name."""

    kind = "link"
    phase = KERNEL

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        ctx.nl.delete_link(entry["name"])  # False when already gone: fine

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return f"ip link del {entry['name']}"
