"""The ``net-*`` verbs: virsh's names, options, messages and output layout."""
from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~4.5 ms of a cold start: annotations only

from kvmnet.cli.ctx import Ctx
from kvmnet.errors import InvalidArgError, NotFoundError, XMLParseError, quote

if TYPE_CHECKING:
    # Only in annotations: the plain net-start/net-destroy run these handlers without argparse.
    import argparse
    from typing import Any

    from kvmnet.api import Network

_NET_HELP = "network name or uuid"


def lookup(ctx: Ctx, ident: str) -> Network:
    """A network named by name or UUID, as virsh's virshCommandOptNetwork."""
    return ctx.conn().lookupNetwork(ident)


# -- verbs ----------------------------------------------------------------------------------
def cmd_define(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.api import VIR_NETWORK_DEFINE_VALIDATE
    from kvmnet.cli.verbs import read_input

    flags = VIR_NETWORK_DEFINE_VALIDATE if a.validate else 0
    net = ctx.conn().networkDefineXMLFlags(read_input(a.file), flags)
    ctx.extra(f"Network {net.name()} defined from {a.file}\n")
    return 0


def cmd_create(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.api import VIR_NETWORK_CREATE_VALIDATE
    from kvmnet.cli.verbs import read_input

    flags = VIR_NETWORK_CREATE_VALIDATE if a.validate else 0
    net = ctx.conn().networkCreateXMLFlags(read_input(a.file), flags)
    ctx.extra(f"Network {net.name()} created from {a.file}\n")
    return 0


def cmd_undefine(ctx: Ctx, a: argparse.Namespace) -> int:
    lookup(ctx, a.network).undefine()
    ctx.extra(f"Network {a.network} has been undefined\n")
    return 0


def cmd_start(ctx: Ctx, a: argparse.Namespace) -> int:
    lookup(ctx, a.network).create()
    ctx.extra(f"Network {a.network} started\n")
    return 0


def cmd_destroy(ctx: Ctx, a: argparse.Namespace) -> int:
    lookup(ctx, a.network).destroy()
    ctx.extra(f"Network {a.network} destroyed\n")
    return 0


def cmd_autostart(ctx: Ctx, a: argparse.Namespace) -> int:
    enable = not a.disable
    lookup(ctx, a.network).setAutostart(enable)
    if enable:
        ctx.extra(f"Network {a.network} marked as autostarted\n")
    else:
        ctx.extra(f"Network {a.network} unmarked as autostarted\n")
    return 0


def cmd_list(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet import api
    from kvmnet.cli.output import format_table, print_json, yes_no

    flags = api.VIR_CONNECT_LIST_NETWORKS_ACTIVE
    if a.inactive:
        flags = api.VIR_CONNECT_LIST_NETWORKS_INACTIVE
    if a.all:
        flags = api.VIR_CONNECT_LIST_NETWORKS_ACTIVE | api.VIR_CONNECT_LIST_NETWORKS_INACTIVE
    for opt, flag in (("persistent", api.VIR_CONNECT_LIST_NETWORKS_PERSISTENT),
                      ("transient", api.VIR_CONNECT_LIST_NETWORKS_TRANSIENT),
                      ("autostart", api.VIR_CONNECT_LIST_NETWORKS_AUTOSTART),
                      ("no_autostart", api.VIR_CONNECT_LIST_NETWORKS_NO_AUTOSTART)):
        if getattr(a, opt):
            flags |= flag
    if a.table + a.name + a.uuid > 1:
        raise InvalidArgError("Only one argument from --table, --name and --uuid may be specified.")
    nets = ctx.conn().listAllNetworks(flags)
    if a.json or a.uuid:
        uuids: dict[str, str] = {}
        for n in nets:
            try:
                uuids[n.name()] = n.UUIDString()
            except NotFoundError:
                pass  # undefined since the listing: not part of the answer
        nets = [n for n in nets if n.name() in uuids]
    if a.json:
        rows: list[dict[str, Any]] = []
        for n in nets:
            active = n.isActive()
            rows.append({"name": n.name(), "uuid": uuids[n.name()],
                         "state": "active" if active else "inactive", "active": active,
                         "autostart": n.autostart(), "persistent": n.isPersistent()})
        print_json(ctx.stdout, rows)
        ctx.trailer = False
    elif a.uuid:
        ctx.out("".join(f"{uuids[n.name()]}\n" for n in nets))
    elif a.name:
        ctx.out("".join(f"{n.name()}\n" for n in nets))
    else:
        table = [[n.name(), "active" if n.isActive() else "inactive", yes_no(n.autostart()),
                  yes_no(n.isPersistent())] for n in nets]
        ctx.out(format_table(["Name", "State", "Autostart", "Persistent"], table,
                             show_header=not ctx.quiet))
    return 0


def cmd_info(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.cli.output import print_json, yes_no
    from kvmnet.errors import KvmnetError

    net = lookup(ctx, a.network)
    try:
        bridge: str | None = net.bridgeName()
    except KvmnetError:
        bridge = None
    if a.json:
        print_json(ctx.stdout, {"name": net.name(), "uuid": net.UUIDString(),
                                "active": net.isActive(), "persistent": net.isPersistent(),
                                "autostart": net.autostart(), "bridge": bridge})
        ctx.trailer = False
        return 0
    lines = [("Name:", net.name()), ("UUID:", net.UUIDString()),
             ("Active:", yes_no(net.isActive())), ("Persistent:", yes_no(net.isPersistent())),
             ("Autostart:", yes_no(net.autostart()))]
    if bridge is not None:
        lines.append(("Bridge:", bridge))
    ctx.out("".join(f"{label:<15} {value}\n" for label, value in lines))
    return 0


def cmd_dumpxml(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.api import VIR_NETWORK_XML_INACTIVE

    xml = lookup(ctx, a.network).XMLDesc(VIR_NETWORK_XML_INACTIVE if a.inactive else 0)
    ctx.out(xml if xml.endswith("\n") else xml + "\n")
    return 0


def cmd_uuid(ctx: Ctx, a: argparse.Namespace) -> int:
    ctx.out(ctx.conn().networkLookupByName(a.network).UUIDString() + "\n")
    return 0


def cmd_name(ctx: Ctx, a: argparse.Namespace) -> int:
    ctx.out(ctx.conn().networkLookupByUUIDString(a.network).name() + "\n")
    return 0


def cmd_validate(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.api import canonicalNetworkXML
    from kvmnet.cli.verbs import read_input

    canonical = canonicalNetworkXML(read_input(a.file), warn=ctx.warning)
    if a.canonical:
        ctx.out(canonical if canonical.endswith("\n") else canonical + "\n")
    else:
        ctx.out(f"{a.file} validates\n")
    return 0


def cmd_update(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet import api
    from kvmnet.cli.verbs import read_input

    if a.current and (a.live or a.config):
        raise InvalidArgError("Options --current and --%s are mutually exclusive"
                              % ("live" if a.live else "config"))
    net = lookup(ctx, a.network)
    if a.command == "add":  # virsh: "add" is a synonym for "add-last"
        command = api.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST
    elif a.command in api.UPDATE_COMMANDS[1:]:
        command = api.UPDATE_COMMANDS.index(a.command)
    else:
        raise InvalidArgError(f"unrecognized command name {quote(a.command)}; use one of add, "
                              + ", ".join(api.UPDATE_COMMANDS[1:]))
    if a.section not in api.UPDATE_SECTIONS[1:]:
        raise InvalidArgError(f"unrecognized section name {quote(a.section)}; use one of "
                              + ", ".join(api.UPDATE_SECTIONS[1:]))
    section = api.UPDATE_SECTIONS.index(a.section)
    if a.xml.startswith("<"):
        xml = a.xml
    else:
        raw = read_input(a.xml, "XML file")
        try:
            xml = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise XMLParseError(f"XML file {quote(a.xml)} is not UTF-8 text") from None
    flags = api.VIR_NETWORK_UPDATE_AFFECT_CURRENT
    if a.config:
        flags |= api.VIR_NETWORK_UPDATE_AFFECT_CONFIG
    if a.live:
        flags |= api.VIR_NETWORK_UPDATE_AFFECT_LIVE
    net.update(command, section, a.parent_index, xml, flags)
    if a.config:
        what = "persistent config and live state" if a.live else "persistent config"
    elif a.live or net.isActive():
        what = "live state"
    else:
        what = "persistent config"
    # virsh prints this without a newline: the empty line after every command ends it.
    ctx.extra(f"Updated network {net.name()} {what}")
    return 0


def cmd_edit(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.cli.edit import edit_network

    return edit_network(ctx, a.network)


# -- registration -----------------------------------------------------------------------------
VERBS = ("net-define", "net-create", "net-undefine", "net-start", "net-destroy", "net-autostart",
         "net-list", "net-info", "net-dumpxml", "net-uuid", "net-name", "net-edit",
         "net-validate", "net-update", "net-plan", "net-dhcp-leases", "autostart")


def register(sub: argparse._SubParsersAction[Any], only: str | None = None) -> None:
    """Add the verbs' parsers to ``sub``; with ``only``, just that verb's."""
    from kvmnet.cli.verbs import VALIDATE_HELP, verb_maker

    verb = verb_maker(sub, only, VERBS)

    def net_arg(p: Any, help_text: str = _NET_HELP) -> None:
        p.add_argument("network", metavar="NETWORK", help=help_text)

    p = verb("net-define", cmd_define,
             "define an inactive persistent virtual network or modify an existing persistent one "
             "from an XML file")
    p.add_argument("file", metavar="FILE", help="file containing an XML network description")
    p.add_argument("--validate", action="store_true", help=VALIDATE_HELP)

    p = verb("net-create", cmd_create, "create a network from an XML file")
    p.add_argument("file", metavar="FILE", help="file containing an XML network description")
    p.add_argument("--validate", action="store_true", help=VALIDATE_HELP)

    net_arg(verb("net-undefine", cmd_undefine, "undefine a persistent network"))
    net_arg(verb("net-start", cmd_start, "start a (previously defined) inactive network"))
    net_arg(verb("net-destroy", cmd_destroy, "destroy (stop) a network"))

    p = verb("net-autostart", cmd_autostart, "autostart a network")
    net_arg(p)
    p.add_argument("--disable", action="store_true", help="disable autostarting")

    p = verb("net-list", cmd_list, "list networks")
    for opt, text in (("--inactive", "list inactive networks"),
                      ("--all", "list inactive & active networks"),
                      ("--persistent", "list persistent networks"),
                      ("--transient", "list transient networks"),
                      ("--autostart", "list networks with autostart enabled"),
                      ("--no-autostart", "list networks with autostart disabled"),
                      ("--uuid", "list uuid's only"), ("--name", "list network names only"),
                      ("--table", "list table (default)"), ("--json", "print a JSON list")):
        p.add_argument(opt, action="store_true", help=text)

    p = verb("net-info", cmd_info, "network information")
    net_arg(p)
    p.add_argument("--json", action="store_true", help="print a JSON object")

    p = verb("net-dumpxml", cmd_dumpxml, "network information in XML")
    net_arg(p)
    p.add_argument("--inactive", action="store_true", help="show inactive defined XML")

    net_arg(verb("net-uuid", cmd_uuid, "convert a network name to network UUID"), "network name")
    net_arg(verb("net-name", cmd_name, "convert a network UUID to network name"), "network uuid")
    net_arg(verb("net-edit", cmd_edit, "edit XML configuration for a network"))

    p = verb("net-validate", cmd_validate,
             "check a network XML file (parse and semantic rules) without defining it")
    p.add_argument("file", metavar="FILE", help="file containing an XML network description")
    p.add_argument("--canonical", action="store_true",
                   help="print the definition as libvirt formats the parsed network")

    p = verb("net-update", cmd_update, "update parts of an existing network's configuration")
    net_arg(p)
    p.add_argument("command", metavar="COMMAND",
                   help="type of update (add-first, add-last (add), delete, or modify)")
    p.add_argument("section", metavar="SECTION",
                   help="which section of network configuration to update")
    p.add_argument("xml", metavar="XML",
                   help="name of file containing xml (or, if it starts with '<', the complete "
                        "xml element itself) to add/modify, or to be matched for search")
    p.add_argument("--parent-index", type=int, default=-1, metavar="N",
                   help="which parent object to search through")
    p.add_argument("--config", action="store_true", help="affect next network startup")
    p.add_argument("--live", action="store_true", help="affect running network")
    p.add_argument("--current", action="store_true", help="affect current state of network")

    from kvmnet.cli import live

    live.register(verb, net_arg)
