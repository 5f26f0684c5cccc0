"""Access and error lines of the predict path, as JSON the way `serving.logs` writes them (issue 16 item 5).

In process: the app as `python -m serving` builds it (the raw ASGI fast path in front of FastAPI), one
model version loaded from disk into a variant, no MLflow server."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from loguru import logger
from mlflow.pyfunc import PythonModel

from serving import access, logs
from serving.app import create_app
from serving.config import parse_config
from serving.explore import LogLinks
from serving.model import build_model
from serving.settings import Settings
from tests.support.ports import free_port

CONFIG = {
    "models": [
        {
            "name": "sums",
            "registered_model": "sums",
            "strategy": "ab",
            "variants": [
                {"name": "a", "alias": "champion", "weight": 50},
                {"name": "b", "alias": "challenger", "weight": 50},
            ],
        }
    ]
}
GOOD = {"dataframe_records": [{"a": 1.0, "b": 2.0}]}
NEGATIVE = {"dataframe_records": [{"a": -1.0, "b": 2.0}]}


class Picky(PythonModel):
    """Sums the columns; raises on negative values (a model's own exception, not the client's input)."""

    def predict(self, context, model_input, params=None):
        if (model_input < 0).any().any():
            raise ValueError("negative input: secret model internals")
        return model_input.sum(axis=1).to_numpy()


@contextmanager
def json_lines() -> Iterator[list[dict[str, Any]]]:
    """Every log line, parsed from the JSON that serving.logs' formatter writes."""
    lines: list[dict[str, Any]] = []

    def sink(message: Any) -> None:
        record = message.record
        logs._to_json(record)
        lines.append(orjson.loads(record["extra"]["json"]))

    handler = logger.add(sink, level="DEBUG")
    try:
        yield lines
    finally:
        logger.remove(handler)


@pytest.fixture(scope="module")
def picky_model(tmp_path_factory):
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    path = tmp_path_factory.mktemp("picky") / "model"
    mlflow.pyfunc.save_model(
        path,
        python_model=Picky(),
        signature=ModelSignature(
            Schema([ColSpec("double", "a"), ColSpec("double", "b")]), Schema([ColSpec("double")])
        ),
        input_example=pd.DataFrame({"a": [1.0], "b": [2.0]}),
        pip_requirements=["scikit-learn"],
    )
    return build_model("sums", "3", str(path), time.perf_counter())


@pytest.fixture
def client(tmp_path, picky_model) -> Iterator[TestClient]:
    settings = Settings(
        config="unused",
        mlflow_tracking_uri=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        state_url=f"sqlite:///{tmp_path / 'state.db'}",
        replica_id="unit",
    )
    app = create_app(settings, parse_config(CONFIG))
    with TestClient(app) as client:
        app.app.state.gateway.model("sums").variants["a"].swap(picky_model)
        yield client


def _access(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("event") == "access"]


