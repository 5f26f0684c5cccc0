"""The whole loop on one machine: a stack WITH the gateway on free ports, a local Airflow (SQLite) and a
runner that executes DAG runs with dag.test() in a subprocess (Airflow reads its config at import)."""

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
        """Run DAGs one after the other in one Airflow process; one result per run."""
        argv = [sys.executable, "-m", "ops.airflow.run"]
        for dag_id, conf in runs:
            argv += [dag_id, json.dumps(conf)]
        completed = subprocess.run(
            argv,
            env={**os.environ, **self.airflow.env()},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        results = [
            json.loads(line[7:]) for line in completed.stdout.splitlines() if line.startswith("RESULT ")
        ]
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

    def predict(self, variant: str, model: str = "iris") -> dict[str, Any]:
        columns = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
        body = {"dataframe_split": {"columns": columns, "data": [[5.1, 3.5, 1.4, 0.2]]}}
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
