"""The whole loop on one machine: the local stack as `make up` starts it (MLflow, gateway, control API,
Slack sink and a real Airflow: API server, scheduler with LocalExecutor, DAG processor, triggerer) on
free ports, started once per test session (`airflow_stack`). DAG runs are triggered and followed
through Airflow's REST API, as the commit trigger and the demo do."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from airflow_rest import AirflowClient, DagRun, TaskInstance
from ops.local.airflow import API_USER
from tests.support.stack import REPO_ROOT, RunningStack, SlackSink

DAGS = ["ml_train_register_and_reload", "register_sensor_check", "rollback_model"]
# What ci/trainer-runtime.sh builds (make install): the python of the DAGs' local pods.
TRAINER_VENV_PYTHON = REPO_ROOT / ".venv-trainer" / "bin" / "python"
# The release DAGs start rollback_model with this TriggerDagRunOperator task.
ROLLBACK_TRIGGER = "trigger_rollback_model"

# One iris row with the signature's column names (the gateway, like pyfunc, refuses unnamed rows for it).
IRIS_ROW = {
    "columns": ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"],
    "data": [[5.1, 3.5, 1.4, 0.2]],
}


@dataclass
class RunResult:
    """A finished DAG run, its task instances, and its tasks' XCom return values (read on demand)."""

    client: AirflowClient
    run: DagRun
    tasks: dict[str, TaskInstance]
    _values: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def state(self) -> str:
        return self.run.state

    def task_state(self, task_id: str) -> str | None:
        return self.tasks[task_id].state

    def value(self, task_id: str, key: str = "return_value") -> Any:
        if (task_id, key) not in self._values:
            self._values[(task_id, key)] = self.client.xcom(self.run.dag_id, self.run.run_id, task_id, key)
        return self._values[(task_id, key)]


@dataclass
class Loop:
    """The running stack with its Airflow, and clients for assertions."""

    running: RunningStack
    airflow: AirflowClient
    counter: int = 0

    @property
    def slack(self) -> SlackSink:
        return SlackSink(self.running.settings.slack_webhook_url, self.running.slack_log)

    def result(self, dag_id: str, run_id: str, timeout: float = 900.0) -> RunResult:
        run = self.airflow.wait(dag_id, run_id, timeout=timeout, interval=1.0)
        tasks = {ti.task_id: ti for ti in self.airflow.task_instances(dag_id, run_id)}
        return RunResult(self.airflow, run, tasks)

    def run(self, dag_id: str, conf: dict[str, Any], label: str = "e2e") -> RunResult:
        """Trigger through the REST API and wait until the run is done."""
        self.counter += 1
        run_id = f"{label}-{self.counter}"
        assert self.airflow.trigger(dag_id, run_id, conf).created
        return self.result(dag_id, run_id)

    def rollback_of(self, release: RunResult) -> RunResult | None:
        """The rollback_model run a failed release triggered (its own DAG run), once it is done."""
        run_id = release.value(ROLLBACK_TRIGGER, "trigger_run_id")
        return self.result("rollback_model", run_id) if run_id else None

    def commit_trigger(self, *args: str) -> tuple[int, dict[str, Any] | None, str]:
        """`python -m commit_trigger ARGS --json` as the cluster's hook runs it: exit code, report, output."""
        env = {
            **os.environ,
            "AIRFLOW_URL": self.running.settings.airflow_url,
            "AIRFLOW_API_USER": API_USER,
            "AIRFLOW_API_PASSWORD": self.running.stack.env_values()["AIRFLOW_API_PASSWORD"],
            "SLACK_WEBHOOK_URL": self.running.settings.slack_webhook_url,
        }
        done = subprocess.run(
            [sys.executable, "-m", "commit_trigger", *args, "--json"],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        lines = done.stdout.splitlines()
        report = json.loads(lines[-1]) if done.returncode == 0 and lines else None
        return done.returncode, report, done.stdout + done.stderr

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
        versions = set()
        for _ in range(requests):
            response = httpx.post(url, json={"dataframe_split": IRIS_ROW}, timeout=30)
            assert response.status_code == 200, response.text
            versions.add(str(response.json()["version"]))
        return versions

    def predict(self, variant: str, model: str = "iris") -> dict[str, Any]:
        body = {"dataframe_split": IRIS_ROW}
        headers = {"X-Variant": variant, "X-API-Key": self.running.stack.api_key()}
        response = httpx.post(
            f"{self.running.settings.serving_url}/v1/models/{model}/predict",
            json=body,
            headers=headers,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="package")
def loop(airflow_stack: RunningStack) -> Loop:
    """The session's stack with gateway and Airflow (tests/conftest.py), shared by the e2e tests."""
    if not TRAINER_VENV_PYTHON.is_file():  # the local runtime's trainer environment (`make install`)
        subprocess.run(["bash", str(REPO_ROOT / "ci" / "trainer-runtime.sh")], check=True, cwd=REPO_ROOT)
    client = airflow_stack.airflow()
    client.wait_for_dags(DAGS)
    return Loop(airflow_stack, client)
