"""The ``nodedev-*`` verbs: the host's devices from sysfs, in virsh's shapes.

``nodedev-list [--tree] [--cap CAP[,CAP]]`` prints names one per line, sorted, or virsh's
ASCII tree from ``computer`` down; ``nodedev-dumpxml NAME [--inactive]`` libvirt's node-device
XML; ``nodedev-info NAME`` virsh's five lines (Name, Parent, Active, Persistent, Autostart: the
host's devices are found, not defined, so they are active, transient and not autostarted);
``nodedev-detach NAME [--driver vfio]`` and ``nodedev-reattach NAME`` move a PCI device to
vfio-pci and back (``Device NAME detached`` / ``re-attached``).  ``--json`` on the list and info.
"""
from __future__ import annotations

import argparse
from typing import Any

from kvmnet.cli.ctx import Ctx, UsageError
from kvmnet.cli.verbs import verb_maker

VERBS = ("nodedev-list", "nodedev-dumpxml", "nodedev-info", "nodedev-detach",
         "nodedev-dettach", "nodedev-reattach")


def tree_lines(devices: list[tuple[str, str | None]]) -> list[str]:
    """virsh's ``nodedev-list --tree`` (vshTreePrint) for (name, parent) pairs in list order.

    Each root prints at column 0; a child prints as ``+- NAME`` under its parent, with ``|``
    carrying on past it while later siblings follow; a parent's children are preceded by a
    ``|`` line, and the last leaf of a branch by a line of just the indent (virsh's blank
    separator, trailing spaces and all)."""
    out: list[str] = []
    names = [n for n, _ in devices]
    children: dict[str, list[int]] = {}
    for i, (_, parent) in enumerate(devices):
        if parent is not None:
            children.setdefault(parent, []).append(i)

    def visit(i: int, last: int, root: bool, indent: str) -> None:
        out.append(f"{indent}{'' if root else '+- '}{names[i]}")
        if not root:
            indent += (" " if i == last else "|") + " "
        kids = children.get(names[i], [])
        if kids:
            out.append(f"{indent}  |")
        for k in kids:
            visit(k, kids[-1], False, indent + "  ")
        if not kids and i == last:
            out.append(indent)

    for i, (_, parent) in enumerate(devices):
        if parent is None:
            visit(i, i, True, "")
    return out


def cmd_list(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.api import node_device_cap_flags

    flags = node_device_cap_flags(a.cap)
    if a.tree and flags:
        raise UsageError("options --tree and --cap are incompatible (virsh's rule): the tree "
                         "needs every device")
    devices = ctx.conn().listAllDevices(flags)
    if a.json:
        from kvmnet.cli.output import print_json

        print_json(ctx.stdout, [{"name": d.name(), "parent": d.parent(), "caps": d.listCaps()}
                                for d in devices])
        ctx.trailer = False
        return 0
    if a.tree:
        ctx.out("".join(f"{line}\n" for line in tree_lines(
            [(d.name(), d.parent()) for d in devices])))
    else:
        ctx.out("".join(f"{d.name()}\n" for d in devices))
    return 0


def cmd_dumpxml(ctx: Ctx, a: argparse.Namespace) -> int:
    ctx.out(ctx.conn().nodeDeviceLookupByName(a.device).XMLDesc(1 if a.inactive else 0))
    return 0


def cmd_info(ctx: Ctx, a: argparse.Namespace) -> int:
    dev = ctx.conn().nodeDeviceLookupByName(a.device)
    yes_no = {1: "yes", 0: "no"}
    rows = [("Name:", dev.name()), ("Parent:", dev.parent() or ""),
            ("Active:", yes_no[dev.isActive()]), ("Persistent:", yes_no[dev.isPersistent()]),
            ("Autostart:", yes_no[dev.autostart()])]
    if a.json:
        from kvmnet.cli.output import print_json

        print_json(ctx.stdout, {"name": dev.name(), "parent": dev.parent(),
                                "active": bool(dev.isActive()),
                                "persistent": bool(dev.isPersistent()),
                                "autostart": bool(dev.autostart()), "caps": dev.listCaps()})
        ctx.trailer = False
        return 0
    ctx.out("".join(f"{k:<15} {v}\n" for k, v in rows))
    return 0


def cmd_detach(ctx: Ctx, a: argparse.Namespace) -> int:
    ctx.conn().nodeDeviceLookupByName(a.device).detachFlags(a.driver)
    ctx.extra(f"Device {a.device} detached\n")
    return 0


def cmd_reattach(ctx: Ctx, a: argparse.Namespace) -> int:
    ctx.conn().nodeDeviceLookupByName(a.device).reAttach()
    ctx.extra(f"Device {a.device} re-attached\n")
    return 0


def register(sub: argparse._SubParsersAction[Any], only: str | None = None) -> None:
    verb = verb_maker(sub, only, VERBS)

    def device_arg(p: Any) -> None:
        p.add_argument("device", metavar="DEVICE", help="device name (see nodedev-list)")

    p = verb("nodedev-list", cmd_list, "enumerate devices on this host")
    p.add_argument("--tree", action="store_true", help="list devices in a tree")
    p.add_argument("--cap", action="append", metavar="CAP",
                   help="capability names, separated by comma (net, pci, system, ...)")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p = verb("nodedev-dumpxml", cmd_dumpxml, "node device details in XML")
    device_arg(p)
    p.add_argument("--inactive", action="store_true",
                   help="show the XML without live-only details (the sysfs path)")
    p = verb("nodedev-info", cmd_info, "node device information")
    device_arg(p)
    p.add_argument("--json", action="store_true", help="print a JSON object")
    for name in ("nodedev-detach", "nodedev-dettach"):
        p = verb(name, cmd_detach, "detach node device from its device driver (to vfio-pci)")
        device_arg(p)
        p.add_argument("--driver", metavar="DRIVER",
                       help="stub driver to bind: vfio (vfio-pci, the default)")
    device_arg(verb("nodedev-reattach", cmd_reattach,
                    "reattach node device to its device driver"))
