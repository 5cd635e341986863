"""``kvmnet watch``: put kvmnet's firewall state back whenever something removes it.

What is kvmnet's comes from the active networks alone: each network's nftables documents
(the ``nftables`` steps of its start: kvmnet's table, its chains, map elements, and its port
forwards when it has any), compiled from its live definition, and the ``doctor.rule`` records
in its journal (the accepts ``kvmnet doctor --fix`` added to other tools' chains).

It sleeps on nftables' own change notifications (``nft monitor``: one line per table, chain,
rule or element change, from the kernel's NFNLGRP_NFTABLES group) and polls nothing.  After
each burst of changes it lists the tables kvmnet's documents name (``nft -s list table``) and
compares them with the listing it took after its own last repair; only when they differ does
it re-apply every active network's documents (each is idempotent: the base is ``add``-ed and
the hooked chains refilled) and re-add doctor's rules that are gone from chains that exist.
Its own repairs cause notifications too; the comparison then finds what it left and stops,
so it never loops.  iptables-legacy changes cause no notification: rules doctor added there
are checked once a second (``iptables-legacy -C``, one per rule), and only when there are any.

It ends on ``stop`` (the command line sets it on SIGTERM and SIGINT), within half a second.
"""
from __future__ import annotations

import re
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from collections.abc import Callable
    from typing import Any

    from kvmnet.config.store import Store
    from kvmnet.paths import Paths

WAKE = 0.5  # seconds: how often the loop looks at ``stop`` when nothing happens
SETTLE = 0.03  # seconds: a burst of notifications (a flush is many lines) is read as one
LEGACY_EVERY = 1.0
_TABLE = re.compile(r"^\s*(?:add |create )?table (inet|ip|ip6|bridge|arp|netdev) (\S+)", re.MULTILINE)


def owned_tables(documents: list[str]) -> list[tuple[str, str]]:
    """The (family, table) pairs a set of nft documents creates, in order."""
    return list(dict.fromkeys((m.group(1), m.group(2)) for doc in documents
                              for m in _TABLE.finditer(doc)))


class Keeper:
    """What kvmnet has in nftables and iptables, and how to put it back."""

    def __init__(self, store: Store, paths: Paths, say: Callable[[str], None]) -> None:
        self.store = store
        self.paths = paths
        self.say = say
        # network -> (live XML, its documents, the documents that remove them again)
        self._docs: dict[str, tuple[str, list[str], list[str]]] = {}
        self.expected: dict[tuple[str, str], str | None] = {}
        self.legacy_rules = False

    def documents(self) -> dict[str, list[str]]:
        """Each active network's nftables documents, compiled when its live definition changed."""
        from kvmnet.errors import KvmnetError

        out: dict[str, list[str]] = {}
        for name in sorted(self.store.status_names()):
            text = self.store.read_status(name)
            if text is None:
                continue
            cached = self._docs.get(name)
            if cached is None or cached[0] != text:
                try:
                    cached = (text, *_compile(text, self.paths))
                except KvmnetError as exc:
                    self.say(f"network '{name}': cannot render its firewall: {exc}")
                    cached = (text, [], [])
                self._docs[name] = cached
            out[name] = cached[1]
        for gone in set(self._docs) - set(out):
            del self._docs[gone]
        return out

    def snapshot(self, tables: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        from kvmnet.host.nftmonitor import table_text

        return {t: table_text(*t) for t in tables}

    def check(self) -> list[str]:
        """Repair what is missing; returns what was put back (empty: all was in place)."""
        docs = self.documents()
        tables = owned_tables([d for ds in docs.values() for d in ds])
        repaired: list[str] = []
        if docs and self.snapshot(tables) != self.expected:
            repaired += self._reapply(docs)
            self.expected = self.snapshot(tables)
        repaired += self.check_rules(docs)
        return repaired

    def _reapply(self, docs: dict[str, list[str]]) -> list[str]:
        from kvmnet.errors import KvmnetError
        from kvmnet.host import nftables

        done = []
        for name, documents in docs.items():
            try:
                for doc in documents:
                    nftables.apply(doc)
            except KvmnetError as exc:
                self.say(f"network '{name}': cannot put its firewall back: {exc}")
                continue
            if not self.store.is_active(name):
                # destroyed while we re-applied (its teardown may have run before our
                # transaction): take back what we just put in
                gone = self._docs.pop(name, None)
                for doc in gone[2] if gone else []:
                    try:
                        nftables.apply(doc)
                    except KvmnetError as exc:
                        self.say(f"network '{name}': cannot remove its firewall: {exc}")
                continue
            done.append(f"nftables of network '{name}'")
        return done

    def check_rules(self, docs: dict[str, Any], legacy_only: bool = False) -> list[str]:
        """Re-add doctor's rules that are gone from chains that exist."""
        from kvmnet.engine.journal import Journal
        from kvmnet.engine.steps.doctor import KIND, add, describe_add, present
        from kvmnet.errors import KvmnetError
        from kvmnet.network.runtime import Runtime

        done = []
        legacy = False
        for name in docs:
            journal = Journal.load(Runtime(self.paths, name).record)
            for entry in journal.find(KIND) if journal is not None else []:
                is_legacy = entry.get("backend") == "iptables-legacy"
                legacy = legacy or is_legacy
                if legacy_only and not is_legacy:
                    continue
                try:
                    if present(entry) is False and add(entry):
                        done.append(describe_add(entry))
                except KvmnetError as exc:
                    self.say(f"network '{name}': cannot put doctor's rule back: {exc}")
        self.legacy_rules = legacy
        return done


def _compile(status_xml: str, paths: Paths) -> tuple[list[str], list[str]]:
    """A live definition's nftables documents: (those its start applies, those that remove
    them), from the ``nftables`` steps of its start (kvmnet's table, its forwards)."""
    from kvmnet.network.compile import start_steps
    from kvmnet.xmlio.network import parse_network

    steps = [s for s in start_steps(parse_network(status_xml), paths)
             if s.section == "nftables"]
    return ([str(doc) for s in steps if (doc := getattr(s, "document", None))],
            [str(doc) for s in reversed(steps) if (doc := getattr(s, "destroy", None))])


def watch(store: Store, paths: Paths, stop: threading.Event, say: Callable[[str], None]) -> None:
    """Run until ``stop`` is set (see the module docstring)."""
    from kvmnet.host.nftmonitor import Monitor

    keeper = Keeper(store, paths, say)
    with Monitor() as monitor:
        monitor.collect(0.1)  # subscribed before the first check: nothing slips between
        _report(say, keeper.check(), 0.0)
        say("watching nftables for changes")
        last_legacy = time.monotonic()
        while not stop.is_set():
            if not monitor.alive():
                from kvmnet.errors import HostError

                raise HostError("nft monitor ended unexpectedly; restart 'kvmnet watch'",
                                "nft monitor")
            lines = monitor.lines(WAKE)
            now = time.monotonic()
            if lines:
                lines += monitor.collect(SETTLE)
                started = time.monotonic()
                _report(say, keeper.check(), time.monotonic() - started)
            elif keeper.legacy_rules and now - last_legacy >= LEGACY_EVERY:
                last_legacy = now
                _report(say, keeper.check_rules(keeper.documents(), legacy_only=True), 0.0)


def _report(say: Callable[[str], None], repaired: list[str], seconds: float) -> None:
    if repaired:
        say(f"put back in {seconds * 1000:.0f} ms: " + "; ".join(repaired))
