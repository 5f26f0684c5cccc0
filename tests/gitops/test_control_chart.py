"""The control API's chart: what each environment renders, its values schema, and the API started with
exactly the environment the chart gives the container."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ci.validate.render import RenderResult
from ci.validate.settings import REPO, Settings
from control.settings import ControlSettings
from tests.gitops.helpers import find, objects
from tests.support.ports import free_port


def _container(rendered: RenderResult, env: str) -> dict:
    deployment = find(objects(rendered, f"control-{env}"), "Deployment", "control")
    return deployment["spec"]["template"]["spec"]["containers"][0]


def _env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container["env"]}


def test_prod_runs_two_replicas_on_postgres_with_a_pdb(rendered: RenderResult) -> None:
    docs = objects(rendered, "control-prod")
    assert find(docs, "Deployment")["spec"]["replicas"] == 2
    assert find(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    env = _env(_container(rendered, "prod"))
    assert env["CONTROL_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "control-db",
        "key": "CONTROL_DATABASE_URL",
    }
    assert env["CONTROL_REPLICA_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["CALLBACK_ALLOWED_HOSTS"]["value"] == "*.backend.mlops.internal"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_secrets_come_from_their_owners(rendered: RenderResult, env: str) -> None:
    variables = _env(_container(rendered, env))
    refs = {
        n: v["valueFrom"]["secretKeyRef"]
        for n, v in variables.items()
        if "secretKeyRef" in v.get("valueFrom", {})
    }
    assert refs["INTERNAL_API_KEY"] == {"name": "serving-app", "key": "INTERNAL_API_KEY"}
    # The user the Airflow chart's create-user Job creates (and the commit trigger logs in as): one password.
    assert refs["AIRFLOW_API_USER"] == {"name": "airflow-ci-user", "key": "username"}
    assert refs["AIRFLOW_API_PASSWORD"] == {"name": "airflow-ci-user", "key": "password"}
    assert refs["CONTROL_API_KEYS"]["name"] == refs["CALLBACK_SIGNING_SECRETS"]["name"] == "control-app"
    assert refs["CONTROL_READ_API_KEYS"].get("optional") is True


def test_the_route_keeps_event_streams_open(rendered: RenderResult) -> None:
    """Envoy's default route timeout (15 s) would cut Server-Sent Events streams."""
    route = find(objects(rendered, "control-dev"), "HTTPRoute")
    assert route["spec"]["rules"][0]["timeouts"]["request"] == "1h"


def _helm(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [settings.helm, "template", "control", str(REPO / "charts/control"), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_several_replicas_on_sqlite_and_a_latest_tag_are_refused(settings: Settings) -> None:
    sqlite = _helm(settings, "--set", "replicaCount=2")
    assert sqlite.returncode != 0 and "needs a shared database" in sqlite.stderr
    latest = _helm(settings, "--set", "image.tag=latest")
    assert latest.returncode != 0 and "/image/tag" in latest.stderr
    unknown = _helm(settings, "--set", "callbacks.allowHosts[0]=x")
    assert unknown.returncode != 0 and "allowHosts" in unknown.stderr


def test_the_api_starts_with_the_rendered_env(rendered: RenderResult, tmp_path: Path) -> None:
    container = _container(rendered, "dev")
    env: dict[str, str] = {}
    for var in container["env"]:
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "secretKeyRef" in var["valueFrom"]:
            key = var["valueFrom"]["secretKeyRef"]["key"]
            env[var["name"]] = "backend:test-key" if key.endswith("API_KEYS") else f"test-{key.lower()}"
        else:
            env[var["name"]] = "control-7d9f-0"  # downward API (metadata.name)
    settings = ControlSettings.model_validate(env)  # every variable the chart sets is one it reads
    assert settings.replica_id == "control-7d9f-0" and settings.port == container["ports"][0]["containerPort"]
    assert settings.allowed_hosts() == ["*.dev.mlops.internal"]
    port = free_port()
    # The pod's paths and addresses mapped to this machine: the emptyDir to tmp_path, a local port.
    env |= {
        "CONTROL_HOST": "127.0.0.1",
        "CONTROL_PORT": str(port),
        "CONTROL_DATABASE_URL": env["CONTROL_DATABASE_URL"].replace("/var/lib/control", str(tmp_path)),
    }
    assert container["command"][0] == "python"
    with (tmp_path / "control.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, *container["command"][1:]],
            env={**os.environ, **env},
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if (
                    httpx.get(base + container["readinessProbe"]["httpGet"]["path"], timeout=2).status_code
                    == 200
                ):
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert httpx.get(base + container["livenessProbe"]["httpGet"]["path"]).status_code == 200, (
            tmp_path / "control.log"
        ).read_text()[-2000:]
        status = httpx.get(base + "/v1/status", headers={"X-API-Key": "test-key"}).json()
        assert status["replica"] == "control-7d9f-0"
        assert httpx.get(base + "/v1/status").status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)
