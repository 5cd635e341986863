"""``kvmnet libvirt-shim``: the folder that makes ``import libvirt`` kvmnet's.

With the printed folder on ``PYTHONPATH``, an unmodified libvirt-python program talks to
kvmnet (``PYTHONPATH=$(kvmnet libvirt-shim) python3 prog.py``); see :mod:`kvmnet.compat`.
"""
from __future__ import annotations

import argparse
from typing import Any

from kvmnet.cli.ctx import Ctx
from kvmnet.cli.verbs import verb_maker

VERBS = ("libvirt-shim",)


def cmd_shim(ctx: Ctx, a: argparse.Namespace) -> int:
    from kvmnet.compat import shim_dir

    ctx.out(f"{shim_dir()}\n")
    ctx.trailer = False
    return 0


def register(sub: argparse._SubParsersAction[Any], only: str | None = None) -> None:
    """Add the verb's parser to ``sub``; with ``only``, just that verb's."""
    make = verb_maker(sub, only, VERBS)
    make("libvirt-shim", cmd_shim, "print the folder to put on PYTHONPATH so that "
         "'import libvirt' (libvirt-python programs) uses kvmnet")