def test_the_callers_request_id_is_in_the_access_line_and_the_response(client):
    with json_lines() as lines:
        answer = client.post("/v1/models/sums/predict", json=GOOD, headers={"X-Request-ID": "req-7.abc"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-request-id"] == "req-7.abc"
    [line] = _access(lines)
    assert line["request_id"] == "req-7.abc"
    assert (line["model"], line["variant"], line["version"], line["status"]) == ("sums", "a", "3", 200)
    assert line["protocol"] == "v1" and line["level"] == "INFO" and line["duration_ms"] >= 0


def test_without_a_request_id_one_is_generated_and_returned(client):
    with json_lines() as lines:
        answer = client.post("/invocations", json=GOOD, headers={"X-Request-ID": "not a sane id!"})
    rid = answer.headers["x-request-id"]
    assert answer.status_code == 200 and rid != "not a sane id!" and len(rid) == 16
    [line] = _access(lines)
    assert line["request_id"] == rid and line["model"] == "sums" and line["protocol"] == "mlflow"


def test_a_model_exception_is_logged_with_the_request_id_never_returned(client):
    with json_lines() as lines:
        answer = client.post("/v1/models/sums/predict", json=NEGATIVE, headers={"X-Request-ID": "boom-1"})
    assert answer.status_code == 500
    assert "secret model internals" not in answer.text and "boom-1" in answer.json()["message"]
    assert answer.headers["x-model-variant"] == "a" and answer.headers["x-model-version"] == "3"
    [error] = [line for line in lines if line["level"] == "ERROR"]
    assert error["request_id"] == "boom-1" and error["model"] == "sums"
    assert "ValueError: negative input: secret model internals" in error["exception"]
    assert "Traceback" in error["exception"]
    [line] = _access(lines)
    assert (line["request_id"], line["status"], line["variant"], line["version"]) == ("boom-1", 500, "a", "3")
    assert line["level"] == "WARNING"


def test_client_errors_and_refused_bodies_get_an_access_line_too(client):
    with json_lines() as lines:
        unknown = client.post("/v1/models/nope/predict", json=GOOD, headers={"X-Request-ID": "r404"})
        too_big = client.post(
            "/v2/models/sums/infer", content=b"x" * (1024 * 1024 + 1), headers={"X-Request-ID": "r413"}
        )
    assert (unknown.status_code, too_big.status_code) == (404, 413)
    by_id = {line["request_id"]: line for line in _access(lines)}
    assert by_id["r404"]["status"] == 404 and by_id["r404"]["model"] == "nope"
    assert "variant" not in by_id["r404"]  # no variant answered: null fields are left out of the line
    assert by_id["r413"]["status"] == 413 and by_id["r413"]["protocol"] == "v2"
    assert too_big.headers["x-request-id"] == "r413"


@pytest.fixture
def production_logging():
    """serving.logs as `python -m serving` sets it up; loguru's default handler back afterwards."""
    yield logs.setup
    access.write_directly(None)
    logger.remove()
    logger.add(sys.stderr)


def test_after_setup_the_line_goes_straight_to_stdout_in_the_same_shape(
    client, production_logging, capsys, tmp_path
):
    production_logging("INFO", None, "replica-7")
    capsys.readouterr()
    answer = client.post("/v1/models/sums/predict", json=GOOD, headers={"X-Request-ID": "direct-1"})
    lines = [orjson.loads(line) for line in capsys.readouterr().out.splitlines() if '"access"' in line]
    [line] = lines
    assert answer.headers["x-request-id"] == "direct-1"
    assert (line["request_id"], line["replica"], line["logger"], line["level"]) == (
        "direct-1",
        "replica-7",
        "serving.access",
        "INFO",
    )
    assert (line["model"], line["variant"], line["version"], line["status"]) == ("sums", "a", "3", 200)
    # with a LOG_DIR file sink the line goes through loguru, so the file gets it too
    production_logging("INFO", str(tmp_path / "logs"), "replica-7")
    client.post("/v1/models/sums/predict", json=GOOD, headers={"X-Request-ID": "to-file"})
    logger.complete()
    written = "".join(p.read_text() for p in (tmp_path / "logs").glob("*.jsonl"))
    assert '"request_id":"to-file"' in written


def test_the_access_line_can_be_turned_off(tmp_path, picky_model):
    settings = Settings(
        config="unused",
        mlflow_tracking_uri=f"http://127.0.0.1:{free_port()}",
        state_url=f"sqlite:///{tmp_path / 'state.db'}",
        replica_id="unit",
        access_log=False,
    )
    app = create_app(settings, parse_config(CONFIG))
    with TestClient(app) as client, json_lines() as lines:
        app.app.state.gateway.model("sums").variants["a"].swap(picky_model)
        answer = client.post("/v1/models/sums/predict", json=GOOD, headers={"X-Request-ID": "quiet"})
    assert answer.headers["x-request-id"] == "quiet" and not _access(lines)


def test_the_log_level_applies_to_the_direct_line(client, production_logging, capsys):
    production_logging("WARNING", None, "replica-7")  # SERVING_LOG_LEVEL=WARNING: 5xx lines only
    capsys.readouterr()
    client.post("/v1/models/sums/predict", json=GOOD, headers={"X-Request-ID": "ok-1"})
    client.post("/v1/models/sums/predict", json=NEGATIVE, headers={"X-Request-ID": "bad-1"})
    access_lines = [orjson.loads(x) for x in capsys.readouterr().out.splitlines() if '"access"' in x]
    assert [(x["request_id"], x["level"]) for x in access_lines] == [("bad-1", "WARNING")]


def test_the_explore_link_of_a_versions_event_finds_that_versions_exceptions(client):
    """A canary abort's Slack link filters the logs on the model and the canary's version: the lines
    explaining the 5xx (the model's traceback) must carry that version, not only the access line."""
    with json_lines() as lines:
        answer = client.post("/v1/models/sums/predict", json=NEGATIVE, headers={"X-Request-ID": "boom-2"})
    assert answer.status_code == 500
    event = {"type": "canary_abort", "model": "sums", "at": time.time(), "data": {"version": "3"}}
    url = LogLinks("https://grafana.example").for_event(event)
    assert url is not None
    pane = next(iter(json.loads(parse_qs(urlsplit(url).query)["panes"][0]).values()))
    expr = pane["queries"][0]["expr"]
    filters = dict(re.findall(r'\| (\w+)="([^"]*)"', expr.split("| json", 1)[1]))
    assert filters == {"model": "sums", "version": "3"}
    shown = [line for line in lines if all(line.get(k) == v for k, v in filters.items())]
    [error] = [line for line in shown if line["level"] == "ERROR"]
    assert error["request_id"] == "boom-2" and "Traceback" in error["exception"]
    assert error["variant"] == "a"
