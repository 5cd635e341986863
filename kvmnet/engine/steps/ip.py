"""Addresses and routes on a link kvmnet created: they go with the link, so no undo."""
from __future__ import annotations

from kvmnet.engine.step import Step, register

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from kvmnet.engine.executor import Context


@register
class AddAddress(Step):
    kind = "ip.addr"
    section = "addresses"
    fields = ("ifname", "address", "prefixlen")
    ifname: str
    address: str
    prefixlen: int

    def describe(self) -> str:
        # no DAD for IPv6: the bridge is the only router of its own subnet, and dnsmasq binds
        # the address right away (a tentative IPv6 address cannot be bound)
        text = f"ip addr add {self.address}/{self.prefixlen} dev {self.ifname}"
        return text + " nodad" if ":" in self.address else text

    def apply(self, ctx: Context) -> None:
        ctx.nl.add_address(self.ifname, self.address, self.prefixlen, nodad=":" in self.address)


@register
class AddRoute(Step):
    kind = "ip.route"
    section = "routes"
    fields = ("dst", "prefixlen", "gateway", "metric")
    defaults: ClassVar[dict[str, Any]] = {"metric": None}
    dst: str
    prefixlen: int
    gateway: str
    metric: int | None

    def describe(self) -> str:
        import ipaddress

        net = ipaddress.ip_network(f"{self.dst}/{self.prefixlen}", strict=False)
        text = f"ip route add {net} via {self.gateway}"
        return text + (f" metric {self.metric}" if self.metric is not None else "")

    def apply(self, ctx: Context) -> None:
        ctx.nl.add_route(self.dst, self.prefixlen, self.gateway, metric=self.metric)
