"""The package's shape: small modules with one job each and no import cycles.

Defect: `gateway.py` (623 lines) held reload coordination, admin actions, the status builder, four loops
and the canary controller, and `runtime.py` and `shadow.py` imported each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

SERVING = Path(__file__).resolve().parents[3] / "serving"
MAX_LINES = 350


def _imports() -> dict[str, set[str]]:
    """serving module -> serving modules it imports (TYPE_CHECKING imports included)."""
    graph: dict[str, set[str]] = {}
    for path in SERVING.rglob("*.py"):
        name = ".".join(("serving", *path.relative_to(SERVING).with_suffix("").parts)).removesuffix(
            ".__init__"
        )
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("serving"):
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names if alias.name.startswith("serving"))
        graph[name] = targets
    return {name: {t for t in targets if t in graph and t != name} for name, targets in graph.items()}


def test_serving_has_no_import_cycles():
    graph = _imports()
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join((*path[path.index(name) :], name)))
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, (*path, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())


def test_shadow_and_canary_depend_on_stats_not_on_the_runtime():
    graph = _imports()
    for name in ("serving.shadow", "serving.canary", "serving.stats"):
        assert "serving.runtime" not in graph[name] and "serving.gateway" not in graph[name], name


def test_every_module_is_small():
    sizes = {p.name: len(p.read_text().splitlines()) for p in SERVING.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
