"""The commit trigger in the cluster: a PostSync hook Job of the Airflow Application, fed the synced
commit by Argo CD, logging in to the Airflow API server the official chart renders, with its password
and Slack webhook from the environment's SealedSecret."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from ci.validate import appset, render
from ci.validate.settings import REPO, Settings
from tests.gitops.helpers import find, objects

ENVS = [e["env"] for e in render.environments(REPO)]
SHA = "0123456789abcdef0123456789abcdef01234567"


def _container(job: dict) -> dict:
    return job["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("env", ENVS)
def test_the_airflow_application_runs_the_hook_with_the_synced_commit(env: str) -> None:
    apps = {a["metadata"]["name"]: a for group in appset.expand_repo(REPO).values() for a in group}
    sources = apps[f"airflow-{env}"]["spec"]["sources"]
    hook = next(s for s in sources if s.get("path") == "charts/commit-trigger")
    assert hook["helm"]["parameters"] == [{"name": "commit", "value": "$ARGOCD_APP_REVISION"}]
    assert hook["targetRevision"] == next(s for s in sources if s.get("ref") == "values")["targetRevision"]


@pytest.mark.parametrize("env", ENVS)
def test_hook_job_reaches_the_rendered_airflow_api_server(rendered: render.RenderResult, env: str) -> None:
    docs = objects(rendered, f"commit-trigger-{env}")
    job = find(docs, "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/hook"] == "PostSync"
    assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
    container = _container(job)
    env_vars = {e["name"]: e for e in container["env"]}
    assert container["args"] == ["--sha", "$(COMMIT)", "--clone", "$(REPO_URL)"]
    assert env_vars["AIRFLOW_API_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "commit-trigger"
    # The URL names the API server Service of the official chart as rendered with our values.
    url = env_vars["AIRFLOW_URL"]["value"]
    host, port = url.removeprefix("http://").split(":")
    service = find(objects(rendered, f"airflow-{env}"), "Service", host)
    assert int(port) in [p["port"] for p in service["spec"]["ports"]]
    ingress_hosts = [
        rule["host"]
        for ing in objects(rendered, f"airflow-{env}")
        if ing["kind"] == "Ingress"
        for rule in ing["spec"]["rules"]
    ]
    assert env_vars["AIRFLOW_UI_URL"]["value"].removeprefix("https://") in ingress_hosts


def test_a_commit_changes_desired_state_so_argo_cd_syncs_and_runs_the_hook(settings: Settings) -> None:
    """Hooks are not compared for sync status: the revision ConfigMap is what makes every commit sync."""
    chart = REPO / "charts" / "commit-trigger"
    values = ["-f", str(chart / "values" / "base.yaml"), "-f", str(chart / "values" / "dev.yaml")]
    done = subprocess.run(
        [settings.helm, "template", "airflow", str(chart), *values, "--set", f"commit={SHA}"],
        capture_output=True,
        text=True,
        check=True,
    )
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    revision = find(docs, "ConfigMap")
    assert "argocd.argoproj.io/hook" not in (revision["metadata"].get("annotations") or {})
    assert revision["data"]["commit"] == SHA
    env_vars = {e["name"]: e.get("value") for e in _container(find(docs, "Job"))["env"]}
    assert env_vars["COMMIT"] == SHA
    bad = subprocess.run(
        [settings.helm, "template", "airflow", str(chart), *values, "--set", "commit=not-a-sha"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode != 0 and "commit" in bad.stderr
