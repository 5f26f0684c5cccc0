"""Shadow agreement, blue-green switch with preview pinning, and the protocol surfaces on a real model."""

from __future__ import annotations

import re

from tests.integration.serving.conftest import MODEL
from tests.integration.serving.support import ROW, iris_body, wait_for

COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def test_shadow_gets_copies_and_reports_agreement(versions, gateways):
    versions.set_alias("t-shadow-main", versions.v_a)
    versions.set_alias("t-shadow-copy", versions.v_a)
    config = {
        "models": [
            {
                "name": "iris",
                "registered_model": MODEL,
                "strategy": "shadow",
                "variants": [
                    {"name": "main", "alias": "t-shadow-main", "weight": 100},
                    {"name": "copy", "alias": "t-shadow-copy", "shadow": True},
                ],
            }
        ]
    }
    gateway = gateways(config, versions.tracking_uri)
    gateway.wait_ready()
    for i in range(30):
        answer = gateway.predict("iris", [5.0 + i / 10, 3.0, 1.5 + i / 8, 0.2 + i / 20])
        assert answer.status_code == 200 and answer.headers["x-model-variant"] == "main"
    shadow = wait_for(
        lambda: (s := gateway.status("iris")["shadow"]["copy"])["compared_requests"] >= 30 and s,
        30,
        what="shadow comparisons",
    )
    assert shadow["agreement"] == 1.0 and shadow["dropped"] == 0 and shadow["errors"] == 0
    assert shadow["shadow_mean_ms"] is not None and shadow["primary_mean_ms"] is not None
    metrics = gateway.client.get("/metrics").text
    assert re.search(r'serving_shadow_agreement_ratio\{model="iris",variant="copy"\} 1\.0', metrics)
    main = next(v for v in gateway.status("iris")["variants"] if v["name"] == "main")
    assert main["requests"] == 30


def test_bluegreen_switch_and_preview_pin(versions, gateways):
    versions.set_alias("t-blue", versions.v_a)
    versions.set_alias("t-green", versions.v_b)
    config = {
        "models": [
            {
                "name": "iris",
                "registered_model": MODEL,
                "strategy": "bluegreen",
                "variants": [{"name": "blue", "alias": "t-blue"}, {"name": "green", "alias": "t-green"}],
                "bluegreen": {"active": "blue", "preview": "green"},
            }
        ]
    }
    gateway = gateways(config, versions.tracking_uri)
    gateway.wait_ready()
    assert {gateway.predict("iris").headers["x-model-version"] for _ in range(10)} == {versions.v_a}
    assert gateway.predict("iris", **{"X-Variant": "green"}).status_code == 401
    pinned = gateway.predict("iris", **{"X-Variant": "green", "X-API-Key": gateway.key})
    assert pinned.headers["x-model-version"] == versions.v_b

    answer = gateway.client.post("/v1/models/iris/switch", headers=gateway.admin)
    assert answer.status_code == 200 and answer.json()["active"] == "green"
    assert {gateway.predict("iris").headers["x-model-version"] for _ in range(10)} == {versions.v_b}
    status = gateway.status("iris")
    assert status["bluegreen"] == {"active": "green", "preview": "blue"}
    assert {v["name"]: v["version"] for v in status["variants"]} == {
        "blue": versions.v_a,
        "green": versions.v_b,
    }


def test_protocols_and_errors_on_a_loaded_model(versions, gateways):
    versions.set_alias("t-proto", versions.v_a)
    config = {
        "models": [
            {
                "name": "iris",
                "registered_model": MODEL,
                "strategy": "single",
                "variants": [{"name": "main", "alias": "t-proto", "weight": 100}],
            }
        ]
    }
    gateway = gateways(config, versions.tracking_uri)
    gateway.wait_ready()
    client = gateway.client
    split = {"dataframe_split": {"columns": COLUMNS[::-1], "data": [ROW[::-1], [2.3, 5.2, 3.0, 6.7]]}}
    records = {
        "dataframe_records": [
            dict(zip(COLUMNS, ROW, strict=True)),
            dict(zip(COLUMNS, [6.7, 3.0, 5.2, 2.3], strict=True)),
        ]
    }
    by_format = [
        client.post("/invocations", json=body).json()["predictions"]
        for body in (
            split,
            records,
            {"instances": records["dataframe_records"]},
            {"inputs": {c: [ROW[i], [6.7, 3.0, 5.2, 2.3][i]] for i, c in enumerate(COLUMNS)}},
        )
    ]
    assert all(p == by_format[0] for p in by_format) and len(by_format[0]) == 2

    v1 = client.post("/v1/models/iris/predict", json=iris_body())
    assert v1.json() == {
        "model": "iris",
        "variant": "main",
        "version": versions.v_a,
        "predictions": by_format[0][:1],
    }
    assert v1.headers["x-model-variant"] == "main" and v1.headers["x-model-version"] == versions.v_a

    infer = client.post(
        "/v2/models/iris/infer",
        json={"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ROW}]},
    )
    assert infer.status_code == 200 and infer.json()["outputs"][0]["data"] == by_format[0][:1]
    per_column = {
        "inputs": [
            {"name": c, "shape": [1], "datatype": "FP64", "data": [ROW[i]]} for i, c in enumerate(COLUMNS)
        ]
    }
    assert (
        client.post("/v2/models/iris/infer", json=per_column).json()["outputs"][0]["data"] == by_format[0][:1]
    )
    meta = client.get("/v2/models/iris").json()
    assert [i["name"] for i in meta["inputs"]] == COLUMNS and meta["inputs"][0]["datatype"] == "FP64"
    assert client.get("/v2/models/iris/ready").status_code == 200
    assert client.get("/v2/health/ready").status_code == 200

    cases = [
        (client.post("/v1/models/iris/predict", json={"instances": [[1, 2, 3]]}), 400, "missing inputs"),
        (
            client.post("/v1/models/iris/predict", json={"dataframe_records": [{"x": 1}]}),
            400,
            "missing inputs",
        ),
        (client.post("/v1/models/iris/predict", json={"rows": []}), 400, "exactly one of"),
        (client.post("/v1/models/iris/predict", content=b"{not json"), 400, "not valid JSON"),
        (client.post("/v1/models/nope/predict", json=iris_body()), 404, "nope"),
        (client.post("/v1/models/iris/predict", content=b"[" + b"1," * 600_000 + b"1]"), 413, "limit"),
        (client.post("/variant/t-proto/reload"), 401, "X-API-Key"),
        (
            client.put("/v1/models/iris/traffic", json={"weights": {"main": 90}}, headers=gateway.admin),
            422,
            "sum to 100",
        ),
    ]
    for response, status, text in cases:
        assert response.status_code == status, response.text
        assert text in response.json()["message"]

    metrics = client.get("/metrics").text
    assert re.search(
        rf'serving_requests_total{{model="iris",variant="main",version="{versions.v_a}"}} [1-9]', metrics
    )
    assert "serving_request_seconds_bucket" in metrics and "serving_model_load_seconds" in metrics
