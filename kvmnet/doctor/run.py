"""``kvmnet doctor``: check the active networks' guest paths, fix them, take the fixes back.

:func:`diagnose` reads the host (:mod:`.gather`), sends each network's traced probes
(:mod:`.probe`, after removing what a killed doctor's probe left) and judges (:mod:`.checks`).  :func:`fix` adds the accept rules the findings
name as ``doctor.rule`` engine steps, and sets back the settings they name (forwarding, loose
reverse path filtering on kvmnet's bridge, the bridge's MTU) as ``doctor.sysctl`` and
``doctor.mtu`` steps, all journalled in the network's own journal (so that ``net-destroy``
removes them with the rest of the network, and ``kvmnet watch`` can put the rules back), then
checks again.  :func:`undo` removes exactly those rules and restores those settings.
"""
from __future__ import annotations

from kvmnet.doctor.model import (
    FIREWALLD_ZONE,
    IPV6_FORWARDING,
    LINK_MTU,
    Finding,
    FixRule,
    FixSetting,
    NetPaths,
    Probe,
    Report,
)
from kvmnet.engine.journal import Journal
from kvmnet.errors import NotFoundError, OperationInvalidError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from kvmnet.config.store import Store
    from kvmnet.paths import Paths

KIND = "doctor"
#: The undo kinds of doctor's steps in a network's journal (rules, sysctls, MTUs).
KINDS = (KIND, "doctor.sysctl", "doctor.mtu")


def _networks(store: Store, name: str | None) -> list[NetPaths]:
    from kvmnet.doctor.gather import net_paths

    if name is not None:
        if store.entry(name) is None:
            raise NotFoundError(f"network '{name}' not found; 'kvmnet net-list --all' lists "
                                "the networks")
        if not store.is_active(name):
            raise OperationInvalidError(f"network '{name}' is not active: doctor checks the "
                                        f"paths of running networks; start it first")
        names = [name]
    else:
        names = sorted(store.status_names())
    return [n for n in (net_paths(store, x) for x in names) if n is not None]


def diagnose(store: Store, name: str | None = None, probe: bool = True) -> Report:
    """What is wrong on the active networks' guest paths (or network ``name``'s)."""
    from kvmnet.doctor.checks import findings
    from kvmnet.doctor.gather import host_state
    from kvmnet.doctor.probe import probe_network, sweep_stale

    nets = _networks(store, name)
    # what an earlier doctor killed mid-probe left on a bridge, before ours goes there
    swept = tuple(sweep_stale()) if probe and nets else ()
    host = host_state(nets)
    found: list[Finding] = []
    probes: list[tuple[str, Probe]] = []
    for net in nets:
        results = probe_network(net) if probe else []
        probes += [(net.name, p) for p in results]
        found += findings(net, host, results)
    return Report(networks=tuple(n.name for n in nets), probes=tuple(probes),
                  findings=tuple(found), removed=swept)


def _journal(paths: Paths, name: str) -> Journal | None:
    from kvmnet.network.runtime import Runtime

    return Journal.load(Runtime(paths, name).record)


def _step_json(rule: FixRule) -> dict[str, object]:
    return {"kind": "doctor.rule", "backend": rule.backend, "family": rule.family,
            "table": rule.table, "chain": rule.chain, "rule": list(rule.rule),
            "comment": rule.comment}


def _setting_json(change: FixSetting) -> dict[str, object]:
    if change.kind == LINK_MTU:
        return {"kind": "doctor.mtu", "link": change.target, "mtu": int(change.value),
                "old": int(change.old)}
    return {"kind": "doctor.sysctl", "key": change.target, "value": change.value,
            "old": change.old}


def fix(store: Store, paths: Paths, name: str | None = None, probe: bool = True) -> Report:
    """Add the accepts that the findings name (each once, journalled), then check again."""
    from kvmnet.engine.executor import Context, apply_steps
    from kvmnet.engine.host import Host
    from kvmnet.engine.step import from_json

    before = diagnose(store, name, probe)
    added: list[str] = []
    with store.locked():
        for net in before.networks:
            rules = list(dict.fromkeys(r for f in before.findings if f.network == net
                                       for r in f.fix))
            changes = list(dict.fromkeys(c for f in before.findings if f.network == net
                                         for c in f.change))
            journal = _journal(paths, net)
            if not (rules or changes) or journal is None or not store.is_active(net):
                continue
            known = [{k: v for k, v in e.items() if k != "kind"} for e in journal.find(KIND)]
            steps = []
            for rule in rules:
                data = _step_json(rule)
                if {k: v for k, v in data.items() if k != "kind"} not in known:
                    steps.append(from_json(data))
            # a setting is named only while it is wrong, so each one found is changed back
            for change in changes:
                if change.target == IPV6_FORWARDING:
                    # as net-start: interfaces that take their default route from router
                    # advertisements keep it (accept_ra=2) when IPv6 forwarding goes on
                    steps.append(from_json({"kind": "sysctl.ra-guard"}))
                steps.append(from_json(_setting_json(change)))
            with Context(Host()) as ctx:
                apply_steps(steps, journal, ctx)
            added += [s.describe() for s in steps]
    after = diagnose(store, name, probe)
    unfixed = tuple(f"network '{f.network}': {f.code}: --fix does not change firewalld's "
                    f"zones (that needs firewalld itself): {f.remedy}"
                    for f in after.findings if f.code == FIREWALLD_ZONE)
    return Report(networks=after.networks, probes=after.probes, findings=after.findings,
                  added=tuple(added), removed=before.removed + after.removed, unfixed=unfixed)


def undo(store: Store, paths: Paths, name: str | None = None) -> Report:
    """Remove every rule ``--fix`` added and restore every setting it changed (for network
    ``name``, or all active networks)."""
    from kvmnet.engine.executor import Context
    from kvmnet.engine.host import Host
    from kvmnet.engine.step import undo_class

    names = [n.name for n in _networks(store, name)] if name else sorted(store.status_names())
    removed: list[str] = []
    problems: list[str] = []
    with store.locked():
        for net in names:
            journal = _journal(paths, net)
            if journal is None:
                continue
            entries = [e for e in journal.steps if e["kind"] in KINDS]
            with Context(Host()) as ctx:
                for entry in reversed(entries):
                    handler = undo_class(entry["kind"])
                    assert handler is not None  # KINDS are this module's own
                    try:
                        handler.undo(entry, ctx)
                    except Exception as exc:  # noqa: BLE001 - keep the record, report
                        problems.append(f"{net}: {exc}")
                        continue
                    journal.steps.remove(entry)
                    removed.append(handler.describe(entry))
            if entries:
                journal.save()
    if problems:
        from kvmnet.errors import HostError

        raise HostError("some of doctor's rules could not be removed: " + "; ".join(problems)
                        + "; run 'kvmnet doctor --fix --undo' again")
    return Report(networks=tuple(names), removed=tuple(removed))
