"""Guest verbs with virsh's names, messages and output layout.

``define``, ``undefine``, ``start``, ``destroy``, ``list``, ``dumpxml``, ``edit``,
``console``, ``domiflist``, ``domifaddr``, ``attach-interface``, ``detach-interface``.
All work goes through the facade (``Connection.guests()``).
"""
from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from kvmnet.cli.ctx import Ctx
from kvmnet.cli.verbs import verb_maker
from kvmnet.errors import InvalidArgError, XMLParseError, one_line, quote

if TYPE_CHECKING:
    from kvmnet.guests import Domain, Guests  # the facade's return types

VERBS = ("define", "undefine", "start", "destroy", "list", "dumpxml", "edit", "console",
         "domiflist", "domifaddr", "attach-interface", "detach-interface")
_DOM_HELP = "domain name, id or uuid"


def guests(ctx: Ctx) -> Guests:
    return ctx.conn().guests()


def lookup(ctx: Ctx, ident: str) -> Domain:
    return guests(ctx).lookup(ident)


def _notices(ctx: Ctx, dom: Domain) -> None:
    for text in dom.notices:
        ctx.stderr.write(f"{one_line(text)}\n")
    ctx.stderr.flush()


def _flags(a: argparse.Namespace, running: bool) -> int:
    from kvmnet import api as g

    if a.current and (a.live or a.config or getattr(a, "persistent", False)):
        raise InvalidArgError("--current is mutually exclusive with --live, --config and "
                              "--persistent")
    flags = 0
    if a.live:
        flags |= g.VIR_DOMAIN_AFFECT_LIVE
    if a.config:
        flags |= g.VIR_DOMAIN_AFFECT_CONFIG
    if getattr(a, "persistent", False):
        flags |= g.VIR_DOMAIN_AFFECT_CONFIG | (g.VIR_DOMAIN_AFFECT_LIVE if running else 0)
    return flags


