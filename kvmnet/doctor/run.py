"""``kvmnet doctor``: check the active networks' guest paths, fix them, take the fixes back.

:func:`diagnose` reads the host (:mod:`.gather`), sends each network's traced probes
(:mod:`.probe`) and judges (:mod:`.checks`).  :func:`fix` adds the accept rules the findings
name as ``doctor.rule`` engine steps, journalled in the network's own journal (so that
``net-destroy`` removes them with the rest of the network, and ``kvmnet watch`` can put them
back), then checks again.  :func:`undo` removes exactly those rules.
"""
from __future__ import annotations

from kvmnet.doctor.model import Finding, FixRule, NetPaths, Probe, Report
from kvmnet.engine.journal import Journal
from kvmnet.errors import NotFoundError, OperationInvalidError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from kvmnet.config.store import Store
    from kvmnet.paths import Paths

KIND = "doctor"


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
    from kvmnet.doctor.probe import probe_network

    nets = _networks(store, name)
    host = host_state(nets)
    found: list[Finding] = []
    probes: list[tuple[str, Probe]] = []
    for net in nets:
        results = probe_network(net) if probe else []
        probes += [(net.name, p) for p in results]
        found += findings(net, host, results)
    return Report(networks=tuple(n.name for n in nets), probes=tuple(probes),
                  findings=tuple(found))


def _journal(paths: Paths, name: str) -> Journal | None:
    from kvmnet.network.runtime import Runtime

    return Journal.load(Runtime(paths, name).record)


def _step_json(rule: FixRule) -> dict[str, object]:
    return {"kind": "doctor.rule", "backend": rule.backend, "family": rule.family,
            "table": rule.table, "chain": rule.chain, "rule": list(rule.rule),
            "comment": rule.comment}


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
            journal = _journal(paths, net)
            if not rules or journal is None or not store.is_active(net):
                continue
            known = [{k: v for k, v in e.items() if k != "kind"} for e in journal.find(KIND)]
            steps = []
            for rule in rules:
                data = _step_json(rule)
                if {k: v for k, v in data.items() if k != "kind"} not in known:
                    steps.append(from_json(data))
            with Context(Host()) as ctx:
                apply_steps(steps, journal, ctx)
            added += [s.describe() for s in steps]
    after = diagnose(store, name, probe)
    return Report(networks=after.networks, probes=after.probes, findings=after.findings,
                  added=tuple(added))


def undo(store: Store, paths: Paths, name: str | None = None) -> Report:
    """Remove every rule ``--fix`` added (for network ``name``, or all active networks)."""
    from kvmnet.engine.executor import Context
    from kvmnet.engine.host import Host
    from kvmnet.engine.steps.doctor import DoctorRuleUndo

    names = [n.name for n in _networks(store, name)] if name else sorted(store.status_names())
    removed: list[str] = []
    problems: list[str] = []
    with store.locked():
        for net in names:
            journal = _journal(paths, net)
            if journal is None:
                continue
            entries = journal.find(KIND)
            with Context(Host()) as ctx:
                for entry in reversed(entries):
                    try:
                        DoctorRuleUndo.undo(entry, ctx)
                    except Exception as exc:  # noqa: BLE001 - keep the record, report
                        problems.append(f"{net}: {exc}")
                        continue
                    journal.steps.remove(entry)
                    removed.append(DoctorRuleUndo.describe(entry))
            if entries:
                journal.save()
    if problems:
        from kvmnet.errors import HostError

        raise HostError("some of doctor's rules could not be removed: " + "; ".join(problems)
                        + "; run 'kvmnet doctor --fix --undo' again")
    return Report(networks=tuple(names), removed=tuple(removed))
