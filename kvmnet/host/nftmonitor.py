"""nftables as it is and as it changes: the ruleset as JSON, ``nft monitor`` and its traces.

* :func:`ruleset` reads ``nft -j list ruleset`` (every table, whoever made it: firewalld's,
  Docker's, iptables-nft's ``ip filter``) for ``kvmnet doctor``; :func:`chain_rules` one
  chain's rules with their handles and comments, to remove a rule kvmnet added to a foreign
  chain by handle.
* :class:`Monitor` runs ``nft monitor`` (the kernel's NFNLGRP_NFTABLES change notifications,
  one line per change) or ``nft monitor trace`` (the NFNLGRP_NFTRACE events of packets marked
  with ``meta nftrace set 1``) and hands out its lines as they come, with a timeout, so that
  ``kvmnet watch`` sleeps until nftables changes instead of polling the rules.

The monitor is a child process in this network namespace; :meth:`Monitor.close` ends it by
its PID.
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import time

from kvmnet.errors import HostError
from kvmnet.log import get as get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Self

log = get_logger("kvmnet.host")

TIMEOUT = 60.0


def ruleset() -> list[dict[str, Any]]:
    """``nft -j list ruleset``'s objects (``{"table": ...}``, ``{"chain": ...}``, ``{"rule": ...}``)."""
    from kvmnet.host.run import run

    proc = run(["nft", "-j", "list", "ruleset"], check=False, timeout=TIMEOUT)
    if proc.returncode != 0:
        raise HostError(f"cannot read the nftables ruleset: {proc.stderr.strip()}",
                        "nft -j list ruleset")
    return list(json.loads(proc.stdout or "{}").get("nftables", []))


def chain_rules(family: str, table: str, chain: str) -> list[dict[str, Any]] | None:
    """The rules of one chain (``nft -a -j list chain``), each with its ``handle``; None when
    the chain does not exist."""
    from kvmnet.host.run import run

    argv = ["nft", "-a", "-j", "list", "chain", family, table, chain]
    proc = run(argv, check=False, timeout=TIMEOUT)
    if proc.returncode != 0:
        return None
    items = json.loads(proc.stdout or "{}").get("nftables", [])
    return [item["rule"] for item in items if "rule" in item]


def table_text(family: str, table: str) -> str | None:
    """``nft -s list table FAMILY TABLE`` (stateless: no counter values), None when absent."""
    from kvmnet.host.run import run

    proc = run(["nft", "-s", "list", "table", family, table], check=False, timeout=TIMEOUT)
    return proc.stdout if proc.returncode == 0 else None


class Monitor:
    """``nft monitor [WHAT]`` as a child process whose lines are read with a deadline."""

    def __init__(self, what: str = "") -> None:
        self.argv = ["nft", "monitor", *([what] if what else [])]
        self._proc: subprocess.Popen[bytes] | None = None
        self._buf = b""

    def open(self) -> Self:
        log.debug("%s &", " ".join(self.argv))
        try:
            self._proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except FileNotFoundError:
            raise HostError("nft not found in PATH: install the nftables package",
                            " ".join(self.argv)) from None
        return self

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def fd(self) -> int:
        assert self._proc is not None and self._proc.stdout is not None
        return self._proc.stdout.fileno()

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def lines(self, timeout: float) -> list[str]:
        """The complete lines that arrive within ``timeout`` seconds (at least one if any
        came: returns as soon as a read brought some), [] when none did."""
        deadline = time.monotonic() + timeout
        out: list[str] = []
        while not out:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.alive():
                break
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                break
            chunk = os.read(self.fd, 65536)
            if not chunk:
                break
            self._buf += chunk
            *done, self._buf = self._buf.split(b"\n")
            out = [line.decode("utf-8", "replace") for line in done if line.strip()]
        return out

    def collect(self, seconds: float) -> list[str]:
        """Every line that arrives within ``seconds``."""
        deadline = time.monotonic() + seconds
        out: list[str] = []
        while (left := deadline - time.monotonic()) > 0 and self.alive():
            out += self.lines(left)
        return out

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
