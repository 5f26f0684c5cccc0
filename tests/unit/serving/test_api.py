"""HTTP surface without a reachable MLflow: health, readiness, auth, limits and errors as JSON."""

from __future__ import annotations

import gzip

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.config import parse_config
from serving.settings import Settings
from tests.support.ports import free_port

CONFIG = {
    "retry_interval_seconds": 30,
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
    ],
}


def _client(tmp_path, key: str | None = "secret") -> TestClient:
    settings = Settings(
        config="unused",
        mlflow_tracking_uri=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        state_url=f"sqlite:///{tmp_path / 'state.db'}",
        internal_api_key=key,
        replica_id="unit",
    )
    return TestClient(create_app(settings, parse_config(CONFIG)))


@pytest.fixture
def client(tmp_path):
    with _client(tmp_path) as client:
        yield client


def test_healthz_answers_and_readyz_says_what_is_missing(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503
    missing = ready.json()["missing"]
    assert len(missing) == 2 and missing[0].startswith("iris/a (alias champion)")
    assert client.get("/v2/health/ready").status_code == 503
    assert client.get("/v2/health/live").json() == {"live": True}


def test_status_lists_the_model_without_loaded_versions(client):
    status = client.get("/v1/models/iris").json()
    assert status["registered_model"] == "iris" and status["strategy"] == "ab"
    assert status["weights"] == {"a": 50, "b": 50}
    assert [v["version"] for v in status["variants"]] == [None, None]
    assert [m["name"] for m in client.get("/v1/models").json()["models"]] == ["iris"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "text"),
    [
        (
            "post",
            "/v1/models/iris/predict",
            {"json": {"instances": [[1, 2, 3, 4]]}},
            503,
            "no loaded version",
        ),
        ("post", "/v1/models/nope/predict", {"json": {"instances": [[1]]}}, 404, "'nope'"),
        ("get", "/v1/models/nope", {}, 404, "'nope'"),
        ("post", "/v1/models/iris/predict", {"content": b"x" * (1024 * 1024 + 1)}, 413, "limit"),
        ("post", "/v1/models/iris/predict", {"content": b"{"}, 400, "not valid JSON"),
        (
            "post",
            "/invocations",
            {"content": b"a=1", "headers": {"Content-Type": "text/plain"}},
            415,
            "text/csv",
        ),
        (
            "post",
            "/invocations",
            {"content": b'{"inputs": ' + b"[" * 5000 + b"]" * 5000 + b"}"},
            400,
            "nested too deeply",
        ),
        (
            "post",
            "/invocations",
            {"content": b"{}", "headers": {"Content-Type": "application/json; format=pandas-split"}},
            415,
            "'format'",
        ),
        ("post", "/invocations", {"content": b"{}", "headers": {"Content-Encoding": "br"}}, 415, "'br'"),
        (
            "post",
            "/v1/models/iris/predict",
            {"content": gzip.compress(b" " * 5_000_000), "headers": {"Content-Encoding": "gzip"}},
            413,
            "decompressed body exceeds",
        ),
        ("get", "/ping", {}, 503, "no loaded version"),
        ("post", "/variant/champion/reload", {}, 401, "X-API-Key"),
        ("post", "/variant/champion/reload", {"headers": {"X-API-Key": "wrong"}}, 401, "X-API-Key"),
        ("post", "/variant/nobody/reload", {"headers": {"X-API-Key": "secret"}}, 404, "nobody"),
        (
            "post",
            "/v1/models/iris/predict",
            {"json": {"instances": [[1]]}, "headers": {"X-Variant": "a"}},
            401,
            "X-API-Key",
        ),
        (
            "put",
            "/v1/models/iris/traffic",
            {"json": {"weights": {"a": 60, "b": 30}}, "headers": {"X-API-Key": "secret"}},
            422,
            "sum to 100",
        ),
        (
            "put",
            "/v1/models/iris/traffic",
            {"json": {"weights": {"z": 100}}, "headers": {"X-API-Key": "secret"}},
            422,
            "'z'",
        ),
        (
            "put",
            "/v1/models/iris/traffic",
            {"json": {"nope": 1}, "headers": {"X-API-Key": "secret"}},
            422,
            "weights",
        ),
        ("post", "/v1/models/iris/switch", {"headers": {"X-API-Key": "secret"}}, 409, "not bluegreen"),
        (
            "post",
            "/v1/models/iris/rollback",
            {"headers": {"X-API-Key": "secret"}},
            409,
            "nothing to roll back",
        ),
        ("get", "/no/such/route", {}, 404, "Not Found"),
    ],
)
def test_errors_are_json_with_a_message(client, method, path, kwargs, status, text):
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"} and text in body["message"]


