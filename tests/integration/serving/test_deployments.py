"""Deployments through the control API, as production runs them: two gateway processes on the full
stack's PostgreSQL, the control API as its own process talking to them and to MLflow over HTTP.

A model added with `PUT /v1/deployments/{model}` is served by both replicas, survives a clean restart
and a kill -9 of a replica, the same request twice changes nothing, a bad body is a 422 naming the
field, a Git-declared model takes versions and weights but not a new strategy (409 "managed by Git"),
and `DELETE` removes the runtime model from every replica."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.serving.conftest import MODEL
from tests.integration.serving.support import REPO_ROOT, GatewayProcess, wait_for
from tests.support.ports import free_port

pytestmark = [pytest.mark.full, pytest.mark.timeout(1800)]  # the session stacks may start here
KEY = "deploy-test-key"


class ControlProcess:
    """`python -m control` on a free port, pointed at one gateway replica and the shared MLflow."""

    def __init__(self, folder: Path, gateway: GatewayProcess, tracking_uri: str) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **{k: v for k, v in os.environ.items() if k not in ("LOG_DIR", "CALLBACK_URL")},
            "CONTROL_HOST": "127.0.0.1",
            "CONTROL_PORT": str(port),
            "CONTROL_DATABASE_URL": f"sqlite:///{folder / 'control.db'}",
            "CONTROL_API_KEYS": f"it:{KEY}",
            "CONTROL_REPLICA_ID": "control-deploy-test",
            "CONTROL_POLL_SECONDS": "0.5",
            "CONTROL_LEASE_SECONDS": "3",
            "SERVING_URL": gateway.url,
            "INTERNAL_API_KEY": gateway.key,
            "MLFLOW_TRACKING_URI": tracking_uri,
            "AIRFLOW_URL": "http://127.0.0.1:9",
        }
        self.log = folder / "control.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "control"],
                cwd=REPO_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.client = httpx.Client(base_url=self.url, timeout=60, headers={"X-API-Key": KEY})
        wait_for(lambda: self._healthy(), 60, what="control API /healthz")

    def _healthy(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text(errors="replace")[-3000:]
        try:
            return self.client.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def put(self, model: str, body: dict[str, Any]) -> httpx.Response:
        return self.client.put(f"/v1/deployments/{model}", json=body)

    def wait_ready(self, model: str) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            deployment = self.client.get(f"/v1/deployments/{model}").raise_for_status().json()
            assert deployment["state"] != "failed", deployment
            return deployment if deployment["state"] == "ready" else None

        return wait_for(ready, 120, what=f"deployment {model} ready")

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


@pytest.fixture
def setup(versions, gateways, full_stack, tmp_path) -> Iterator[dict[str, Any]]:
    run = uuid.uuid4().hex[:8]
    aliases = {"git": f"dep-{run}-git", "a": f"dep-{run}-a", "b": f"dep-{run}-b"}
    versions.set_alias(aliases["git"], versions.v_a)
    config = {
        "models": [
            {
                "name": f"git-{run}",
                "registered_model": MODEL,
                "strategy": "single",
                "variants": [{"name": "main", "alias": aliases["git"], "weight": 100}],
            }
        ]
    }
    state_url = f"postgresql+psycopg2://mlops:mlops@127.0.0.1:{full_stack.settings.postgres_port}/serving"

    def start(index: int) -> GatewayProcess:
        folder = tmp_path / f"replica-{index}"
        env = {"SERVING_REPLICA_ID": f"deploy-{run}-{index}"}
        return gateways(config, versions.tracking_uri, state_url=state_url, folder=folder, env=env)

    replicas = [start(1), start(2)]
    for gateway in replicas:
        gateway.wait_ready()
    control = ControlProcess(tmp_path, replicas[0], versions.tracking_uri)
    yield {"run": run, "aliases": aliases, "replicas": replicas, "control": control, "start": start}
    control.stop()


def _serves(gateway: GatewayProcess, model: str, versions: dict[str, str]) -> bool:
    try:
        status = gateway.client.get(f"/v1/models/{model}")
    except httpx.HTTPError:
        return False
    if status.status_code != 200:
        return False
    served = {v["name"]: v["version"] for v in status.json()["variants"]}
    return served == versions and gateway.predict(model).status_code == 200


def test_a_deployed_model_is_served_by_every_replica_and_git_models_keep_their_shape(setup, versions):
    control: ControlProcess = setup["control"]
    replicas: list[GatewayProcess] = setup["replicas"]
    aliases, run = setup["aliases"], setup["run"]
    model, git_model = f"rt-{run}", f"git-{run}"
    body = {
        "registered_model": MODEL,
        "strategy": "ab",
        "variants": [
            {"name": "a", "alias": aliases["a"], "version": versions.v_a, "weight": 70},
            {"name": "b", "alias": aliases["b"], "version": versions.v_b, "weight": 30},
        ],
    }
    try:
        answer = control.put(model, body)
        assert answer.status_code == 202, answer.text
        assert answer.json()["changed"] and answer.json()["managed_by"] == "api"
        deployment = control.wait_ready(model)
        assert deployment["fleet"]["converged"] and len(deployment["fleet"]["serving"]) == 2
        wanted = {"a": versions.v_a, "b": versions.v_b}
        for gateway in replicas:
            wait_for(lambda g=gateway: _serves(g, model, wanted), 60, what=f"{gateway.url} serves {model}")
            assert gateway.status(model)["weights"] == {"a": 70, "b": 30}

        again = control.put(model, body)
        assert (again.status_code, again.json()["changed"]) == (200, False)

        for bad, field in [
            ({**body, "variants": [{**body["variants"][0], "weight": 101}]}, "variants.0.weight"),
            ({**body, "variants": [{**body["variants"][0], "weight": 60}]}, "weights"),
            ({**body, "strategy": "canary"}, "canary"),
            ({**body, "replicas": 2}, "replicas"),
            (
                {**body, "variants": [{**body["variants"][0], "version": "9999"}, body["variants"][1]]},
                "version",
            ),
        ]:
            refused = control.put(model, bad)
            assert refused.status_code == 422, refused.text
            message = refused.json()["message"]
            assert field in message and "\n" not in message and "Traceback" not in message

        git_body = {
            "registered_model": MODEL,
            "strategy": "single",
            "variants": [{"name": "main", "alias": aliases["git"], "version": versions.v_b, "weight": 100}],
        }
        refused = control.put(git_model, {**git_body, "strategy": "ab"})
        assert refused.status_code == 409 and "managed by Git" in refused.json()["message"]
        moved = control.put(git_model, git_body)
        assert moved.status_code == 202 and moved.json()["managed_by"] == "git", moved.text
        control.wait_ready(git_model)
        for gateway in replicas:
            wait_for(
                lambda g=gateway: _serves(g, git_model, {"main": versions.v_b}), 60, what="git model moved"
            )
        assert control.client.delete(f"/v1/deployments/{git_model}").status_code == 409

        for restart in (GatewayProcess.stop, GatewayProcess.kill):  # a clean restart, then kill -9
            restart(replicas[1])
            replicas[1] = setup["start"](2)
            replicas[1].wait_ready()
            wait_for(lambda: _serves(replicas[1], model, wanted), 90, what=f"{model} served after a restart")
    finally:
        deleted = control.client.delete(f"/v1/deployments/{model}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["state"] == "deleted"
    for gateway in replicas:
        wait_for(
            lambda g=gateway: g.client.get(f"/v1/models/{model}").status_code == 404, 30, what="model removed"
        )
