"""The commit trigger in the cluster: a PostSync hook Job of the Airflow Application, fed the synced
commit by Argo CD, logging in to the Airflow API server the official chart renders as the CI user the
chart's create-user Job creates (Secret airflow-ci-user), with the Slack webhook from its own SealedSecret."""

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
    assert hook["helm"]["parameters"] == [
        {"name": "commit", "value": "$ARGOCD_APP_REVISION"},
        # The Job clones the repository the Application syncs from, never the chart's default.
        {"name": "repoURL", "value": hook["repoURL"]},
    ]
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
    # One CI password: the hook logs in as the user the Airflow chart's create-user Job creates, from the
    # same Secret and keys (it once had its own copy of the password in the commit-trigger Secret).
    create_user = find(objects(rendered, f"airflow-{env}"), "Job", "airflow-create-user")
    created_from = {
        e["name"]: e["valueFrom"]["secretKeyRef"] for e in _container(create_user)["env"] if "valueFrom" in e
    }
    login = {
        name: env_vars[name]["valueFrom"]["secretKeyRef"]
        for name in ("AIRFLOW_API_USER", "AIRFLOW_API_PASSWORD")
    }
    assert login == {
        "AIRFLOW_API_USER": created_from["CI_USERNAME"],
        "AIRFLOW_API_PASSWORD": created_from["CI_PASSWORD"],
    }
    assert env_vars["SLACK_WEBHOOK_URL"]["valueFrom"]["secretKeyRef"]["name"] == "commit-trigger"
    sealed = yaml.safe_load((REPO / f"apps/envs/{env}/secrets/airflow/commit-trigger.yaml").read_text())
    assert set(sealed["spec"]["encryptedData"]) == {"SLACK_WEBHOOK_URL"}
    args = container["args"]
    assert args[:4] == ["--sha", "$(COMMIT)", "--clone", "$(REPO_URL)"]
    # Runs start only once Airflow parsed this commit's DAGs (git-sync lags), within the Job's deadline.
    assert "--require-dag-commit" in args
    wait = float(args[args.index("--dag-code-timeout") + 1])
    assert 0 < wait < job["spec"]["activeDeadlineSeconds"]
    # The URL names the API server Service of the official chart as rendered with our values.
    url = env_vars["AIRFLOW_URL"]["value"]
    host, port = url.removeprefix("http://").split(":")
    service = find(objects(rendered, f"airflow-{env}"), "Service", host)
    assert int(port) in [p["port"] for p in service["spec"]["ports"]]
    gateway_hosts = [
        listener.get("hostname")
        for gw in objects(rendered, f"gateway-{env}")
        if gw["kind"] == "Gateway"
        for listener in gw["spec"]["listeners"]
    ]
    assert env_vars["AIRFLOW_UI_URL"]["value"].removeprefix("https://") in gateway_hosts


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


def test_a_wait_for_dag_code_longer_than_the_job_may_run_is_refused(settings: Settings) -> None:
    chart = REPO / "charts" / "commit-trigger"
    done = subprocess.run(
        [settings.helm, "template", "airflow", str(chart), "--set", "dagCodeTimeoutSeconds=900"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0 and "dagCodeTimeoutSeconds must be below activeDeadlineSeconds" in done.stderr


@pytest.mark.parametrize("env", ENVS)
def test_airflow_migrations_run_in_the_sync_not_after_health(rendered: render.RenderResult, env: str) -> None:
    """A Helm post-install hook is an Argo CD PostSync hook, which waits for healthy pods that wait for the
    migrations: the Application would never get healthy nor reach the commit trigger."""
    job = find(objects(rendered, f"airflow-{env}"), "Job", "airflow-run-airflow-migrations")
    annotations = job["metadata"].get("annotations") or {}
    assert not [k for k in annotations if k.startswith("helm.sh/hook")], annotations
    assert annotations["argocd.argoproj.io/hook"] == "Sync"
