"""The shape of the code: core knows no STA, and no module imports itself back through others."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("py2rely_core", "py2rely_plugins")
# STA/RELION-refinement knowledge that lives in the relion5 plugin, never in core.
STA_MODULES = ("params", "boxsize", "template", "fsc", "map_compare", "symmetry", "commands")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imported_names(path: Path, module: str) -> Iterator[str]:
    """Every module a file imports, at any depth of the file (function-level imports count)."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            for alias in node.names:
                yield f"{base}.{alias.name}"


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        targets = {name for name in imported_names(path, module) if name in known}
        # `from pkg import sub` names the submodule; the package itself is not what is used.
        graph[module] = {t for t in targets if not any(o != t and o.startswith(t + ".") for o in targets)
                         or t not in _packages(known)} - {module}
    return graph


def _packages(known: dict[str, Path]) -> set[str]:
    return {name for name, path in known.items() if path.name == "__init__.py"}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    sys.setrecursionlimit(10_000)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_core_imports_no_plugin_and_holds_no_sta_module():
    graph = import_graph()
    core = {m for m in graph if m.split(".")[0] == "py2rely_core"}
    assert "py2rely_core.hookspecs" in core and len(core) > 10  # the walk found the core
    leaks = sorted(f"{m} -> {t}" for m in core for t in graph[m] if t.startswith("py2rely_plugins"))
    assert leaks == []
    for module, path in modules().items():
        if module.startswith("py2rely_core"):
            text = path.read_text(encoding="utf-8")
            assert "py2rely_plugins" not in "".join(
                line for line in text.splitlines() if line.lstrip().startswith(("import", "from"))), module
    misplaced = sorted(m for m in core if m.split(".")[-1] in STA_MODULES)
    assert misplaced == []
    assert {m.split(".")[-1] for m in graph if m.startswith("py2rely_plugins.relion5.sta.")} >= {
        "params", "boxsize", "template", "fsc", "map_compare", "hookspecs", "contract", "context"}


def test_the_sta_hooks_are_declared_by_the_relion5_plugin_not_by_core():
    from py2rely_core import hookspecs

    core_hooks = {name for name in dir(hookspecs) if name.startswith("py2rely_")}
    assert "py2rely_initial_model_strategies" not in core_hooks
    assert "py2rely_class_selectors" not in core_hooks
    assert {"py2rely_job_types", "py2rely_executors", "py2rely_add_hookspecs"} <= core_hooks


def test_no_import_cycles():
    graph = import_graph()
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    assert cycles == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert [c for c in strongly_connected(graph) if len(c) > 1] == [["a", "b", "c"]]
