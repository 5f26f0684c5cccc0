"""The control plane in-process: its real database (SQLite file), the in-process Airflow stand-in, a
recording callback receiver, and the follower's steps driven by the test instead of background loops."""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from control.app import build_app
from control.plane import ControlPlane
from control.settings import ControlSettings
from tests.support.fake_airflow import FakeAirflow
from tests.support.sse import parse_sse

DAG = "ml_train_register_and_reload"
CONFIGS = Path(__file__).resolve().parents[3] / "trainer" / "configs"
WRITE_KEY, READ_KEY, SECRET = "write-key-1", "read-key-1", "callback-secret"
RECEIVER = "https://hooks.example.com/mlops"
SUCCESS_TASKS = [
    "validate_conf",
    "plan_train",
    "train",
    "quality_gate",
    "plan_register",
    "register",
    "wait_ready",
    "release_target",
    "record_before_version",
    "set_alias",
    "reload",
    "verify",
    "start_experiment",
    "summary",
]
TRAINED = {
    "run_id": "abc123",
    "metrics": {"accuracy": 0.95},
    "primary_metric": "accuracy",
    "primary_metric_value": 0.95,
    "higher_is_better": True,
}


@dataclass
class Receiver:
    """A callback receiver: records what it gets; `down` refuses connections, `status` is its answer."""

    down: bool = False
    status: int = 200
    received: list[httpx.Request] = field(default_factory=list)
    attempts: int = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if 200 <= self.status < 300:
            self.received.append(request)
        return httpx.Response(self.status, text="ok")

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.received]


def control_settings(tmp_path: Path, **extra: Any) -> ControlSettings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'control.db'}",
        "api_keys": f"backend:{WRITE_KEY}",
        "read_api_keys": f"viewer:{READ_KEY}",
        "airflow_url": "http://airflow.test",
        "airflow_password": "secret",
        "callback_secrets": SECRET,
        "callback_allowed_hosts": "hooks.example.com,*.example.org",
        "callback_backoff_initial_seconds": 0.001,
        "callback_backoff_max_seconds": 0.002,
        "replica_id": "replica-a",
    }
    values.update(extra)
    return ControlSettings.model_validate(values)


@dataclass
class Harness:
    plane: ControlPlane
    client: TestClient
    airflow: FakeAirflow
    receiver: Receiver

    def step(self) -> None:
        """One round of the leader's loops: lease, follow Airflow, send due callbacks."""
        self.plane.leadership.tick()
        self.plane.follow_step()
        self.plane.deliver_step()

    def create(self, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
        body.setdefault("config", json.loads((CONFIGS / "iris.json").read_text()))
        return self.client.post(
            "/v1/training-jobs", json=body, headers={"X-API-Key": WRITE_KEY, **(headers or {})}
        )

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.client.get(f"/v1/training-jobs/{job_id}", headers={"X-API-Key": READ_KEY})
        assert response.status_code == 200, response.text
        return response.json()

    def run_id(self, job_id: str) -> str:
        return f"control-{job_id}"

    def succeed(self, job_id: str, version: str = "3") -> None:
        run = self.run_id(job_id)
        for task in SUCCESS_TASKS:
            xcom: dict[str, Any] = {}
            if task == "train":
                xcom["return_value"] = TRAINED
            if task == "register":
                xcom["return_value"] = {"name": "iris", "version": version, "status": "READY"}
            if task == "summary":
                xcom["return_value"] = {"version": version, "alias": "challenger", "verified": "1 replica(s)"}
            self.airflow.set_task(DAG, run, task, "success", **xcom)
        self.airflow.set_run(DAG, run, "success")

    def events(self, path: str = "/v1/events", headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """The stored events of an SSE stream (follow=false), parsed."""
        separator = "&" if "?" in path else "?"
        with self.client.stream(
            "GET", f"{path}{separator}follow=false", headers={"X-API-Key": READ_KEY, **(headers or {})}
        ) as response:
            assert response.status_code == 200, response.read()
            text = response.read().decode()
        return parse_sse(text)


def make_harness(tmp_path: Path, airflow: FakeAirflow | None = None, **extra: Any) -> Harness:
    airflow = airflow or FakeAirflow()
    receiver = Receiver()
    settings = control_settings(tmp_path, **extra)
    plane = ControlPlane(settings, airflow.transport(), httpx.MockTransport(receiver.handle))
    plane.event_poll_seconds = 0.01
    client = TestClient(build_app(settings, plane, background=False))
    return Harness(plane, client, airflow, receiver)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = make_harness(tmp_path)
    with h.client:
        yield h
