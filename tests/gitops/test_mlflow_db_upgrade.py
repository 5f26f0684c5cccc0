"""`mlflow db upgrade` as an Argo CD Sync hook before the MLflow server rolls, run like the server."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.validate import render
from ci.validate.firstsync.plan import phase_and_wave
from ci.validate.podsecurity import restricted_violations
from ops.local.stack.services import mlflow_schema_upgrade
from ops.local.stack.settings import StackSettings
from tests.gitops.helpers import find, objects

ENVS = ["dev", "prod"]


def _server_and_job(rendered: render.RenderResult, env: str) -> tuple[dict, dict, list[dict]]:
    docs = objects(rendered, f"mlflow-{env}")
    server = find(docs, "Deployment", "mlflow")["spec"]["template"]["spec"]
    job = find(docs, "Job", "mlflow-db-upgrade")
    return server, job, docs


@pytest.mark.parametrize("env", ENVS)
def test_the_migration_runs_before_the_server_and_after_its_service_account(
    rendered: render.RenderResult, env: str
) -> None:
    _, job, docs = _server_and_job(rendered, env)
    annotations = job["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/hook"] == "Sync"
    assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation,HookSucceeded"
    assert phase_and_wave(job) == ("Sync", -1)
    assert phase_and_wave(find(docs, "ServiceAccount", "mlflow")) == ("Sync", -1)
    assert phase_and_wave(find(docs, "Deployment", "mlflow")) == ("Sync", 0)
    # no Helm hook annotations: Argo CD would map them to phases of its own
    assert not [k for k in annotations if k.startswith("helm.sh/")]


@pytest.mark.parametrize("env", ENVS)
def test_the_job_runs_the_server_image_env_and_security_context(
    rendered: render.RenderResult, env: str
) -> None:
    server, job, docs = _server_and_job(rendered, env)
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (server_container,) = server["containers"]
    assert container["image"] == server_container["image"]
    assert container["command"] == ["mlflow", "db", "upgrade", "$(MLFLOW_BACKEND_STORE_URI)"]
    assert pod["securityContext"] == server["securityContext"]
    assert container["securityContext"] == server_container["securityContext"]
    assert pod["serviceAccountName"] == server["serviceAccountName"]
    assert pod["restartPolicy"] == "Never"
    server_env = {e["name"]: e for e in server_container["env"]}
    env_vars = {e["name"]: e for e in container["env"]}
    assert env_vars["MLFLOW_BACKEND_STORE_URI"] == server_env["MLFLOW_BACKEND_STORE_URI"]
    assert env_vars["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"] == {
        "name": "mlflow-db-app",
        "key": "uri",
    }
    assert all(env_vars[name] == server_env[name] for name in env_vars)
    # no AWS keys: their SealedSecret is applied in wave 0, after this hook (the first sync would stall)
    assert not [name for name in env_vars if name.startswith("AWS_")]
    assert restricted_violations(pod) == []
    # the Service must never send requests to the migration pod
    selector = find(docs, "Service", "mlflow")["spec"]["selector"]
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert not all(labels.get(k) == v for k, v in selector.items())


def test_the_local_full_stack_runs_the_same_command(tmp_path: Path) -> None:
    settings = StackSettings(state_dir=tmp_path, mode="full")
    argv, _ = mlflow_schema_upgrade(settings)
    assert Path(argv[0]).name == "mlflow"
    assert argv[1:3] == ["db", "upgrade"]
    assert argv[3].startswith("postgresql+psycopg2://") and argv[3].endswith("/mlflow")
