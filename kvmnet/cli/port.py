"""The ``net-port-*`` verbs: virsh's names, messages and layout for a network's guest ports.

``net-port-create NET FILE`` plugs the port a ``<networkport>`` document describes (kvmnet makes
its tap; ``--json`` on ``net-port-list`` shows the tap names), ``net-port-list NET`` prints
virsh's one-column " UUID" table, ``net-port-dumpxml NET UUID`` the port's status XML and
``net-port-delete NET UUID`` unplugs it.  NET is a name or UUID; the ports module resolves it,
so that the kept ports of a network undefined meanwhile are still listed and deleted by name.
"""
from __future__ import annotations

import argparse
from typing import Any

from kvmnet.cli.ctx import Ctx
from kvmnet.cli.verbs import verb_maker

VERBS = ("net-port-create", "net-port-list", "net-port-dumpxml", "net-port-delete")

_NET_HELP = "network name or uuid"


def cmd_create(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.cli.verbs import read_input
    data = read_input(a.file)
    info = ctx.conn().networkPortCreateXML(a.network, data, tap_name=a.tap, mtu=a.mtu,
                                           vlan_filtering=a.vlan_filtering)
    ctx.extra(f"Network port {info.uuid} created\n")
    return 0


def cmd_list(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.cli.output import format_table, print_json
    from kvmnet.errors import InvalidArgError

    if a.uuid and a.table:
        raise InvalidArgError("Only one argument from --table and --uuid may be specified.")
    infos = ctx.conn().listNetworkPorts(a.network)
    if a.json:
        print_json(ctx.stdout, [i.as_dict() for i in infos])
        ctx.trailer = False
    elif a.uuid:
        ctx.out("".join(f"{i.uuid}\n" for i in infos))
    else:
        ctx.out(format_table(["UUID"], [[i.uuid] for i in infos], show_header=not ctx.quiet))
    return 0


def cmd_dumpxml(ctx: Ctx, a: argparse.Namespace) -> int:
    xml = ctx.conn().networkPortXMLDesc(a.network, a.port)
    ctx.out(xml if xml.endswith("\n") else xml + "\n")
    return 0


def cmd_delete(ctx: Ctx, a: argparse.Namespace) -> int:
    uuid = ctx.conn().networkPortDelete(a.port, a.network)
    ctx.extra(f"Network port {uuid} deleted\n")
    return 0


def register(sub: argparse._SubParsersAction[Any], only: str | None = None) -> None:
    """Add the verbs' parsers to ``sub``; with ``only``, just that verb's."""

    make = verb_maker(sub, only, VERBS)

    def verb(name: str, func: Any, help_text: str) -> Any:
        p = make(name, func, help_text)
        p.add_argument("network", metavar="NETWORK", help=_NET_HELP)
        return p

    p = verb("net-port-create", cmd_create, "create (plug) a network port from an XML file")
    p.add_argument("file", metavar="FILE", help="file containing an XML network port description")
    p.add_argument("--validate", action="store_true",
                   help="accepted for virsh compatibility: kvmnet always checks the document")
    p.add_argument("--tap", metavar="NAME", help="name of the tap to create (default: the "
                   "first free vnetN)")
    p.add_argument("--mtu", type=int, metavar="N", help="MTU of the tap (default: the network's)")
    p.add_argument("--vlan-filtering", action="store_true", dest="vlan_filtering",
                   help="turn VLAN filtering on on the bridge if the port's <vlan> needs it")

    p = verb("net-port-list", cmd_list, "list network ports")
    p.add_argument("--uuid", action="store_true", help="list uuid's only")
    p.add_argument("--table", action="store_true", help="list table (default)")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list (with each port's tap, MACs and owner)")

    p = verb("net-port-dumpxml", cmd_dumpxml, "network port information in XML")
    p.add_argument("port", metavar="PORT", help="port UUID")

    p = verb("net-port-delete", cmd_delete, "delete (unplug) the specified network port")
    p.add_argument("port", metavar="PORT", help="port UUID")
