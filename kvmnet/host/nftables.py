"""Apply nftables documents: one atomic transaction per document.

A thin adapter: it takes the text that :mod:`kvmnet.network.firewall.nftables` produced
and hands it to nftables in one piece, so the whole document is one atomic
kernel transaction (all of it applies, or nothing does).  Nothing here knows
about networks.

Where libnftables (the library behind ``nft``, from the same Debian package)
can be loaded, the document runs in-process through its documented C API
(``nft_ctx_new``, ``nft_run_cmd_from_buffer``): measured here, 2-3 ms against
~20 ms for starting the ``nft`` program, which is most of that program's cost
and a large part of a cold ``net-start``/``net-destroy``.  Otherwise, or when a
caller names an ``nft`` binary, it runs ``nft -f -`` (argv only, no shell).
The log shows the same ``nft -f -`` command either way.
"""
from __future__ import annotations

import ctypes
import os

from kvmnet.errors import HostError
from kvmnet.log import get as get_logger

log = get_logger("kvmnet.host")

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


NFT_CTX_DRY_RUN = 1 << 0  # nft_ctx_set_dry_run: "nft -c"


class _Libnftables:
    """libnftables through ctypes: just the calls a transaction needs.

    One context (and so one netlink socket) per process and network namespace, kept open
    (one transaction at a time), never freed: closing an nftables
    socket right after a transaction that removed something waits in the kernel for the
    removal's RCU grace period (nf_tables flushes its pending destroy work on socket
    release), 6-28 ms measured here -- a tenth of a cold ``net-destroy``.  Left open, the
    socket closes when the process ends, by which time that work is usually done.
    """

    def __init__(self, lib: ctypes.CDLL) -> None:
        import _thread  # not threading: ~1 ms of a cold net-start for one lock

        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_set_dry_run.argtypes = [ctypes.c_void_p, ctypes.c_bool]
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        self.lib = lib
        # (pid, network namespace inode) -> context: a context's socket lives in the namespace
        # it was opened in, so a forked child, or a thread in another namespace, gets its own
        self._contexts: dict[tuple[int, int], int] = {}
        self._lock = _thread.allocate_lock()  # one transaction at a time on a context

    def run(self, document: str, check_only: bool) -> tuple[int, str]:
        lib = self.lib
        with self._lock:
            owner = (os.getpid(), os.stat("/proc/thread-self/ns/net").st_ino)
            ctx = self._contexts.get(owner)
            if ctx is None:
                ctx = lib.nft_ctx_new(0)
                if not ctx:
                    return -1, "libnftables could not create a context (out of memory?)"
                lib.nft_ctx_buffer_output(ctx)
                lib.nft_ctx_buffer_error(ctx)
                self._contexts[owner] = ctx
            lib.nft_ctx_set_dry_run(ctx, check_only)
            rc = lib.nft_run_cmd_from_buffer(ctx, document.encode("utf-8"))
            # reading a buffer also empties it for the next transaction
            lib.nft_ctx_get_output_buffer(ctx)
            err = lib.nft_ctx_get_error_buffer(ctx) or b""
            return rc, err.decode("utf-8", "replace")


_LIB: list[_Libnftables | None] = []


def libnftables() -> _Libnftables | None:
    """The in-process library, or None when it cannot be loaded (then ``nft`` is used)."""
    if not _LIB:
        try:
            _LIB.append(_Libnftables(ctypes.CDLL("libnftables.so.1")))
        except OSError:
            _LIB.append(None)
    return _LIB[0]


def available(*, nft: str = "nft") -> bool:
    """Whether documents can be applied here: libnftables loads, or ``nft`` is in PATH."""
    from kvmnet.host.which import which

    return libnftables() is not None or which(nft) is not None


def _run(document: str, *, nft: str, check_only: bool) -> None:
    if not document.strip():
        log.debug("nftables: empty document, nothing to apply")
        return
    flags = ["-c", "-f", "-"] if check_only else ["-f", "-"]
    log.debug("%s", shell_form(document, nft=nft, flags=" ".join(flags)))
    lib = libnftables() if nft == "nft" else None
    if lib is not None:
        rc, said = lib.run(document, check_only)
        stdout = ""
    else:
        from kvmnet.host.run import run  # subprocess: only when libnftables is missing

        proc = run([nft, *flags], input=document, check=False, timeout=TIMEOUT)
        rc, said, stdout = proc.returncode, proc.stderr or proc.stdout, proc.stdout
    if rc != 0:
        from kvmnet.host.run import CommandError

        said = said.strip() or f"exit status {rc}"
        what = "check" if check_only else "apply"
        nothing = "" if check_only else " (nothing was changed: a document applies atomically)"
        raise CommandError(
            f"nft could not {what} the firewall transaction: {diagnose(said)}{nothing}; "
            f"nft said:\n{said}\n",
            " ".join([nft, *flags]),
            returncode=rc, stdout=stdout, stderr=said,
        )


def list_table(*, nft: str = "nft") -> str | None:
    """``nft list table inet kvmnet``, or None when the table does not exist."""
    from kvmnet.host.run import run

    argv = [nft, "list", "table", TABLE_FAMILY, TABLE_NAME]
    proc = run(argv, check=False, timeout=TIMEOUT)
    if proc.returncode == 0:
        return proc.stdout
    if "No such file or directory" in proc.stderr:
        return None
    raise HostError(f"cannot list the kvmnet nftables table: {diagnose(proc.stderr)}; "
                    f"nft said:\n{proc.stderr.strip()}\n", " ".join(argv))
