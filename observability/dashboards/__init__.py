"""Grafana dashboards as code (grafana-foundation-sdk): the loop, serving and the platform.

`python -m observability.dashboards` writes their JSON and the kustomization that ships each as a ConfigMap
for the Grafana sidecar to bootstrap/dashboards/; `--check` fails when the committed files differ from what
the code builds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from observability.dashboards import loop, platform, serving
from observability.dashboards.configmaps import kustomization

REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUT_DIR = REPO_ROOT / "bootstrap" / "dashboards"
# file stem (also the dashboard's uid) -> builder
DASHBOARDS: dict[str, Callable[[], dashboard_builders.Dashboard]] = {
    loop.UID: loop.build,
    serving.UID: serving.build,
    platform.UID: platform.build,
}


def render(name: str) -> str:
    """The dashboard's JSON, as committed: sorted keys, two-space indent, a final newline."""
    return json.dumps(DASHBOARDS[name]().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def render_all() -> dict[str, str]:
    """File name -> text of every dashboard's JSON and of the kustomization that ships them."""
    files = {f"{name}.json": render(name) for name in DASHBOARDS}
    files["kustomization.yaml"] = kustomization(sorted(files))
    return files
