"""Helpers of the GitOps tests: pick objects out of a render."""

from __future__ import annotations

from pathlib import Path

from ci.validate.render import RenderResult

FIXTURES = Path(__file__).parent / "fixtures"


def objects(rendered: RenderResult, name: str) -> list[dict]:
    """The objects of one render (`serving-dev`, `airflow-prod`, `kustomize-apps`, ...)."""
    return [m.doc for m in rendered.manifests if m.source == f"rendered/{name}.yaml"]


def find(docs: list[dict], kind: str, name: str | None = None) -> dict:
    """The one object of `kind` (and `name`) among `docs`."""
    hits = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(hits) == 1, f"expected one {kind} {name or ''}, found {len(hits)}"
    return hits[0]
