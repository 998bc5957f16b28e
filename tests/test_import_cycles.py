"""The package has no import cycles between its modules (module-level imports)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "controller"


def _graph() -> dict[str, set[str]]:
    modules: dict[str, Path] = {}
    for path in (ROOT / "proxgit").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and node.module:
                deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def test_no_module_imports_itself_back() -> None:
    graph = _graph()
    cycles: list[list[str]] = []

    def walk(node: str, stack: list[str], done: set[str]) -> None:
        for dep in sorted(graph[node]):
            if dep in stack:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in done:
                done.add(dep)
                walk(dep, [*stack, dep], done)

    for start in sorted(graph):
        walk(start, [start], {start})
    assert not cycles, " ; ".join(" -> ".join(c) for c in cycles[:5])
