"""dev and prod stay apart: one AppProject per environment that admits only its namespace, Pod Security
`restricted` on every namespace the ApplicationSets create, and an explicit sealing-key renewal."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from ci.validate import appset

REPO = Path(__file__).resolve().parents[2]
REPO_URL = "https://github.com/gitops-mlops/gitops-mlops.git"


def _projects() -> dict[str, dict]:
    docs = [yaml.safe_load(p.read_text()) for p in sorted((REPO / "apps/AppProject").glob("*.yaml"))]
    return {d["metadata"]["name"]: d for d in docs}


def _generated() -> list[dict]:
    return [app for apps in appset.expand_repo(REPO).values() for app in apps]


def test_each_environment_has_its_own_project_and_namespace() -> None:
    projects = _projects()
    assert set(projects) == {"mlops-dev", "mlops-prod"}
    for env in ("dev", "prod"):
        destinations = projects[f"mlops-{env}"]["spec"]["destinations"]
        assert [d["namespace"] for d in destinations] == [f"mlops-{env}"]
    apps = _generated()
    assert apps and appset.check_applications(apps, projects, REPO, {REPO_URL}) == []
    for app in apps:
        env = app["metadata"]["labels"]["mlops/env"]
        assert app["spec"]["project"] == f"mlops-{env}"


@pytest.mark.parametrize(("env", "other"), [("dev", "prod"), ("prod", "dev")])
def test_an_application_aimed_at_the_other_environment_is_refused(env: str, other: str) -> None:
    app = copy.deepcopy(next(a for a in _generated() if a["metadata"]["name"] == f"serving-{env}"))
    app["spec"]["destination"]["namespace"] = f"mlops-{other}"
    problems = appset.check_applications([app], _projects(), REPO, {REPO_URL})
    assert problems and f"not allowed by AppProject mlops-{env}" in problems[0]


def test_every_generated_namespace_enforces_pod_security_restricted() -> None:
    for app in _generated():
        labels = app["spec"]["syncPolicy"]["managedNamespaceMetadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted", app["metadata"]["name"]


def test_sealing_key_renewal_is_explicit() -> None:
    app = yaml.safe_load((REPO / "bootstrap/platform/sealed-secrets.yaml").read_text())
    period = app["spec"]["source"]["helm"]["valuesObject"]["keyrenewperiod"]
    assert re.fullmatch(r"[1-9][0-9]*h", period), "a Go duration in hours, set on purpose"
