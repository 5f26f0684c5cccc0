"""The PromQL of a dashboard's JSON: every panel target's `expr` and every query variable's selector
(`label_values(<selector>, <label>)`), with where it comes from, for the checks in tests/."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from observability import promql

_LABEL_VALUES = re.compile(
    r"^\s*label_values\((?P<selector>.*),\s*(?P<label>[A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$", re.S
)


@dataclass(frozen=True)
class Expression:
    dashboard: str
    where: str  # "panel <title>" or "variable <name>"
    expr: str


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels") or [])  # collapsed rows keep their panels inside


def expressions(dashboard: dict[str, Any]) -> list[Expression]:
    """Every PromQL expression of one dashboard (its JSON model as a dict)."""
    uid = str(dashboard.get("uid"))
    found: list[Expression] = []
    for panel in _panels(dashboard.get("panels") or []):
        for target in panel.get("targets") or []:
            if target.get("expr"):
                found.append(Expression(uid, f"panel {panel.get('title')!r}", target["expr"]))
    for variable in (dashboard.get("templating") or {}).get("list") or []:
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        text = query.get("query") if isinstance(query, dict) else query
        match = _LABEL_VALUES.match(text or "")
        if not match:
            raise ValueError(f"{uid}: variable {variable.get('name')!r}: not label_values(...): {text!r}")
        found.append(Expression(uid, f"variable {variable.get('name')!r}", match.group("selector")))
    return found


def committed_expressions(folder: Path) -> list[Expression]:
    """Every expression of every dashboard JSON file in `folder` (what the cluster's Grafana loads)."""
    found: list[Expression] = []
    for path in sorted(folder.glob("*.json")):
        found += expressions(json.loads(path.read_text(encoding="utf-8")))
    return found


def metric_names(found: list[Expression]) -> dict[str, list[Expression]]:
    """Metric name -> the expressions that read it."""
    names: dict[str, list[Expression]] = {}
    for expression in found:
        for name in promql.metric_names(expression.expr):
            names.setdefault(name, []).append(expression)
    return names
