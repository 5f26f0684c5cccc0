"""Findings: one problem in one object, printed as a single line that names what to fix."""

from __future__ import annotations

from dataclasses import dataclass


class SetupError(RuntimeError):
    """The validation cannot run (missing tool, missing schema folder, a render that failed)."""


@dataclass(frozen=True)
class Finding:
    """A problem found in a manifest or a render. ``rule`` names the check that failed."""

    source: str
    rule: str
    message: str
    obj: str = ""

    def __str__(self) -> str:
        where = f"{self.source}: {self.obj}" if self.obj else self.source
        return f"{where}: [{self.rule}] {self.message}"


def obj_name(doc: dict) -> str:
    """``Kind/namespace/name`` (namespace left out when absent) of a manifest."""
    meta = doc.get("metadata") or {}
    parts = [str(doc.get("kind", "?"))]
    if meta.get("namespace"):
        parts.append(str(meta["namespace"]))
    parts.append(str(meta.get("name", "?")))
    return "/".join(parts)
