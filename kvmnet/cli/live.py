"""Verbs about networks on the host: net-plan, net-dhcp-leases, autostart, lease-helper."""
from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from kvmnet.cli.ctx import Ctx
from kvmnet.errors import InvalidArgError, quote

if TYPE_CHECKING:
    from kvmnet.engine.step import Step
    from kvmnet.model.network import Network as NetworkDef

#: net-plan's sections, in print order: each shows the steps (or files) of that part
SECTIONS = ("links", "addresses", "routes", "sysctls", "nftables", "dnsmasq-conf",
            "dnsmasq-hosts", "dnsmasq-addnhosts", "files", "dnsmasq")


def plan_sections(steps: tuple[Step, ...]) -> dict[str, str]:
    """Each section of a start: the describe() of its steps, in the order start applies them."""
    out = dict.fromkeys(SECTIONS, "")
    for step in steps:
        for section, text in step.sections():
            out[section] = out.get(section, "") + text + "\n"
    return out


def _plan_target(ctx: Ctx, target: str) -> NetworkDef:
    """A network to plan: an XML file (with define's assignments, not stored) or a network."""
    conn = ctx.conn()
    if os.path.isfile(target):
        from kvmnet.cli.verbs import read_input
        from kvmnet.config.define import assign, gather, prepare

        net = prepare(read_input(target), warn=ctx.warning)  # as net-define would warn
        others, previous = gather(conn.store, net.name, rebuild=False)
        return assign(net, others, previous)
    return conn.lookupNetwork(target).definition(inactive=True)


def cmd_plan(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.cli.output import print_json

    conn = ctx.conn()
    net = _plan_target(ctx, a.target)
    steps = conn.networkPlan(net)
    sections = plan_sections(steps)
    if a.section is not None and a.section not in sections:
        raise InvalidArgError(f"unknown plan section {quote(a.section)}; use one of "
                              + ", ".join(SECTIONS))
    ctx.trailer = False
    if a.json:
        print_json(ctx.stdout, {"network": net.name, "mode": net.forward_mode.value, **sections,
                                "steps": [step.to_json() for step in steps]}
                   if a.section is None else {a.section: sections[a.section]})
    elif a.section is not None:
        ctx.out(sections[a.section])
    else:
        for name in SECTIONS:
            if sections[name]:
                ctx.out(f"### {name}\n{sections[name]}\n")
    return 0


def cmd_dhcp_leases(ctx: Ctx, a: argparse.Namespace) -> int:
    import time

    from kvmnet.cli.output import format_table, print_json

    net = ctx.conn().lookupNetwork(a.network)
    if not net.isActive():
        from kvmnet.errors import OperationInvalidError

        raise OperationInvalidError(f"network '{net.name()}' is not active, so it has no "
                                    f"leases: start it with 'kvmnet net-start {net.name()}'")
    leases = net.DHCPLeases(a.mac)
    if a.json:
        print_json(ctx.stdout, leases)
        ctx.trailer = False
        return 0
    rows = []
    for lease in sorted(leases, key=lambda x: (str(x["mac"] or ""), str(x["ipaddr"]))):
        expiry = int(lease["expirytime"])  # type: ignore[call-overload]
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(expiry)) if expiry else "infinite"
        rows.append([when, str(lease["mac"] or "-"), "ipv6" if lease["type"] else "ipv4",
                     f"{lease['ipaddr']}/{lease['prefix']}", str(lease["hostname"] or "-"),
                     str(lease["clientid"] or "-")])
    ctx.out(format_table(["Expiry Time", "MAC address", "Protocol", "IP address", "Hostname",
                          "Client ID or DUID"], rows, show_header=not ctx.quiet))
    return 0


def cmd_autostart_all(ctx: Ctx, a: argparse.Namespace) -> int:
    """Boot-time start: host interfaces marked onboot first (networks may sit on them)."""
    from kvmnet.errors import problems_line

    failed: list[str] = []  # one error line at the end, however many failed
    for name, exc in ctx.conn().autostartInterfaces():
        if exc is None:
            ctx.extra(f"Interface {name} started\n")
        else:
            failed.append(f"interface {quote(name)} did not start: {exc}")
    for name, exc in ctx.conn().autostartAll():
        if exc is None:
            ctx.extra(f"Network {name} started\n")
        else:
            failed.append(f"network {quote(name)} did not start: {exc}")
    if failed:
        ctx.error(problems_line(failed))
    return 1 if failed else 0


def lease_helper(argv: list[str]) -> int:
    """``kvmnet lease-helper --root R --network N ACTION ...``: dnsmasq's --dhcp-script.

    Parsed by hand and dispatched before argparse: dnsmasq waits for this on
    every lease, so it imports nothing but the lease database.
    """
    from pathlib import Path

    from kvmnet.network import leases

    opts: dict[str, str] = {}
    while argv[:1] and argv[0] in ("--root", "--network") and len(argv) >= 2:
        opts[argv[0][2:]] = argv[1]
        argv = argv[2:]
    if "network" not in opts or not argv:
        sys.stderr.write("error: usage: kvmnet lease-helper --root DIR --network NAME "
                         "add|old|del|init [MAC IP [HOSTNAME]]\n")
        return 2
    root = Path(opts.get("root") or os.environ.get("KVMNET_ROOT") or "/")
    path = leases.status_path(root / "var" / "lib" / "kvmnet" / "dnsmasq", opts["network"])
    sys.stdout.write(leases.helper_main(path, argv, os.environ))
    return 0


def register(verb: Any, net_arg: Any) -> None:
    p = verb("net-plan", cmd_plan, "show what starting a network would apply, without applying")
    p.add_argument("target", metavar="FILE|NETWORK",
                   help="a network XML file, or a defined network's name or uuid")
    p.add_argument("--section", metavar="S", help="only this part: " + ", ".join(SECTIONS))
    p.add_argument("--json", action="store_true", help="print every section as JSON")

    p = verb("net-dhcp-leases", cmd_dhcp_leases, "print lease info for a given network")
    net_arg(p)
    p.add_argument("--mac", metavar="MAC", help="MAC address")
    p.add_argument("--json", action="store_true", help="print a JSON list")

    verb("autostart", cmd_autostart_all, "start every network marked autostart (run at boot)")
