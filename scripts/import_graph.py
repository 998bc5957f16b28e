"""Print the import graph between proxgit's top-level packages; fail on a cycle or a layer break.

    python scripts/import_graph.py            # the graph, then "ok" or the problems; exit 0/1
    python scripts/import_graph.py --root DIR # another source tree (DIR holds proxgit/)

Every import counts, at module level or inside a function (a lazy import is
still a dependency). A package may import from its own layer or a lower one;
within a layer, the package graph must have no cycle. Known exceptions are
listed below with the reason; each must still exist, so a fixed one is
noticed and removed from the list.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

# Lowest first. A top-level module (proxgit/yamlio.py) counts as a package.
LAYERS: list[tuple[str, set[str]]] = [
    # outcomes: result vocabulary; observe: progress/metrics hooks; pauses: GC control;
    # layout: every repository path and ref name.
    ("base", {"proxgit", "errors", "outcomes", "observe", "pauses", "layout", "models", "yamlio"}),
    ("io", {"secrets", "git", "proxmox", "loading"}),
    ("planning", {"planning"}),
    (
        "stages",
        {
            "rendering",
            "applying",
            "deletions",
            "reflecting",
            "forges",
            "identity",
            "importing",
            "schemas",
            "starter",
        },
    ),
    ("watching", {"watching"}),
    ("cli", {"cli", "__main__"}),
]

# (importer, imported): why it is tolerated for now.
KNOWN: dict[tuple[str, str], str] = {}

DEFAULT_ROOT = Path(__file__).resolve().parents[1] / "controller"


def package_of(module: str) -> str:
    """``proxgit.planning.plan`` -> ``planning``; ``proxgit`` -> ``proxgit``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def graph(root: Path) -> dict[str, set[str]]:
    """Top-level package -> the top-level packages it imports (itself excluded)."""
    edges: dict[str, set[str]] = {}
    for path in sorted((root / "proxgit").rglob("*.py")):
        module = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        source = package_of(module)
        edges.setdefault(source, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
                if node.module == "proxgit":  # from proxgit import yamlio
                    names = [f"proxgit.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name == "proxgit" or name.startswith("proxgit."):
                    target = package_of(name)
                    if (root / "proxgit" / target).is_dir() or (
                        root / "proxgit" / f"{target}.py"
                    ).is_file():
                        if target != source:
                            edges[source].add(target)
                    elif target != source:
                        edges[source].add("proxgit")
    return edges


def _layer(package: str) -> int:
    for index, (_, members) in enumerate(LAYERS):
        if package in members:
            return index
    return -1


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for dep in sorted(edges.get(node, ())):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def problems(edges: dict[str, set[str]]) -> list[str]:
    """Every layer break, cycle, unplaced package and stale exception."""
    out: list[str] = []
    tolerated = {pair for pair in KNOWN if pair[1] in edges.get(pair[0], set())}
    for stale in sorted(set(KNOWN) - tolerated):
        out.append(f"known exception {stale[0]} -> {stale[1]} no longer exists: remove it")
    for package in sorted(edges):
        if _layer(package) < 0:
            out.append(f"{package}: in no layer; add it to LAYERS in scripts/import_graph.py")
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            if (source, target) in tolerated or min(_layer(source), _layer(target)) < 0:
                continue
            if _layer(target) > _layer(source):
                out.append(
                    f"layer break: {source} ({LAYERS[_layer(source)][0]}) imports "
                    f"{target} ({LAYERS[_layer(target)][0]})"
                )
    kept = {s: {t for t in ts if (s, t) not in tolerated} for s, ts in edges.items()}
    out.extend(f"import cycle: {' <-> '.join(component)}" for component in cycles(kept))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    args = parser.parse_args(argv)
    edges = graph(args.root)
    for name, members in LAYERS:
        print(f"[{name}]")
        for package in sorted(members & set(edges)):
            targets = sorted(edges[package])
            marks = [
                f"{t} (known: {KNOWN[(package, t)]})" if (package, t) in KNOWN else t
                for t in targets
            ]
            print(f"  {package} -> {', '.join(marks) or '-'}")
    found = problems(edges)
    for problem in found:
        print(f"FAIL {problem}")
    print(f"packages={len(edges)} edges={sum(map(len, edges.values()))} problems={len(found)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
