"""Where the tools, schemas and charts are: environment variables with defaults next to the repo."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.35.0"  # matches the pinned kubectl v1.35.2
AIRFLOW_CHART_REPO = "https://airflow.apache.org"
AIRFLOW_CHART_VERSION = "1.20.0"


def vendor_folders(repo: Path = REPO) -> tuple[Path, Path]:
    """Where the pinned upstream files (CRDs, the official Airflow chart) are looked for: the shared copy
    beside the clone, then the git-ignored cache that `make install` (python -m ci.fetch_vendor) fills."""
    return repo.parent / "shared" / "vendor", repo / ".cache" / "vendor"


def vendored(component: str, repo: Path = REPO) -> Path | None:
    """The folder of a vendored component ("crds", "airflow-chart"), or None when neither has it."""
    for base in vendor_folders(repo):
        if (base / component).is_dir():
            return (base / component).resolve()
    return None


def _dir_setting(name: str, default: Path | None) -> Path | None:
    value = os.environ.get(name)
    if value:
        return Path(value).resolve()
    return default


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
            crd_dir=_dir_setting("CRD_DIR", vendored("crds", repo)),
            airflow_chart_dir=_dir_setting("AIRFLOW_CHART_DIR", vendored("airflow-chart", repo)),
            k8s_version=os.environ.get("K8S_VERSION", K8S_VERSION),
            remote_kustomize=os.environ.get("KUSTOMIZE_REMOTE", "") == "1",
        )


def missing_vendor(s: Settings) -> str | None:
    """One line naming the pinned upstream files that are missing and how to get them, or None."""
    missing = [
        name for name, folder in (("CRDs", s.crd_dir), ("Airflow chart", s.airflow_chart_dir)) if not folder
    ]
    if not missing:
        return None
    return (
        f"the pinned {' and '.join(missing)} are missing (../shared/vendor is not beside the clone and "
        ".cache/vendor is empty): run `make install` (python -m ci.fetch_vendor) on a machine with network, "
        "or set CRD_DIR and AIRFLOW_CHART_DIR"
    )
