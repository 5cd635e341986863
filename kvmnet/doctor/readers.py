"""Reading what other tools left on the host: iptables-save text, nft's JSON, nft's traces.

Pure functions of the text the host adapters return (:mod:`kvmnet.host.iptables`,
:mod:`kvmnet.host.nftmonitor`), so each reader is tested on the shapes Docker, ufw, firewalld
and NixOS produce without a host.
"""
from __future__ import annotations

import json

from kvmnet.doctor.model import IPTABLES_NFT, NFT, Chain, DropPoint

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: The tables iptables-nft makes (``ip filter``...): read through iptables-nft-save instead.
XT_TABLES = frozenset({"filter", "nat", "mangle", "raw", "security"})
_BUILTIN_HOOKS = {"INPUT": "input", "FORWARD": "forward", "OUTPUT": "output",
                  "PREROUTING": "prerouting", "POSTROUTING": "postrouting"}


def iptables_chains(text: str | None, backend: str) -> tuple[Chain, ...]:
    """The chains of one ``iptables-save -t filter`` output (``backend``: iptables-nft or
    iptables-legacy), rules in ``-S`` form without the ``-A CHAIN``."""
    if not text:
        return ()
    heads: dict[str, tuple[str | None, str | None]] = {}
    rules: dict[str, list[str]] = {}
    table = "filter"
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith(":"):
            name, policy = (line[1:].split() + ["-"])[:2]
            hook = _BUILTIN_HOOKS.get(name)
            heads[name] = (hook, policy.lower() if hook and policy != "-" else None)
            rules.setdefault(name, [])
        elif line.startswith("-A "):
            _, name, *rest = line.split(" ", 2)
            rules.setdefault(name, []).append(rest[0] if rest else "")
    return tuple(Chain(backend, "ip", table, name, heads.get(name, (None, None))[0],
                       heads.get(name, (None, None))[1], tuple(rules.get(name, ())))
                 for name in heads)


def nft_chains(objects: list[dict[str, Any]]) -> tuple[Chain, ...]:
    """The chains of native nftables tables (not iptables-nft's) from ``nft -j list ruleset``."""
    rules: dict[tuple[str, str, str], list[str]] = {}
    for obj in objects:
        rule = obj.get("rule")
        if rule is not None:
            key = (rule["family"], rule["table"], rule["chain"])
            text = json.dumps(rule.get("expr", []), sort_keys=True)
            if rule.get("comment"):
                text += f" comment {json.dumps(rule['comment'])}"
            rules.setdefault(key, []).append(text)
    out = []
    for obj in objects:
        chain = obj.get("chain")
        if chain is None or _is_xt(chain["family"], chain["table"]):
            continue
        key = (chain["family"], chain["table"], chain["name"])
        out.append(Chain(NFT, chain["family"], chain["table"], chain["name"], chain.get("hook"),
                         chain.get("policy") if chain.get("hook") else None,
                         tuple(rules.get(key, ()))))
    return tuple(out)


def _is_xt(family: str, table: str) -> bool:
    return family in ("ip", "ip6") and table in XT_TABLES


def firewalld_zones(objects: list[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    """(interface, zone) pairs from firewalld's ``inet firewalld`` table: its input dispatch
    chain sends each interface that has a zone to ``filter_IN_<zone>``."""
    out = []
    for obj in objects:
        rule = obj.get("rule")
        if (rule is None or rule.get("table") != "firewalld"
                or rule.get("chain") != "filter_INPUT_ZONES"):
            continue
        ifname = target = None
        for expr in rule.get("expr", []):
            match = expr.get("match")
            if match and match.get("left") == {"meta": {"key": "iifname"}}:
                right = match.get("right")
                ifname = right if isinstance(right, str) else None
            for verb in ("goto", "jump"):
                if verb in expr:
                    target = expr[verb].get("target")
        if ifname and target and target.startswith("filter_IN_"):
            out.append((ifname, target.removeprefix("filter_IN_")))
    return tuple(out)


def has_table(objects: list[dict[str, Any]], family: str, name: str) -> bool:
    return any(o.get("table", {}).get("family") == family and o["table"].get("name") == name
               for o in objects if "table" in o)


def trace_outcome(lines: list[str], probe_table: str, end_chain: str,
                  sport: int | None = None) -> tuple[bool, DropPoint | None]:
    """What ``nft monitor trace`` says of a probe: (reached ``end_chain`` of ``probe_table``,
    the first drop in another table).

    Lines read ``trace id ID FAMILY TABLE CHAIN (packet: ...|rule ... (verdict V)|verdict
    V|policy P)``; a ``packet:`` line starts the packet's walk through a table's hooked chain,
    which is the chain a fix goes into.  With ``sport``, only the trace ids whose packet lines
    show that source port count (a late line of an earlier probe is not this one's).
    """
    base: dict[tuple[str, str, str], str] = {}
    ours: set[str] = set()
    reached = False
    for line in lines:
        words = line.split()
        if len(words) < 7 or words[:2] != ["trace", "id"]:
            continue
        tid, family, table, chain = words[2:6]
        rest = " ".join(words[6:])
        if sport is not None:
            if rest.startswith("packet:") and f" sport {sport} " in f"{rest} ":
                ours.add(tid)
            if tid not in ours:
                continue
        if table == probe_table:
            reached = reached or chain == end_chain
            continue
        if rest.startswith("packet:"):
            base[(tid, family, table)] = chain
            continue
        if rest == "policy drop" or rest.endswith("(verdict drop)") or rest == "verdict drop":
            backend = IPTABLES_NFT if _is_xt(family, table) else NFT
            entry = base.get((tid, family, table), chain)
            return reached, DropPoint(backend, family, table, entry, chain, rest)
    return reached, None
