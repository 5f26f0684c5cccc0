"""Reload: restart-free version switch under traffic, collapse of concurrent reloads, MLflow outages."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

from tests.integration.serving.conftest import single
from tests.integration.serving.support import TcpProxy, Traffic, wait_for


def _reload_count(gateway, alias: str) -> float:
    text = gateway.client.get("/metrics").text
    match = re.search(
        rf'serving_reloads_total{{alias="{alias}",model="iris",result="loaded"}} ([0-9.]+)', text
    )
    return float(match.group(1)) if match else 0.0


def test_reload_switches_version_under_traffic_without_failed_requests(versions, gateways):
    versions.set_alias("t-reload", versions.v_a)
    gateway = gateways(single("t-reload"), versions.tracking_uri)
    gateway.wait_ready()
    assert gateway.predict("iris").headers["x-model-version"] == versions.v_a

    with Traffic(gateway, "iris", threads=4) as traffic:
        for target, previous in (
            (versions.v_b, versions.v_a),
            (versions.v_a, versions.v_b),
            (versions.v_b, versions.v_a),
        ):
            versions.set_alias("t-reload", target)
            answer = gateway.reload("t-reload")
            assert answer.status_code == 200, answer.text
            assert answer.json() | {"load_seconds": None} == {
                "model": "iris",
                "alias": "t-reload",
                "previous_version": previous,
                "version": target,
                "changed": True,
                "load_seconds": None,
            }
            seen = traffic.count()
            wait_for(lambda seen=seen: traffic.count() > seen + 20, what="traffic after reload")
    assert traffic.failures == []
    served = {version for _, version in traffic.results}
    assert {versions.v_a, versions.v_b} <= served
    assert gateway.predict("iris").headers["x-model-version"] == versions.v_b

    again = gateway.reload("t-reload").json()
    assert again["changed"] is False and again["version"] == again["previous_version"] == versions.v_b


def test_concurrent_reloads_of_one_alias_load_once(versions, gateways):
    versions.set_alias("t-concurrent", versions.v_a)
    gateway = gateways(single("t-concurrent"), versions.tracking_uri)
    gateway.wait_ready()
    before = _reload_count(gateway, "t-concurrent")
    versions.set_alias("t-concurrent", versions.v_b)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: gateway.reload("t-concurrent", model="iris"), range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert {a.json()["version"] for a in answers} == {versions.v_b}
    assert _reload_count(gateway, "t-concurrent") == before + 1


def test_unknown_alias_and_missing_alias(versions, gateways):
    versions.set_alias("t-unknown", versions.v_a)
    gateway = gateways(single("t-unknown"), versions.tracking_uri)
    gateway.wait_ready()
    answer = gateway.reload("no-such-alias")
    assert answer.status_code == 404 and "no-such-alias" in answer.json()["message"]
    versions.client().delete_registered_model_alias(versions.name, "t-unknown")
    answer = gateway.reload("t-unknown")
    assert answer.status_code == 404 and "does not exist in MLflow" in answer.json()["message"]
    assert gateway.predict("iris").status_code == 200


def test_mlflow_outage_keeps_serving_and_readyz_stays_truthful(versions, gateways, mlflow_stack):
    versions.set_alias("t-outage", versions.v_a)
    proxy = TcpProxy(urlparse(mlflow_stack.tracking_uri).port).start()
    try:
        gateway = gateways(single("t-outage"), f"http://127.0.0.1:{proxy.port}")
        gateway.wait_ready()
        proxy.stop()
        versions.set_alias("t-outage", versions.v_b)
        answer = gateway.reload("t-outage")
        assert answer.status_code == 503, answer.text
        assert "MLflow" in answer.json()["message"]
        predicted = gateway.predict("iris")
        assert predicted.status_code == 200 and predicted.headers["x-model-version"] == versions.v_a
        assert gateway.client.get("/readyz").status_code == 200

        proxy = TcpProxy(proxy.upstream_port)
        proxy.port = int(urlparse(gateway.env["MLFLOW_TRACKING_URI"]).port)
        proxy.start()
        assert gateway.reload("t-outage").json()["version"] == versions.v_b
    finally:
        proxy.stop()


def test_starts_without_mlflow_and_picks_models_up_later(versions, gateways, mlflow_stack):
    versions.set_alias("t-late", versions.v_a)
    proxy = TcpProxy(urlparse(mlflow_stack.tracking_uri).port)
    gateway = gateways(single("t-late"), f"http://127.0.0.1:{proxy.port}")
    try:
        assert gateway.client.get("/healthz").status_code == 200
        ready = gateway.client.get("/readyz")
        assert ready.status_code == 503
        assert "iris/main (alias t-late)" in ready.json()["missing"][0]
        assert gateway.predict("iris").status_code == 503
        proxy.start()
        gateway.wait_ready()
        assert gateway.predict("iris").headers["x-model-version"] == versions.v_a
    finally:
        proxy.stop()