# -- verbs ------------------------------------------------------------------------------------
def cmd_define(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.cli.verbs import read_input

    dom = guests(ctx).defineXML(read_input(a.file))
    ctx.extra(f"Domain '{dom.name()}' defined from {a.file}\n")
    return 0


def cmd_undefine(ctx: Ctx, a: argparse.Namespace) -> int:
    dom = lookup(ctx, a.domain)
    dom.undefine()
    ctx.extra(f"Domain '{dom.name()}' has been undefined\n")
    return 0


def cmd_start(ctx: Ctx, a: argparse.Namespace) -> int:
    dom = lookup(ctx, a.domain)
    dom.create()
    _notices(ctx, dom)
    ctx.extra(f"Domain '{dom.name()}' started\n")
    if a.console:
        return _console(ctx, dom, None)
    return 0


def cmd_destroy(ctx: Ctx, a: argparse.Namespace) -> int:
    dom = lookup(ctx, a.domain)
    dom.destroy()
    ctx.extra(f"Domain '{dom.name()}' destroyed\n")
    return 0


def cmd_list(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet import api as g
    from kvmnet.cli.output import format_table, print_json
    from kvmnet.errors import NotFoundError

    flags = g.VIR_CONNECT_LIST_DOMAINS_ACTIVE
    if a.inactive:
        flags = g.VIR_CONNECT_LIST_DOMAINS_INACTIVE
    if a.all:
        flags = g.VIR_CONNECT_LIST_DOMAINS_ACTIVE | g.VIR_CONNECT_LIST_DOMAINS_INACTIVE
    if a.persistent:
        flags |= g.VIR_CONNECT_LIST_DOMAINS_PERSISTENT
    if a.transient:
        flags |= g.VIR_CONNECT_LIST_DOMAINS_TRANSIENT
    if a.table + a.name + a.uuid > 1:
        raise InvalidArgError("Only one argument from --table, --name and --uuid may be specified.")
    rows: list[dict[str, Any]] = []
    for dom in guests(ctx).listAllDomains(flags):
        try:
            dom_id = dom.ID()
            rows.append({"id": dom_id if dom_id >= 0 else None, "name": dom.name(),
                         "uuid": dom.UUIDString(),
                         "state": "running" if dom_id >= 0 else "shut off",
                         "persistent": dom.isPersistent()})
        except NotFoundError:
            continue  # undefined since the listing
    if a.json:
        print_json(ctx.stdout, rows)
        ctx.trailer = False
    elif a.uuid:
        ctx.out("".join(f"{r['uuid']}\n" for r in rows))
    elif a.name:
        ctx.out("".join(f"{r['name']}\n" for r in rows))
    else:
        table = [["-" if r["id"] is None else str(r["id"]), r["name"], r["state"]] for r in rows]
        ctx.out(format_table(["Id", "Name", "State"], table, show_header=not ctx.quiet))
    return 0


def cmd_dumpxml(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet import api as g

    dom = lookup(ctx, a.domain)
    ctx.out(dom.XMLDesc(g.VIR_DOMAIN_XML_INACTIVE if a.inactive else 0))
    ctx.trailer = False
    return 0


def cmd_edit(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet import api as g
    from kvmnet.cli.edit import edit_loop

    gs = guests(ctx)
    dom = gs.lookup(a.domain)
    return edit_loop(ctx, "Domain", dom.name(), lambda: dom.XMLDesc(g.VIR_DOMAIN_XML_INACTIVE),
                     lambda edited: gs.defineXML(edited).name(), quote=True)


def cmd_console(ctx: Ctx, a: argparse.Namespace) -> int:
    return _console(ctx, lookup(ctx, a.domain), a.devname)


def _console(ctx: Ctx, dom: Domain, devname: str | None) -> int:
    from kvmnet.errors import NotFoundError, OperationInvalidError

    record = dom.record()
    if record is None:
        raise OperationInvalidError(f"domain '{dom.name()}' is not running; start it with "
                                    f"'kvmnet start {dom.name()}'")
    serials = record.get("serials") or []
    port = 0
    if devname is not None:
        if not devname.startswith("serial") or not devname[6:].isdigit():
            raise InvalidArgError(f"unknown console device '{devname}'; use serial0 .. serial3")
        port = int(devname[6:])
    serial = next((s for s in serials if s.get("port") == port), None)
    if serial is None:
        raise NotFoundError(f"domain '{dom.name()}' has no serial{port} console; add <serial "
                            "type='pty'/> to its definition")
    try:
        in_fd = ctx.stdin.fileno()
        interactive = os.isatty(in_fd)
    except (AttributeError, OSError, ValueError):
        in_fd, interactive = -1, False
    if not interactive or a_force_log(ctx):
        # No terminal to attach: show what the guest printed so far.
        try:
            with open(serial["log"], "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            data = b""
        ctx.out(data.decode("utf-8", errors="replace"))
        ctx.trailer = False
        return 0
    ctx.out(f"Connected to domain '{dom.name()}'\nEscape character is ^] (Ctrl + ])\n")
    ctx.stdout.flush()
    how = dom.attachConsole(serial["socket"], in_fd, ctx.stdout.fileno())
    ctx.out("\n")
    if how == "closed":
        ctx.stderr.write(f"console of domain '{dom.name()}' closed (the guest stopped)\n")
    ctx.trailer = False
    return 0


def a_force_log(ctx: Ctx) -> bool:
    return os.environ.get("KVMNET_CONSOLE_LOG") == "1"


def cmd_domiflist(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.cli.output import format_table, print_json

    dom = lookup(ctx, a.domain).definition(inactive=a.inactive)
    rows = [[i.target_dev if (i.target_dev and (dom.id is not None or not a.inactive)) else "-",
             i.type, i.source or "-", i.model or "-", i.mac or "-"] for i in dom.interfaces]
    if a.json:
        print_json(ctx.stdout, [dict(zip(("interface", "type", "source", "model", "mac"), r))
                                for r in rows])
        ctx.trailer = False
        return 0
    ctx.out(format_table(["Interface", "Type", "Source", "Model", "MAC"], rows,
                         show_header=not ctx.quiet))
    return 0


def cmd_domifaddr(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.cli.output import print_json

    if a.source not in (None, "lease"):
        raise InvalidArgError(f"unsupported data source {quote(a.source)}: kvmnet reads the "
                              "networks' DHCP leases (--source lease)")
    ifaces = lookup(ctx, a.domain).interfaceAddresses()
    if a.json:
        print_json(ctx.stdout, [{"name": n, "mac": v["hwaddr"], "addrs": v["addrs"]}
                                for n, v in ifaces.items() if not a.interface or n == a.interface])
        ctx.trailer = False
        return 0
    # virsh's own printf layout (not its table helper), dashes included.
    ctx.extra(f" {'Name':<10} {'MAC address':<20} {'Protocol':<8}     Address\n"
              + "-" * 79 + "\n")
    for name, info in ifaces.items():
        if a.interface and name != a.interface:
            continue
        for j, addr in enumerate(info["addrs"]):
            proto = "ipv6" if addr["type"] == 1 else "ipv4"
            text = f"{proto:<12} {addr['addr']}/{addr['prefix']}"
            if a.full or j == 0:
                ctx.out(f" {name:<10} {info['hwaddr']:<17}    {text}\n")
            else:
                ctx.out(f" {'-':<10} {'-':<17}    {text}\n")
    return 0


def cmd_attach_interface(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.model.domain import NIC_MODELS, Interface
    from kvmnet.xmlio import values as v
    from kvmnet.xmlio.domain import format_domain

    if a.type == "hostdev":
        raise InvalidArgError(f"attach-interface cannot add type 'hostdev' (an SR-IOV VF): "
                              "kvmnet gives VFs to a guest only at its start; add <interface "
                              f"type='hostdev'> with 'kvmnet edit {a.domain}' and restart the "
                              "guest")
    if a.type not in ("network", "bridge", "direct"):
        raise InvalidArgError(f"interface type {quote(a.type)} is not supported; use network, "
                              "bridge or direct")
    if a.model is not None and a.model not in NIC_MODELS:
        raise InvalidArgError(f"unknown model {quote(a.model)}; use one of {', '.join(NIC_MODELS)}")
    try:
        mac = v.mac_address(a.mac, "--mac") if a.mac else None
    except XMLParseError as exc:
        raise InvalidArgError(str(exc).removeprefix("--mac: ")) from None
    iface = Interface(type=a.type, mac=mac, network=a.source if a.type == "network" else None,
                      bridge=a.source if a.type == "bridge" else None,
                      # direct: a macvtap on host device SOURCE, libvirt's default mode (vepa)
                      source_dev=a.source if a.type == "direct" else None, model=a.model,
                      target_dev=a.target)
    if a.print_xml:
        from kvmnet.model.domain import Domain as DomainDef

        text = format_domain(DomainDef(name="x", memory_kib=1, interfaces=(iface,)))
        lines = text.splitlines()
        start = next(i for i, ln in enumerate(lines) if "<interface" in ln)
        end = next(i for i, ln in enumerate(lines) if "</interface>" in ln)
        ctx.out("\n".join(ln[4:] for ln in lines[start:end + 1]) + "\n")
        ctx.trailer = False
        return 0
    dom = lookup(ctx, a.domain)
    dom.attachInterface(iface, _flags(a, dom.isActive()))
    ctx.extra("Interface attached successfully\n")
    return 0


def cmd_detach_interface(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.xmlio import values as v

    try:
        mac = v.mac_address(a.mac, "--mac", unicast=False) if a.mac else None
    except XMLParseError as exc:
        raise InvalidArgError(str(exc).removeprefix("--mac: ")) from None
    dom = lookup(ctx, a.domain)
    dom.detachInterface(a.type, mac, _flags(a, dom.isActive()))
    ctx.extra("Interface detached successfully\n")
    return 0


def register(sub: argparse._SubParsersAction[Any], only: str | None = None) -> None:
    verb = verb_maker(sub, only, VERBS)

    def dom_arg(p: Any) -> None:
        p.add_argument("domain", metavar="DOMAIN", help=_DOM_HELP)

    def affect(p: Any, persistent: bool = True) -> None:
        p.add_argument("--live", action="store_true", help="affect running domain")
        p.add_argument("--config", action="store_true", help="affect next boot")
        p.add_argument("--current", action="store_true", help="affect current domain")
        if persistent:
            p.add_argument("--persistent", action="store_true",
                           help="make live change persistent")

    p = verb("define", cmd_define, "define (but don't start) a domain from an XML file")
    p.add_argument("file", metavar="FILE", help="file containing an XML domain description")
    p.add_argument("--validate", action="store_true",
                   help="accepted for virsh compatibility: kvmnet always validates")
    dom_arg(verb("undefine", cmd_undefine, "undefine a domain"))
    p = verb("start", cmd_start, "start a (previously defined) inactive domain")
    dom_arg(p)
    p.add_argument("--console", action="store_true", help="attach to console after creation")
    dom_arg(verb("destroy", cmd_destroy, "destroy (stop) a domain"))

    p = verb("list", cmd_list, "list domains")
    for opt, text in (("--inactive", "list inactive domains"),
                      ("--all", "list inactive & active domains"),
                      ("--persistent", "list persistent domains"),
                      ("--transient", "list transient domains"),
                      ("--uuid", "list uuid's only"), ("--name", "list domain names only"),
                      ("--table", "list table (default)"), ("--json", "print a JSON list")):
        p.add_argument(opt, action="store_true", help=text)

    p = verb("dumpxml", cmd_dumpxml, "domain information in XML")
    dom_arg(p)
    p.add_argument("--inactive", action="store_true", help="show inactive defined XML")
    dom_arg(verb("edit", cmd_edit, "edit XML configuration for a domain"))

    p = verb("console", cmd_console, "connect to the guest console (^] leaves; without a "
             "terminal, print the console log)")
    dom_arg(p)
    p.add_argument("--devname", metavar="NAME", help="character device name (serial0 ...)")

    p = verb("domiflist", cmd_domiflist, "list all domain virtual interfaces")
    dom_arg(p)
    p.add_argument("--inactive", action="store_true",
                   help="get inactive rather than running configuration")
    p.add_argument("--json", action="store_true", help="print a JSON list")

    p = verb("domifaddr", cmd_domifaddr, "get network interfaces' addresses for a running domain")
    dom_arg(p)
    p.add_argument("interface", metavar="INTERFACE", nargs="?", help="network interface name")
    p.add_argument("--full", action="store_true", help="always display names and MACs of "
                   "interfaces")
    p.add_argument("--source", metavar="SOURCE", help="address source: lease")
    p.add_argument("--json", action="store_true", help="print a JSON list")

    p = verb("attach-interface", cmd_attach_interface, "attach network interface")
    dom_arg(p)
    p.add_argument("type", metavar="TYPE",
                   help="network interface type (network, bridge or direct)")
    p.add_argument("source", metavar="SOURCE", help="source of network interface (direct: "
                   "the host device)")
    p.add_argument("--target", metavar="NAME", help="target network name (the tap device)")
    p.add_argument("--mac", metavar="MAC", help="MAC address")
    p.add_argument("--model", metavar="MODEL", help="model type (virtio, e1000, e1000e, rtl8139)")
    p.add_argument("--print-xml", action="store_true",
                   help="print XML document rather than attach the interface")
    affect(p)

    p = verb("detach-interface", cmd_detach_interface, "detach network interface")
    dom_arg(p)
    p.add_argument("type", metavar="TYPE",
                   help="network interface type (network, bridge or direct)")
    p.add_argument("--mac", metavar="MAC", help="MAC address")
    affect(p)
