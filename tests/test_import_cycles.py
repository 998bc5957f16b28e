"""The package has no import cycles between its modules (module-level imports)."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

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


# --- between top-level packages: scripts/import_graph.py ------------------------

_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "import_graph.py"


def _checker() -> Any:
    spec = importlib.util.spec_from_file_location("import_graph", _SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_package_graph_has_no_cycle_and_respects_layers() -> None:
    result = subprocess.run(
        [sys.executable, str(_SCRIPT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout
    assert "problems=0" in result.stdout.splitlines()[-1]
    assert "  planning -> " in result.stdout  # the graph itself is printed


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in {"proxgit/__init__.py": "", **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (tmp_path / "proxgit" / "cli.py").write_text("")
    return tmp_path


def test_checker_fails_on_a_layer_break(tmp_path: Path) -> None:
    checker = _checker()
    # A lazy import counts: the model layer reaching up into planning.
    root = _tree(
        tmp_path,
        {
            "proxgit/models/__init__.py": "def f():\n    from proxgit.planning import plan\n",
            "proxgit/planning/__init__.py": "",
        },
    )
    found = checker.problems(checker.graph(root))
    assert found == ["layer break: models (base) imports planning (planning)"]
    assert checker.main(["--root", str(root)]) == 1


def test_checker_fails_on_a_cycle_within_a_layer(tmp_path: Path) -> None:
    checker = _checker()
    root = _tree(
        tmp_path,
        {
            "proxgit/applying/run.py": "from proxgit.deletions import executing\n",
            "proxgit/deletions/executing.py": "import proxgit.applying.run\n",
            "proxgit/applying/__init__.py": "",
            "proxgit/deletions/__init__.py": "",
        },
    )
    assert checker.problems(checker.graph(root)) == ["import cycle: applying <-> deletions"]


def test_checker_reports_an_unplaced_package_and_a_stale_exception(tmp_path: Path) -> None:
    checker = _checker()
    checker.KNOWN[("demo", "cli")] = "demo drives the CLI in-process"
    root = _tree(tmp_path, {"proxgit/newthing/__init__.py": "from proxgit import errors\n"})
    (root / "proxgit" / "demo.py").write_text("")
    found = checker.problems(checker.graph(root))
    assert "known exception demo -> cli no longer exists: remove it" in found
    assert any(line.startswith("newthing: in no layer") for line in found)
