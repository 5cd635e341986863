"""``net-edit``: virsh's edit loop (virsh-edit.c) over a temporary copy.

The inactive XML goes to a temporary file, ``$VISUAL`` / ``$EDITOR`` / ``vi``
edits it, and the result is redefined.  An unchanged file is not redefined.
When the definition fails, the error is shown and the user is asked
``Failed. Try again? [y,n,i,f,?]:`` (answers are read as lines from stdin, so
scripts can drive it): ``y`` edits again, ``n`` gives up, ``f`` redefines the
same text again, ``i`` does the same without validation (virsh's "turn off
validation": unknown elements and attributes are then ignored with a warning
instead of refused).  End of input counts as ``n``.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable

from kvmnet.cli.ctx import Ctx
from kvmnet.errors import KvmnetError

PROMPT = "Failed. Try again? [y,n,i,f,?]: "
HELP = ("y - yes, start editor again\n"
        "n - no, throw away my changes\n"
        "i - turn off validation and try to redefine again\n"
        "f - force, try to redefine again\n"
        "? - print this help\n")


def editor_command() -> str:
    return os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"


def run_editor(ctx: Ctx, path: str, what: str = "network") -> None:
    editor = editor_command()
    # As virsh: the editor string may carry options, so it goes through the shell.
    status = subprocess.call(["/bin/sh", "-c", f"{editor} {shlex.quote(path)}"])
    if status != 0:
        raise KvmnetError(f"editor '{editor}' exited with status {status}; the {what} was not "
                          "changed")


def ask(ctx: Ctx) -> str:
    """The user's answer to the retry prompt: one of y, n, i, f."""
    while True:
        ctx.stdout.write(PROMPT)
        ctx.stdout.flush()
        line = ctx.stdin.readline()
        if not line:
            ctx.stdout.write("\n")
            return "n"
        answer = line.strip().lower()[:1]
        if answer == "?":
            ctx.stdout.write(HELP)
        elif answer in ("y", "n", "i", "f"):
            return answer


def edit_loop(ctx: Ctx, what: str, name: str, current: Callable[[], str],
              define: Callable[[bytes], str], *, quote: bool = False,
              relaxed: Callable[[bytes], str] | None = None) -> int:
    """virsh's edit loop for any document kind.

    ``what`` is the object word for messages ("Network", "Interface", "Domain"),
    ``current()`` returns the inactive XML now, ``define(edited)`` redefines and
    returns the (possibly new) name.  ``quote``: virsh quotes domain names in
    these messages ("Domain 'kvm1' XML configuration edited.").  ``relaxed(edited)``
    defines without validation: after the answer ``i`` (virsh's "turn off validation"),
    for the rest of the session.
    """
    def shown(n: str) -> str:
        return f"'{n}'" if quote else n

    doc = current()
    fd, path = tempfile.mkstemp(prefix="kvmnet", suffix=".xml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(doc)
        edit = True
        validate = True
        while True:
            if edit:
                run_editor(ctx, path, what.lower())
            with open(path, "rb") as rf:
                edited = rf.read()
            if edited == doc.encode("utf-8"):
                ctx.extra(f"{what} {shown(name)} XML configuration not changed.\n")
                return 0
            try:
                # Someone else changed it meanwhile: redefining would silently undo that.
                if edit and current() != doc:
                    raise KvmnetError("the XML configuration was changed by another user "
                                      "while you edited it; answer 'f' to overwrite their "
                                      "change, 'y' to edit again")
                new_name = (define if validate or relaxed is None else relaxed)(edited)
            except KvmnetError as exc:
                ctx.error(str(exc))
                answer = ask(ctx)
                if answer == "n":
                    return 1
                if answer == "i":
                    validate = False
                edit = answer == "y"
                continue
            ctx.extra(f"{what} {shown(new_name)} XML configuration edited.\n")
            return 0
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def edit_network(ctx: Ctx, ident: str) -> int:
    from kvmnet.api import VIR_NETWORK_DEFINE_VALIDATE, VIR_NETWORK_XML_INACTIVE

    conn = ctx.conn()
    net = conn.lookupNetwork(ident)
    # As virsh net-edit: the edited document is validated (unknown elements and attributes
    # refused: a misspelling must not turn into a silently different network); answer 'i'
    # defines it anyway, ignoring them with a warning as net-define does.
    return edit_loop(ctx, "Network", net.name(),
                     lambda: net.XMLDesc(VIR_NETWORK_XML_INACTIVE),
                     lambda edited: conn.networkDefineXMLFlags(
                         edited, VIR_NETWORK_DEFINE_VALIDATE).name(),
                     relaxed=lambda edited: conn.networkDefineXML(edited).name())
