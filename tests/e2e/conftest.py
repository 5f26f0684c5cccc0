"""The whole loop on one machine: a stack WITH the gateway on free ports, a local Airflow (SQLite) and a
runner that executes DAG runs with dag.test() in a subprocess (Airflow reads its config at import), and the
rollback_model runs the release DAGs trigger (tests.support.airflow_runner)."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ops.airflow import AirflowHome
from ops.stack import Stack
from tests.support.stack import REPO_ROOT, RunningStack, SlackSink, stack_settings


@dataclass
class Loop:
    """The running stack, its Airflow and clients for assertions."""

    running: RunningStack
    airflow: AirflowHome

    @property
    def slack(self) -> SlackSink:
        return SlackSink(self.running.settings.slack_webhook_url, self.running.slack_log)

    def run(self, *runs: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """Run DAGs one after the other; one result per run, with the runs it triggered under `triggered`."""
        argv = [sys.executable, "-m", "tests.support.airflow_runner"]
        for dag_id, conf in runs:
            argv += [dag_id, json.dumps(conf)]
        completed = subprocess.run(
            argv,
            env={**os.environ, **self.airflow.env(), "MLOPS_ROLLBACK_POKE_SECONDS": "2"},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        results: list[dict[str, Any]] = []
        for line in completed.stdout.splitlines():
            if line.startswith("RESULT "):
                result = json.loads(line[7:])
                if "triggered_by" in result:
                    results[-1]["triggered"].append(result)
                else:
                    results.append({**result, "triggered": []})
        assert len(results) == len(runs), f"runner exited {completed.returncode}:\n{completed.stderr[-4000:]}"
        return results

    def status(self, model: str = "iris") -> dict[str, Any]:
        return httpx.get(f"{self.running.settings.serving_url}/v1/models/{model}", timeout=10).json()

    def alias_version(self, model: str, alias: str) -> str | None:
        response = httpx.get(
            f"{self.running.tracking_uri}/api/2.0/mlflow/registered-models/alias",
            params={"name": model, "alias": alias},
            timeout=10,
        )
        return response.json()["model_version"]["version"] if response.status_code == 200 else None

    def release(self, alias: str, version: str, model: str = "iris") -> None:
        """What set_alias + reload do, by hand: MLflow's alias moves, the gateway loads it."""
        mlflow = f"{self.running.tracking_uri}/api/2.0/mlflow/registered-models"
        body = {"name": model, "alias": alias, "version": version}
        httpx.post(f"{mlflow}/alias", json=body, timeout=10).raise_for_status()
        response = httpx.post(
            f"{self.running.settings.serving_url}/variant/{alias}/reload",
            params={"model": model},
            headers={"X-API-Key": self.running.stack.api_key()},
            timeout=120,
        )
        assert response.status_code == 200 and str(response.json()["version"]) == version, response.text

    def set_model_tag(self, key: str, value: str, model: str = "iris") -> None:
        body = {"name": model, "key": key, "value": value}
        url = f"{self.running.tracking_uri}/api/2.0/mlflow/registered-models/set-tag"
        httpx.post(url, json=body, timeout=10).raise_for_status()

    def served_versions(self, requests: int = 30, model: str = "iris") -> set[str]:
        """Versions that answer plain predictions (no X-Variant: the traffic split decides)."""
        url = f"{self.running.settings.serving_url}/v1/models/{model}/predict"
        body = {"inputs": [[5.1, 3.5, 1.4, 0.2]]}
        return {str(httpx.post(url, json=body, timeout=30).json()["version"]) for _ in range(requests)}

    def predict(self, variant: str, model: str = "iris") -> dict[str, Any]:
        body = {"inputs": [[5.1, 3.5, 1.4, 0.2]]}
        headers = {"X-Variant": variant, "X-API-Key": self.running.stack.api_key()}
        response = httpx.post(
            f"{self.running.settings.serving_url}/v1/models/{model}/predict",
            json=body,
            headers=headers,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="session")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    """Stack (MLflow, gateway, Slack sink) + local Airflow, shared by the whole-loop tests."""
    state: Path = tmp_path_factory.mktemp("loop")
    stack = Stack(stack_settings(state, with_gateway=True))
    try:
        stack.up(log=lambda _line: None)
        airflow = AirflowHome(state / "airflow", stack.client_env(), stack.api_key())
        airflow.migrate()
        yield Loop(RunningStack(stack), airflow)
    finally:
        stack.down()
