"""Schemathesis against the control API's own OpenAPI document (in-process, the real app and database,
the in-process Airflow): whatever it sends, no answer is a 5xx, and answers match the document."""

import tempfile
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from control.app import build_app
from control.plane import ControlPlane
from tests.support.fake_airflow import FakeAirflow
from tests.unit.control.conftest import WRITE_KEY, Receiver, control_settings
from tests.unit.control.test_deployments import GATEWAY_KEY, gateway_app

FOLDER = Path(tempfile.mkdtemp(prefix="control-openapi-"))
SETTINGS = control_settings(FOLDER, internal_api_key=GATEWAY_KEY)
AIRFLOW = FakeAirflow()
GATEWAY = gateway_app(FOLDER).__enter__()  # a real gateway app (SQLite store), for the deployments


def _no_such_version(request: httpx.Request) -> httpx.Response:
    """MLflow knows no model version (deployments that name one are a 422)."""
    return httpx.Response(404, json={"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "not found"})


PLANE = ControlPlane(
    SETTINGS,
    AIRFLOW.transport(),
    httpx.MockTransport(Receiver().handle),
    gateway_transport=httpx.MockTransport(GATEWAY.forward),
    mlflow_transport=httpx.MockTransport(_no_such_version),
)
PLANE.event_poll_seconds = 0.01
PLANE.start(background=False)
APP = build_app(SETTINGS, PLANE, background=False)
APP.state.plane = PLANE


async def started_app(scope: dict, receive: Any, send: Any) -> None:
    """The app with its plane started once for the module (the ASGI client runs lifespan per call)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await APP(scope, receive, send)


schema = schemathesis.openapi.from_asgi("/openapi.json", started_app)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_and_answers_match_the_document(case: schemathesis.Case) -> None:
    if case.path.endswith("/events"):
        case.query = {**(case.query or {}), "follow": "false"}  # a stream that ends
    # Every built-in check, except the two whose premise a test cannot meet here: a valid request may
    # still be refused (a callback host off the allow-list, an Idempotency-Key used before), and the
    # key this test adds makes a request that omits it valid.
    case.call_and_validate(
        headers={"X-API-Key": WRITE_KEY}, excluded_checks=[positive_data_acceptance, negative_data_rejection]
    )


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_without_a_key_or_with_a_wrong_one(case: schemathesis.Case) -> None:
    if case.path.endswith("/events"):
        case.query = {**(case.query or {}), "follow": "false"}
    case.call_and_validate(headers={"X-API-Key": "not-a-key"}, checks=[not_a_server_error])
