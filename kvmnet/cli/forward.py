"""The ``net-forward-*`` verbs: port forwards into NAT networks (Incus's argument order).

``net-forward-add NET LISTEN_ADDRESS PROTO PORTS TARGET_ADDRESS [TARGET_PORTS] [--live]
[--config]``, ``net-forward-remove NET LISTEN_ADDRESS PROTO PORTS [--live] [--config]``,
``net-forward-list NET [--inactive] [--json]``.  Without ``--live``/``--config`` a change goes
where virsh net-update's ``--current`` would: the running network, else the definition.
"""
from __future__ import annotations

TYPE_CHECKING = False

from kvmnet.cli.ctx import Ctx

if TYPE_CHECKING:
    import argparse
    from typing import Any

_NET_HELP = "network name or uuid"


def _flags(a: argparse.Namespace) -> int:
    from kvmnet.api import VIR_NETWORK_UPDATE_AFFECT_CONFIG, VIR_NETWORK_UPDATE_AFFECT_LIVE

    return ((VIR_NETWORK_UPDATE_AFFECT_LIVE if a.live else 0)
            | (VIR_NETWORK_UPDATE_AFFECT_CONFIG if a.config else 0))


def _where(a: argparse.Namespace, active: bool) -> str:
    if a.live and a.config:
        return "live state and persistent config"
    if a.live or (active and not a.config):
        return "live state"
    return "persistent config"


def cmd_add(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.api import addForward, makeForward
    from kvmnet.model.forward import describe

    net = ctx.conn().lookupNetwork(a.network)
    fwd = makeForward(a.address, a.proto, a.ports, a.target, a.target_ports)
    addForward(net, fwd, _flags(a))
    ctx.extra(f"Added forward {describe(fwd)} to network {net.name()} "
              f"{_where(a, net.isActive())}\n")
    return 0


def cmd_remove(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.api import removeForward
    from kvmnet.model.forward import at

    net = ctx.conn().lookupNetwork(a.network)
    removeForward(net, a.address, a.proto, a.ports, _flags(a))
    ctx.extra(f"Removed forward {a.proto} {at(a.address, a.ports)} from network {net.name()} "
              f"{_where(a, net.isActive())}\n")
    return 0


def cmd_list(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.api import listForwards
    from kvmnet.cli.output import format_table, print_json

    forwards = listForwards(ctx.conn().lookupNetwork(a.network), a.inactive)
    if a.json:
        print_json(ctx.stdout, [{"listen_address": f.address, "protocol": f.protocol,
                                 "ports": f.ports_text, "target_address": f.target,
                                 "target_ports": f.target_ports_text} for f in forwards])
        ctx.trailer = False
        return 0
    rows = [[f.address, f.protocol, f.ports_text, f.target, f.target_ports_text]
            for f in forwards]
    ctx.out(format_table(["Listen address", "Protocol", "Ports", "Target address",
                          "Target ports"], rows, show_header=not ctx.quiet))
    return 0


VERBS = ("net-forward-add", "net-forward-remove", "net-forward-list")


def register(sub: argparse._SubParsersAction[Any], only: str | None = None) -> None:
    from kvmnet.cli.verbs import verb_maker

    verb = verb_maker(sub, only, VERBS)

    def common(p: Any) -> None:
        p.add_argument("network", metavar="NETWORK", help=_NET_HELP)
        p.add_argument("address", metavar="LISTEN_ADDRESS",
                       help="IPv4 or IPv6 address of the host the forward listens on")
        p.add_argument("proto", metavar="PROTO", help="tcp or udp")
        p.add_argument("ports", metavar="PORTS", help="80, 80,443 or 8000-8010")

    def scope(p: Any) -> None:
        p.add_argument("--live", action="store_true", help="affect the running network")
        p.add_argument("--config", action="store_true", help="affect the next network startup")

    p = verb("net-forward-add", cmd_add, "forward ports of a host address to a guest of a NAT "
             "network")
    common(p)
    p.add_argument("target", metavar="TARGET_ADDRESS", help="the guest's address on the network")
    p.add_argument("target_ports", metavar="TARGET_PORTS", nargs="?", default=None,
                   help="the guest's ports: as many as PORTS, or one for all (default: PORTS)")
    scope(p)

    p = verb("net-forward-remove", cmd_remove, "remove a port forward of a network")
    common(p)
    scope(p)

    p = verb("net-forward-list", cmd_list, "list the port forwards of a network")
    p.add_argument("network", metavar="NETWORK", help=_NET_HELP)
    p.add_argument("--inactive", action="store_true",
                   help="the persistent definition's forwards, not the running network's")
    p.add_argument("--json", action="store_true", help="print a JSON list")
