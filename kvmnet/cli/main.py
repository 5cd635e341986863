"""``kvmnet`` command line: virsh's verbs, options and output shapes.

Parsing and printing only; all work goes through the public API
(:mod:`kvmnet.api`).  Errors print as ``error: <message>`` on stderr with exit
status 1 (usage errors: 2) and no traceback unless ``--debug`` is given.
Like virsh, every command's output ends with one empty line (``-q`` drops it
together with headers and confirmations).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, NoReturn, TextIO

from kvmnet.cli.ctx import Ctx, UsageError, log_host_changes, run_command, session
from kvmnet.cli.verbs import Skipped, verb_maker

__all__ = ["Ctx", "Skipped", "UsageError", "build_parser", "main", "verb_maker"]


class Formatter(argparse.HelpFormatter):
    """argparse's formatter, minus the ``import shutil`` it does on every add_argument."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        if width is None:
            try:
                width = int(os.environ.get("COLUMNS", "")) - 2
            except ValueError:
                try:
                    width = os.get_terminal_size(2).columns - 2
                except OSError:
                    width = 78
        super().__init__(prog, indent_increment, max_help_position, max(width, 40))


class Parser(argparse.ArgumentParser):
    """argparse with kvmnet's error shape: ``error: ...`` then a usage hint, exit 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        if message.startswith("argument VERB: invalid choice:"):
            verb = message.split("'")[1] if "'" in message else "?"
            raise UsageError(f"unknown command: '{verb}'; run 'kvmnet --help' to see the commands")
        # One line: the usage hint joins the message (argparse wraps long usages).
        usage = " ".join(self.format_usage().split())
        raise UsageError(f"{message} ({usage[0].lower()}{usage[1:]})")


# Command modules: each has VERBS (its verb names) and register(sub, only).  Adding a
# group of verbs means adding its module here.
COMMAND_MODULES = ("net", "port", "bridge", "iface", "nodedev", "guest", "shim", "forward",
                   "ovs", "doctor")


def _modules() -> list[Any]:
    import importlib

    return [importlib.import_module(f"{__package__}.{name}") for name in COMMAND_MODULES]


def _module_for(verb: str) -> Any | None:
    # Try the module the verb's prefix points at first, so a cold command imports one module.
    guess = ("port" if verb.startswith("net-port-") else "forward"
             if verb.startswith("net-forward-") else "net" if verb.startswith("net-")
             else "iface" if verb.startswith("iface-") else "nodedev" if verb.startswith("nodedev-")
             else "bridge" if verb == "bridge" else "iface" if verb == "bridge-nf"
             else "ovs" if verb == "ovs" else None)
    if guess is not None:
        import importlib

        try:
            mod = importlib.import_module(f"{__package__}.{guess}")
            if verb in mod.VERBS:
                return mod
        except ModuleNotFoundError:
            pass
    for mod in _modules():
        if verb in mod.VERBS:
            return mod
    return None


def _verb_in(argv: list[str]) -> str | None:
    """The verb of a command line, if it names one, skipping the global options."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        if argv[i] == "--":
            i += 1
            break
        i += 2 if argv[i] == "--root" else 1
    return argv[i] if i < len(argv) and _module_for(argv[i]) is not None else None


def build_parser(only: str | None = None) -> Parser:
    """The full parser, or with ``only`` one that knows just that verb (faster start)."""

    parser = Parser(prog="kvmnet", description="libvirt-style virtual networks without a daemon "
                    "(virsh verbs; see 'kvmnet VERB --help').")
    parser.add_argument("--debug", action="store_true", help="log each host change (shell form) and show a traceback on errors")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="quiet mode: no headers, confirmations or trailing empty line")
    parser.add_argument("--root", metavar="DIR",
                        help="state root (default: $KVMNET_ROOT, else /)")
    parser.add_argument("--version", action="version", version=_version())
    # An explicit prog keeps argparse from building a help formatter (and importing
    # shutil) at start-up just to compute it.
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=Parser, prog="kvmnet")
    for mod in ([_module_for(only)] if only is not None else _modules()):
        if mod is not None:
            mod.register(sub, only)
    return parser


def _version() -> str:
    from kvmnet import __version__

    return f"kvmnet {__version__}"


def main(argv: list[str] | None = None, *, stdout: TextIO | None = None,
         stderr: TextIO | None = None, stdin: TextIO | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] == ["lease-helper"]:
        from kvmnet.cli.live import lease_helper

        return lease_helper(args_list[1:])
    ctx = Ctx(stdout or sys.stdout, stderr or sys.stderr, stdin or sys.stdin)

    def body() -> int:
        try:
            args = build_parser(_verb_in(args_list)).parse_args(args_list)
        except UsageError as exc:
            ctx.error(str(exc))
            return 2
        except SystemExit as exc:  # --help / --version
            return exc.code if isinstance(exc.code, int) else 0
        if args.verb is None:
            ctx.error("no command given; run 'kvmnet --help' to see the commands")
            return 2
        ctx.quiet = args.quiet
        ctx.debug = args.debug
        ctx.root = args.root
        if ctx.debug:
            log_host_changes(ctx.stderr)
        return run_command(ctx, lambda: int(args.func(ctx, args)))

    return session(ctx, body)


if __name__ == "__main__":
    raise SystemExit(main())
