"""Deployments in-process: the control API against a real gateway app (its admin API, its state store on
SQLite, one Git-declared model); MLflow is unreachable, so these tests change no versions (the
integration test does, with two gateway processes on PostgreSQL and the real MLflow)."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from control.app import build_app
from control.plane import ControlPlane
from serving.app import build_api
from serving.config import parse_config
from serving.settings import Settings
from tests.support.fake_airflow import FakeAirflow
from tests.unit.control.conftest import READ_KEY, WRITE_KEY, control_settings

GATEWAY_KEY = "gateway-key"
GIT = {
    "models": [
        {
            "name": "iris",
            "registered_model": "iris",
            "strategy": "ab",
            "variants": [
                {"name": "a", "alias": "champion", "weight": 50},
                {"name": "b", "alias": "challenger", "weight": 50},
            ],
        }
    ]
}
CHURN = {
    "registered_model": "churn",
    "strategy": "single",
    "variants": [{"name": "main", "alias": "champion", "weight": 100}],
}


class Stack:
    def __init__(self, control: TestClient, gateway: TestClient, plane: ControlPlane) -> None:
        self.control, self.gateway, self.plane = control, gateway, plane

    def put(self, model: str, body: dict[str, Any], key: str = WRITE_KEY) -> httpx.Response:
        return self.control.put(f"/v1/deployments/{model}", json=body, headers={"X-API-Key": key})

    def declared(self, model: str) -> httpx.Response:
        return self.gateway.get(f"/v1/fleet/models/{model}", headers={"X-API-Key": GATEWAY_KEY})


class GatewayApp(TestClient):
    """The real gateway app in-process (MLflow unreachable); `forward` serves an httpx MockTransport."""

    def forward(self, request: httpx.Request) -> httpx.Response:
        return self.request(
            request.method, request.url.path, params=request.url.params, content=request.content,
            headers=dict(request.headers),
        )  # fmt: skip


def gateway_app(folder: Path) -> GatewayApp:
    settings = Settings(
        config="unused",
        mlflow_tracking_uri="http://127.0.0.1:9",
        state_url=f"sqlite:///{folder / 'serving.db'}",
        internal_api_key=GATEWAY_KEY,
        replica_id="gateway-1",
        cache_dir=str(folder / "cache"),
    )
    return GatewayApp(build_api(settings, parse_config(GIT)))


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")
    gateway = gateway_app(tmp_path)
    settings = control_settings(
        tmp_path, internal_api_key=GATEWAY_KEY, mlflow_tracking_uri="http://127.0.0.1:9"
    )
    plane = ControlPlane(
        settings, FakeAirflow().transport(), gateway_transport=httpx.MockTransport(gateway.forward)
    )
    control = TestClient(build_app(settings, plane, background=False))
    with gateway, control:
        yield Stack(control, gateway, plane)


def test_a_new_model_joins_the_fleet_and_the_same_request_twice_changes_nothing(stack: Stack) -> None:
    created = stack.put("churn", CHURN)
    assert created.status_code == 202, created.text
    body = created.json()
    assert (body["changed"], body["managed_by"], body["state"]) == (True, "api", "applying")
    declared = stack.declared("churn").json()
    assert declared["managed_by"] == "api" and declared["spec"]["registered_model"] == "churn"
    assert stack.gateway.get("/v1/models/churn").status_code == 200

    again = stack.put("churn", CHURN)
    assert (again.status_code, again.json()["changed"], again.json()["generation"]) == (200, False, 1)

    moved = stack.put("churn", {**CHURN, "registered_model": "churn-v2"})
    assert (moved.status_code, moved.json()["generation"]) == (202, 2)
    assert stack.declared("churn").json()["generation"] == 2

    stack.plane.leadership.tick()
    stack.plane.deploy_step()  # MLflow is down: nothing serves, the deployment stays applying
    read = stack.control.get("/v1/deployments/churn", headers={"X-API-Key": READ_KEY}).json()
    assert read["state"] == "applying" and read["fleet"]["converged"] is False

    deleted = stack.control.delete("/v1/deployments/churn", headers={"X-API-Key": WRITE_KEY})
    assert (deleted.status_code, deleted.json()["state"]) == (200, "deleted")
    assert stack.declared("churn").status_code == 404
    assert stack.gateway.get("/v1/models/churn").status_code == 404


def test_a_git_model_takes_weights_but_not_a_new_shape(stack: Stack) -> None:
    git = {**GIT["models"][0]}
    git.pop("name")
    refused = stack.put("iris", {**git, "strategy": "canary"})
    assert refused.status_code == 409 and "managed by Git" in refused.json()["message"]
    assert refused.json()["field"] == "strategy"
    renamed = {**git, "variants": [{**git["variants"][0], "alias": "other"}, git["variants"][1]]}
    assert stack.put("iris", renamed).json()["field"] == "variants"

    same = stack.put("iris", git)
    assert (same.status_code, same.json()["changed"], same.json()["managed_by"]) == (200, False, "git")
    shifted = {
        **git,
        "variants": [{**git["variants"][0], "weight": 90}, {**git["variants"][1], "weight": 10}],
    }
    answer = stack.put("iris", shifted)
    assert answer.status_code == 202, answer.text
    assert stack.gateway.get("/v1/models/iris").json()["weights"] == {"a": 90, "b": 10}
    gone = stack.control.delete("/v1/deployments/iris", headers={"X-API-Key": WRITE_KEY})
    assert gone.status_code == 409 and "managed by Git" in gone.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**CHURN, "variants": [{"name": "main", "alias": "champion", "weight": 101}]}, "variants.0.weight"),
        ({**CHURN, "variants": [{"name": "main", "alias": "champion", "weight": 40}]}, "weights"),
        ({**CHURN, "strategy": "bluegreen"}, "bluegreen"),
        ({**CHURN, "replicas": 3}, "replicas"),
        ({**CHURN, "canary": {"steps": [50, 10]}, "strategy": "single"}, "steps"),
        ({"strategy": "single", "variants": CHURN["variants"]}, "registered_model"),
    ],
)
def test_a_bad_body_is_a_422_naming_the_field_and_changes_nothing(stack: Stack, body, field) -> None:
    refused = stack.put("churn", body)
    assert refused.status_code == 422, refused.text
    message = refused.json()["message"]
    assert field in message and "\n" not in message
    assert stack.declared("churn").status_code == 404


def test_a_read_key_may_not_deploy(stack: Stack) -> None:
    assert stack.put("churn", CHURN, key=READ_KEY).status_code == 403
    assert stack.declared("churn").status_code == 404
