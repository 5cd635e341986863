"""Apply nftables documents: one ``nft -f -`` run per transaction.

A thin adapter: it takes the text that :mod:`kvmnet.render.nftables` produced
and hands it to nft on standard input, so the whole document is one atomic
kernel transaction (all of it applies, or nothing does).  No shell is
involved; the command is an argv list.  Nothing here knows about networks.
"""
from __future__ import annotations

import logging

from kvmnet.errors import HostError
from kvmnet.host.run import CommandError, run

log = logging.getLogger("kvmnet.host")

TABLE_FAMILY = "inet"
TABLE_NAME = "kvmnet"
TIMEOUT = 120.0  # seconds; nft normally answers in milliseconds

# (fragment of nft's stderr, what it means and what to do); first match wins.
_ROOT = "changing nftables needs CAP_NET_ADMIN in this network namespace; run kvmnet as root"
_DIAGNOSES: tuple[tuple[str, str], ...] = (
    ("Operation not permitted", _ROOT),
    ("Permission denied", _ROOT),
    ("Protocol not supported", (
        "the kernel lacks an nf_tables feature used here (inet nat needs Linux 5.2 or later); "
        "load the nf_tables and nft_nat modules or upgrade the kernel")),
    ("Device or resource busy", (
        "a chain is still referenced, or a map entry for this bridge belongs to another "
        "network; stop the other network that uses this bridge name first")),
    ("File exists", (
        "an entry exists with a different value, usually a bridge name used by another active "
        "network; give each network its own bridge")),
    ("No such file or directory", (
        "the document refers to a table, chain, set or map entry that does not exist, or to a "
        "kernel feature that is not loaded; check the kvmnet table with "
        "'nft list table inet kvmnet'")),
    ("syntax error", (
        "nft could not parse the generated document; this is a kvmnet bug: report it with the "
        "document that kvmnet logs at debug level")),
)


def shell_form(document: str, *, nft: str = "nft", flags: str = "-f -") -> str:
    """The command as a person would type it: ``nft -f - <<'EOF' ... EOF``."""
    lines = document.splitlines()
    marker = "EOF"
    while marker in lines:
        marker += "_"
    body = document if document.endswith("\n") else document + "\n"
    return f"{nft} {flags} <<'{marker}'\n{body}{marker}"


def diagnose(stderr: str) -> str:
    """What nft's error message means and what to do about it."""
    for fragment, meaning in _DIAGNOSES:
        if fragment in stderr:
            return meaning
    return "nft refused the document"


def apply(document: str, *, nft: str = "nft") -> None:
    """Run ``nft -f -`` with ``document`` on stdin: one atomic transaction.

    An empty document (an ``open`` network) runs nothing.  Raises HostError
    (a CommandError with nft's output when nft ran) naming the command, with
    nft's message and a diagnosis; "nft not found in PATH: install the
    nftables package" when nft is missing.
    """
    _run(document, nft=nft, check_only=False)


def check(document: str, *, nft: str = "nft") -> None:
    """Run ``nft -c -f -``: nft parses the document and the kernel validates it; nothing changes."""
    _run(document, nft=nft, check_only=True)


def _run(document: str, *, nft: str, check_only: bool) -> None:
    if not document.strip():
        log.debug("nftables: empty document, nothing to apply")
        return
    flags = ["-c", "-f", "-"] if check_only else ["-f", "-"]
    log.debug("%s", shell_form(document, nft=nft, flags=" ".join(flags)))
    proc = run([nft, *flags], input=document, check=False, timeout=TIMEOUT)
    if proc.returncode != 0:
        said = (proc.stderr or proc.stdout).strip() or f"exit status {proc.returncode}"
        what = "check" if check_only else "apply"
        nothing = "" if check_only else " (nothing was changed: a document applies atomically)"
        raise CommandError(
            f"nft could not {what} the firewall transaction: {diagnose(said)}{nothing}; "
            f"nft said:\n{said}\n",
            " ".join([nft, *flags]),
            returncode=proc.returncode, stdout=proc.stdout, stderr=proc.stderr,
        )


def list_table(*, nft: str = "nft") -> str | None:
    """``nft list table inet kvmnet``, or None when the table does not exist."""
    argv = [nft, "list", "table", TABLE_FAMILY, TABLE_NAME]
    proc = run(argv, check=False, timeout=TIMEOUT)
    if proc.returncode == 0:
        return proc.stdout
    if "No such file or directory" in proc.stderr:
        return None
    raise HostError(f"cannot list the kvmnet nftables table: {diagnose(proc.stderr)}; "
                    f"nft said:\n{proc.stderr.strip()}\n", " ".join(argv))
