"""Kernel settings: set a sysctl, and the accept_ra guard before IPv6 forwarding goes on."""
from __future__ import annotations

from kvmnet.engine.step import KEEP, Step, Undo, register, register_undo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from kvmnet.engine.executor import Context

IPV6_FORWARDING = "net.ipv6.conf.all.forwarding"


@register
class SetSysctl(Step):
    """'shared' settings (forwarding) serve every network and stay after destroy, as with
    libvirt: written only when they differ, and journalled (old value) for the record.
    'link' settings live on a link kvmnet created and vanish with it."""

    kind = "sysctl"
    section = "sysctls"
    fields = ("key", "value", "scope", "reason")
    defaults: ClassVar[dict[str, Any]] = {"scope": "link", "reason": ""}
    key: str
    value: str
    scope: str
    reason: str

    def describe(self) -> str:
        text = f"sysctl -w {self.key}={self.value}"
        return f"{text}  # {self.reason}" if self.reason else text

    def undo_record(self, ctx: Context) -> dict[str, Any] | None:
        if self.scope != "shared":
            return None
        old = ctx.host.sysctl_read(self.key)
        if old == self.value:
            return None
        return {"kind": "sysctl", "key": self.key, "old": old, "new": self.value,
                "scope": self.scope}

    def apply(self, ctx: Context) -> None:
        if self.scope == "shared" and ctx.host.sysctl_read(self.key) == self.value:
            return
        ctx.host.sysctl_write(self.key, self.value)


@register
class KeepRouterAdvertisements(Step):
    """Turning on IPv6 forwarding makes the kernel ignore RAs on interfaces with accept_ra=1.

    libvirt refuses to start in that case; kvmnet sets accept_ra=2 on those interfaces
    (accept RAs even when forwarding), which keeps their default route, and says so.  Runs
    just before the forwarding sysctl, and only if that will change.
    """

    kind = "sysctl.ra-guard"
    section = "sysctls"
    fields = ()

    def describe(self) -> str:
        return (f"# before {IPV6_FORWARDING}=1: sysctl -w net.ipv6.conf.IF.accept_ra=2 for "
                "each IF with accept_ra=1 and an IPv6 default route from router advertisements")

    def apply(self, ctx: Context) -> None:
        host = ctx.host
        if host.sysctl_read(IPV6_FORWARDING) == "1":
            return
        from kvmnet.host import sysctl

        nl = ctx.nl
        routes = nl.list_routes()
        for link in nl.list_links():
            ifname = str(link["ifname"])
            key = sysctl.iface_key(6, ifname, "accept_ra")
            if ifname == "lo" or host.sysctl_read(key) != "1":
                continue
            if not any(r.ifname == ifname and r.prefixlen == 0 and r.gateway and ":" in r.gateway
                       for r in routes):
                continue
            host.sysctl_write(key, "2")
            ctx.say(f"set {key}=2 so that {ifname} keeps its IPv6 default route from router "
                    "advertisements while IPv6 forwarding is on")


@register_undo
class KeepSysctl(Undo):
    """Shared settings that other networks and the host may rely on: like libvirt, kvmnet
    leaves them set; the record says what they were."""

    kind = "sysctl"
    phase = KEEP

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        pass

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return f"# {entry['key']} stays {entry['new']} (was {entry['old']}; shared)"
