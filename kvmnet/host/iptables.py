"""iptables through its own programs, for either backend: ``iptables-nft`` and ``iptables-legacy``.

kvmnet keeps its own rules in nftables (:mod:`kvmnet.host.nftables`); this adapter exists for
``kvmnet doctor``, which must read and, with ``--fix``, add to the iptables rules other tools
made (Docker's ``DOCKER-USER``, ufw's chains, a ``FORWARD`` policy of DROP).  The two backends
are separate rule sets on one host: the kernel evaluates both, so a drop in either one stops
a packet.

Reading never creates a table: the legacy backend is read only when the kernel lists its
``filter`` table in ``/proc/net/ip_tables_names`` (running ``iptables-legacy-save`` would
otherwise instantiate it in this network namespace); the nft backend's tables are ordinary
nftables tables (``ip filter``) and reading them with ``iptables-nft-save`` changes nothing.
Commands run as argv lists (no shell); each change is logged at debug level in shell form by
:func:`kvmnet.host.run.run`.
"""
from __future__ import annotations

from kvmnet.errors import HostError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

BACKENDS = ("nft", "legacy")
TIMEOUT = 30.0
LEGACY_TABLES = "/proc/net/ip_tables_names"


def program(backend: str, *, save: bool = False) -> str:
    """``iptables-nft``, ``iptables-legacy-save``...: the program of a backend."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown iptables backend {backend!r}")
    return f"iptables-{backend}{'-save' if save else ''}"


def available(backend: str) -> bool:
    from kvmnet.host.which import which

    return which(program(backend)) is not None


def legacy_in_use(table: str = "filter") -> bool:
    """Whether the kernel has the legacy ``table`` in this network namespace."""
    try:
        with open(LEGACY_TABLES, encoding="ascii") as f:
            return table in f.read().split()
    except OSError:
        return False


def save(backend: str, table: str = "filter") -> str | None:
    """``iptables-BACKEND-save -t TABLE``, or None when that backend has no such table here."""
    if not available(backend) or (backend == "legacy" and not legacy_in_use(table)):
        return None
    from kvmnet.host.run import run

    proc = run([program(backend, save=True), "-t", table], check=False, timeout=TIMEOUT)
    if proc.returncode != 0:
        return None
    return proc.stdout if f"*{table}" in proc.stdout else None


def has_rule(backend: str, chain: str, spec: Sequence[str], table: str = "filter") -> bool:
    """``iptables -C CHAIN SPEC``: whether that exact rule is in the chain."""
    from kvmnet.host.run import run

    proc = run([program(backend), "-w", "-t", table, "-C", chain, *spec], check=False,
               timeout=TIMEOUT)
    return proc.returncode == 0


def has_chain(backend: str, chain: str, table: str = "filter") -> bool:
    from kvmnet.host.run import run

    proc = run([program(backend), "-w", "-t", table, "-S", chain], check=False, timeout=TIMEOUT)
    return proc.returncode == 0


def insert(backend: str, chain: str, spec: Sequence[str], table: str = "filter") -> bool:
    """``iptables -I CHAIN SPEC`` unless the rule is there already; True when it was added."""
    if has_rule(backend, chain, spec, table):
        return False
    _change(backend, ["-t", table, "-I", chain, *spec])
    return True


def delete(backend: str, chain: str, spec: Sequence[str], table: str = "filter") -> int:
    """``iptables -D CHAIN SPEC`` for every copy of the rule; how many went (0: already gone,
    or the chain itself is gone)."""
    gone = 0
    while has_rule(backend, chain, spec, table):
        _change(backend, ["-t", table, "-D", chain, *spec])
        gone += 1
    return gone


def _change(backend: str, args: list[str]) -> None:
    from kvmnet.host.run import CommandError, run

    argv = [program(backend), "-w", *args]
    try:
        run(argv, timeout=TIMEOUT)
    except CommandError as exc:
        raise HostError(f"{argv[0]} refused a rule change: {exc.stderr.strip() or exc}; "
                        "check that the chain exists ('" + argv[0] + " -S')",
                        exc.command) from None
