"""Session fixtures of the GitOps tests: the pinned tools, one render of everything, one validation run."""

from __future__ import annotations

import subprocess

import pytest

from ci.validate import pipeline, render
from ci.validate.settings import REPO, Settings, missing_vendor


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings with a private build folder; installs helm/kubectl with ci/install-tools.sh when missing."""
    if (
        not (REPO / ".tools" / "bin" / "helm").is_file()
        or not (REPO / ".tools" / "bin" / "kubectl").is_file()
    ):
        subprocess.run(["bash", str(REPO / "ci" / "install-tools.sh")], check=True, cwd=REPO)
    base = Settings.from_env()
    missing = missing_vendor(base)
    if missing:  # one line for the whole session, not an error per test
        pytest.exit(missing, returncode=2)
    return Settings(
        repo=base.repo,
        build=tmp_path_factory.mktemp("gitops-build"),
        helm=base.helm,
        kubectl=base.kubectl,
        crd_dir=base.crd_dir,
        airflow_chart_dir=base.airflow_chart_dir,
        k8s_version=base.k8s_version,
    )


@pytest.fixture(scope="session")
def rendered(settings: Settings) -> render.RenderResult:
    """Every chart x environment and every kustomization, rendered once per session."""
    return render.render_all(settings)


@pytest.fixture(scope="session")
def report(settings: Settings, rendered: render.RenderResult) -> pipeline.Report:
    """The full validation run over the session's render."""
    return pipeline.run_all(settings, rendered)


@pytest.fixture(scope="session")
def envs() -> list[dict]:
    """apps/envs/<env>/env.yaml of every environment."""
    return render.environments(REPO)
