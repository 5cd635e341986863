"""The import structure of kvmnet: no cycles, layers in order, a CLI that uses the public API.

The graph is built from the source (ast), not by importing: an edge A -> B for every
``import`` of a kvmnet module in A, at module level or inside a function (a lazy import is
still a dependency; it only moves the cost), except under ``if TYPE_CHECKING:``, which never
runs.  ``from P import m`` where ``m`` is a submodule of package ``P`` is an edge to ``P.m``
only: that ``P/__init__`` runs first is Python's doing, not a dependency of A.
"""
from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "kvmnet"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _is_type_checking(test: ast.expr) -> bool:
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _imports(name: str, path: Path) -> set[str]:
    mods = _modules()
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            subs = {f"{source}.{a.name}" for a in node.names} & mods.keys()
            out.update(subs)
            if len(subs) < len(node.names):  # some name is not a submodule: the package itself
                out.add(source)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {m for m in out if m in mods and m != name}


@cache
def graph() -> dict[str, frozenset[str]]:
    return {name: frozenset(_imports(name, path)) for name, path in _modules().items()}


def _cycles(g: dict[str, frozenset[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for start in sorted(g):
        if start in index:
            continue
        work = [(start, iter(sorted(g[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(g[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_the_graph_sees_lazy_imports() -> None:
    g = graph()
    assert "kvmnet.api" in g["kvmnet"]  # kvmnet.open() imports the facade inside the function
    assert "kvmnet.errors" in g["kvmnet"]
    assert "kvmnet.cli.ctx" in g["kvmnet.cli.main"]


def test_no_import_cycles() -> None:
    cycles = _cycles(graph())
    detail = "; ".join(
        " + ".join(f"{m} -> {sorted(set(graph()[m]) & set(c))}" for m in c) for c in cycles)
    assert not cycles, f"import cycles: {detail}"


def test_cycle_finder_finds_a_cycle() -> None:
    g = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset({"a"})}
    assert _cycles(g) == [["a", "b", "c"]]


# -- layers ------------------------------------------------------------------------------------
# Which layers each layer may import (besides itself), from DESIGN.md's "Layers", bottom up.
# ``base`` is the top-level helpers every layer shares.  A new package must be placed here.
BASE = frozenset({"kvmnet.errors", "kvmnet.paths", "kvmnet.log", "kvmnet.fileio",
                  "kvmnet.tuples", "kvmnet.version", "kvmnet.virterror", "kvmnet.jsontext",
                  "kvmnet.tasks"})
_BELOW_NETWORK = frozenset({"base", "host", "model", "xmlio", "config", "engine"})
LAYERS: dict[str, frozenset[str]] = {
    "base": frozenset(),
    "host": frozenset({"base"}),                     # never model, drivers or anything above
    "model": frozenset({"base"}),                    # plain data: no I/O, no host
    "xmlio": frozenset({"base", "model"}),
    "config": frozenset({"base", "model", "xmlio"}),
    "engine": frozenset({"base", "host", "model"}),
    "network": _BELOW_NETWORK,
    "port": _BELOW_NETWORK | {"network"},
    "bridge": frozenset({"base", "host", "model"}),
    "iface": _BELOW_NETWORK | {"bridge"},
    "nodedev": frozenset({"base", "host", "model", "xmlio", "engine"}),  # detach is steps
    "ovs": frozenset({"base", "host", "model"}),
    "guests": _BELOW_NETWORK | {"network", "port"},
    "doctor": _BELOW_NETWORK | {"network"},              # host checks: beside network
    "api": _BELOW_NETWORK | {"network", "port", "bridge", "iface", "nodedev", "ovs", "guests",
                             "doctor"},
    "kvmnet": frozenset({"base", "api"}),            # the package: open() and re-exports
    "cli": frozenset({"base", "kvmnet", "api", "model", "xmlio"}),
    # the libvirt-python compatible module: a facade over the public API only
    "compat": frozenset({"base", "kvmnet", "api"}),
    "__main__": frozenset({"cli"}),
}

# The command line's imports outside the public API (kvmnet.cli's docstring), with why.
CLI_EXCEPTIONS = {
    # dnsmasq's --dhcp-script runs on every lease; the facade would add ~35 ms to each
    ("kvmnet.cli.live", "kvmnet.network.leases"):
        "lease-helper imports nothing but the lease database",
    # net-destroy's netlink deletes start (from a forked child) before anything else is imported
    ("kvmnet.cli.entry", "kvmnet.host.rtnl"): "net-destroy's head start (bench: bridge delete)",
    ("kvmnet.cli.entry", "kvmnet.engine.journal"): "net-destroy's head start reads the journal",
    # net-plan's printing is being rebuilt on the steps' describe() (issue 12, engine work);
    # it then asks the facade for the plan's text
    ("kvmnet.cli.live", "kvmnet.config.define"): "net-plan FILE: define's assignments, unstored",
    # libvirt-shim prints the compatible module's folder: a path, nothing that acts
    ("kvmnet.cli.shim", "kvmnet.compat"): "libvirt-shim: the folder of kvmnet's libvirt.py",
}
# Pure modules outside model/xmlio that the command line may use for what it prints.
CLI_PURE = frozenset({"kvmnet.bridge.format"})


def layer(module: str) -> str:
    if module in BASE:
        return "base"
    parts = module.split(".")
    return "kvmnet" if len(parts) == 1 else parts[1]


def test_every_module_has_a_layer() -> None:
    unknown = sorted({layer(m) for m in graph()} - LAYERS.keys())
    assert not unknown, f"packages without a place in LAYERS (test_import_graph.py): {unknown}"


def test_lower_layers_never_import_higher_ones() -> None:
    wrong = []
    for module, imported in sorted(graph().items()):
        own = layer(module)
        for target in sorted(imported):
            other = layer(target)
            if other == own or other in LAYERS.get(own, frozenset()):
                continue
            if (module, target) in CLI_EXCEPTIONS or target in CLI_PURE and own == "cli":
                continue
            wrong.append(f"{module} -> {target} ({own} may not import {other})")
    assert not wrong, "layer order broken:\n" + "\n".join(wrong)


def test_the_cli_imports_only_the_public_api() -> None:
    # kvmnet.tasks: the console script's process-level duty (jobs after the reply)
    public = {"kvmnet", "kvmnet.api", "kvmnet.errors", "kvmnet.version", "kvmnet.tasks"} | CLI_PURE
    wrong = []
    for module, imported in sorted(graph().items()):
        if layer(module) != "cli":
            continue
        for target in sorted(imported):
            if (target in public or target.startswith(("kvmnet.cli", "kvmnet.model",
                                                       "kvmnet.xmlio"))
                    or (module, target) in CLI_EXCEPTIONS):
                continue
            wrong.append(f"{module} -> {target}")
    assert not wrong, ("the command line goes through kvmnet.api (see kvmnet/cli/__init__.py); "
                       "not: " + ", ".join(wrong))


def test_exceptions_are_still_needed() -> None:
    stale = [pair for pair in CLI_EXCEPTIONS if pair[1] not in graph().get(pair[0], ())]
    assert not stale, f"remove these from CLI_EXCEPTIONS, they are gone: {stale}"


def test_test_files_have_unique_basenames() -> None:
    # pytest imports test modules by basename (rootdir-relative packages are not used here):
    # two files of one name in unit/ and functional/ make the whole run fail at collection.
    names = [p.name for p in (ROOT.parent / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
