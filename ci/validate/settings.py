"""Where the tools, schemas and charts are: environment variables with defaults next to the repo."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.35.0"  # matches the pinned kubectl v1.35.2
AIRFLOW_CHART_REPO = "https://airflow.apache.org"
AIRFLOW_CHART_VERSION = "1.20.0"


def _dir_setting(name: str, default: Path) -> Path | None:
    value = os.environ.get(name)
    if value:
        return Path(value).resolve()
    return default.resolve() if default.is_dir() else None


@dataclass(frozen=True)
class Settings:
    """Paths and versions used by the renderers and validators."""

    repo: Path
    build: Path
    helm: str
    kubectl: str
    crd_dir: Path | None
    airflow_chart_dir: Path | None
    k8s_version: str = K8S_VERSION
    remote_kustomize: bool = False

    @classmethod
    def from_env(cls, repo: Path = REPO) -> Settings:
        """From CRD_DIR, AIRFLOW_CHART_DIR, BUILD_DIR, HELM, KUBECTL, K8S_VERSION, KUSTOMIZE_REMOTE."""
        tools = repo / ".tools" / "bin"
        return cls(
            repo=repo,
            build=Path(os.environ.get("BUILD_DIR", repo / "build")).resolve(),
            helm=os.environ.get("HELM", str(tools / "helm")),
            kubectl=os.environ.get("KUBECTL", str(tools / "kubectl")),
            crd_dir=_dir_setting("CRD_DIR", repo.parent / "shared" / "vendor" / "crds"),
            airflow_chart_dir=_dir_setting(
                "AIRFLOW_CHART_DIR", repo.parent / "shared" / "vendor" / "airflow-chart"
            ),
            k8s_version=os.environ.get("K8S_VERSION", K8S_VERSION),
            remote_kustomize=os.environ.get("KUSTOMIZE_REMOTE", "") == "1",
        )