def test_traffic_change_is_stored_audited_and_streamed(client):
    answer = client.put(
        "/v1/models/iris/traffic", json={"weights": {"a": 80, "b": 20}}, headers={"X-API-Key": "secret"}
    )
    assert answer.status_code == 200 and answer.json()["previous"] == {"a": 50, "b": 50}
    assert client.get("/v1/models/iris").json()["weights"] == {"a": 80, "b": 20}
    audit = client.get("/v1/audit", headers={"X-API-Key": "secret"}).json()["entries"]
    assert audit[0]["action"] == "traffic" and audit[0]["detail"]["weights"] == {"a": 80, "b": 20}
    with client.stream("GET", "/v1/events?replay=5&types=traffic") as events:
        lines = []
        for line in events.iter_lines():
            lines.append(line)
            if line.startswith("data: "):
                break
    assert "event: traffic" in lines


def test_admin_endpoints_refuse_without_a_configured_key(tmp_path):
    with _client(tmp_path, key=None) as client:
        response = client.post("/variant/champion/reload", headers={"X-API-Key": ""})
        assert response.status_code == 503 and "INTERNAL_API_KEY" in response.json()["message"]


def test_openapi_documents_every_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/models/{model}/predict",
        "/invocations",
        "/v2/models/{model}/infer",
        "/v2/models/{model}",
        "/variant/{alias}/reload",
        "/v1/models/{model}/traffic",
        "/v1/models/{model}/promote",
        "/v1/models/{model}/rollback",
        "/v1/models/{model}/switch",
        "/v1/events",
        "/readyz",
        "/metrics",
    ):
        assert path in paths
    assert "requestBody" in paths["/v1/models/{model}/predict"]["post"]


def test_admin_bodies_have_the_size_limit_too(client):
    response = client.put(
        "/v1/models/iris/traffic", content=b"x" * (1024 * 1024 + 10), headers={"X-API-Key": "secret"}
    )
    assert response.status_code == 413 and "limit" in response.json()["message"]


def test_the_default_config_is_the_packaged_example(monkeypatch):
    from serving.settings import EXAMPLE_CONFIG

    monkeypatch.delenv("SERVING_CONFIG", raising=False)
    assert Settings().config == str(EXAMPLE_CONFIG) and EXAMPLE_CONFIG.is_file()


def test_a_chunked_body_past_the_limit_is_refused_before_auth(client):
    """A chunked PUT to an admin route without a key: 413, not 401 (tests/integration/serving checks
    that the gateway stops reading at the limit)."""

    def chunks():
        for _ in range(20):  # 20 MiB in 1 MiB chunks, no Content-Length
            yield b"x" * (1024 * 1024)

    response = client.put("/v1/models/iris/traffic", content=chunks())
    assert response.status_code == 413, response.text
    assert "limit" in response.json()["message"] and response.headers["x-request-id"]


def test_no_unauthenticated_answer_names_a_uri(client):
    """MLflow is unreachable: the reasons name no URI for callers without the key."""
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = client.get("/v1/models/iris").json()
        if all(v["last_error"] for v in status["variants"]):
            break
        time.sleep(0.2)
    answers = [
        client.get("/readyz"),
        client.get("/v1/models/iris"),
        client.post("/v1/models/iris/predict", json={"inputs": {"a": [1.0]}}),
        client.get("/v2/models/iris"),
        client.get("/ping"),
    ]
    for answer in answers:
        assert "http://" not in answer.text and "127.0.0.1" not in answer.text, answer.text
        assert "unreachable" in answer.text or "no loaded version" in answer.text, answer.text
    admin = client.post("/variant/champion/reload", headers={"X-API-Key": "secret"})
    assert admin.status_code == 503 and "http://127.0.0.1" in admin.json()["message"]


def test_v2_errors_have_the_protocols_shape(client):
    for answer in (
        client.get("/v2/models/nope"),
        client.post("/v2/models/nope/infer", json={"inputs": []}),
        client.post("/v2/models/iris/versions/3/infer", content=b"{"),
        client.get("/v2/models/iris/versions/3/ready"),
    ):
        assert answer.status_code in (400, 404, 503) and set(answer.json()) == {"error"}, answer.text
    assert client.get("/v2").json()["extensions"] == ["binary_tensor_data"]
    assert client.get("/version").text.count(".") == 2


@pytest.mark.parametrize("last_event_id", [str(2**63), "\u00b2", "soon"])
def test_an_event_stream_with_a_bad_last_event_id_is_a_422(client, last_event_id):
    """Defect: `Last-Event-ID: ²` passed `str.isdigit` and broke the stream after its first line; an id
    past the database's integer broke it (SQLite) or silently streamed nothing (PostgreSQL)."""
    answer = client.get("/v1/events", headers={"Last-Event-ID": last_event_id.encode("latin-1")})
    assert answer.status_code == 422 and "Last-Event-ID" in answer.json()["message"]
