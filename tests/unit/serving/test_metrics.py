"""Gateway metrics: end-to-end predict latency by code class, series of versions that left, rollout
counters (canary aborts, rollbacks, gate decisions), the rollout phase and alias convergence."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.fastpath import FastPath
from serving.gateway import Gateway
from serving.model import LoadedModel, build_model
from tests.unit.serving.fleet import Fleet, MemoryRegistry, run

COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
GOOD = {"dataframe_split": {"columns": COLUMNS, "data": [[5.1, 3.5, 1.4, 0.2]]}}
MISFIT = {"dataframe_split": {"columns": ["not a column"], "data": [[1.0]]}}
HTTP = "serving_http_request_duration_seconds"
SINGLE = {
    "resolve_interval_seconds": 600,
    "sync_interval_seconds": 0.5,
    "max_body_bytes": 4096,
    "models": [
        {
            "name": "m",
            "registered_model": "reg",
            "strategy": "single",
            "variants": [{"name": "main", "alias": "champion", "weight": 100}],
        }
    ],
}
AB = {
    "resolve_interval_seconds": 600,
    "sync_interval_seconds": 0.5,
    "models": [
        {
            "name": "m",
            "registered_model": "reg",
            "strategy": "ab",
            "variants": [
                {"name": "a", "alias": "a", "weight": 50},
                {"name": "b", "alias": "b", "weight": 50},
            ],
        }
    ],
}
CANARY = {
    "models": [
        {
            "name": "c",
            "registered_model": "reg-c",
            "strategy": "canary",
            "variants": [
                {"name": "champion", "alias": "champion", "weight": 90},
                {"name": "challenger", "alias": "challenger", "weight": 10},
            ],
            "canary": {
                "steps": [50, 100],
                "interval_seconds": 3,
                "gates": {"min_requests": 6, "max_error_rate": 0.2, "window_seconds": 30},
            },
        }
    ]
}


@pytest.fixture(scope="module")
def iris_path(tmp_path_factory) -> str:
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    frame = load_iris(as_frame=True)
    estimator = LogisticRegression(max_iter=500).fit(frame.data, frame.target)
    path = tmp_path_factory.mktemp("iris") / "model"
    example = frame.data.head(2)
    mlflow.sklearn.save_model(
        estimator,
        path,
        signature=infer_signature(example, estimator.predict(example)),
        input_example=example,
        pip_requirements=["scikit-learn"],
    )
    return str(path)


class IrisRegistry(MemoryRegistry):
    """The in-memory registry, loading a real sklearn model for every version."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def load(self, registered_model: str, version: str) -> LoadedModel:  # type: ignore[override]
        self._check()
        self.loads.append((registered_model, version))
        return build_model(registered_model, version, self.path, time.perf_counter())


def _value(gateway: Gateway, name: str, **labels: str) -> float | None:
    return gateway.metrics.registry.get_sample_value(name, labels)


def _fleet_value(fleet: Fleet, name: str, **labels: str) -> float:
    return sum(_value(g, name, **labels) or 0.0 for g in fleet.replicas.values())


def _series(gateway: Gateway, version: str) -> list[str]:
    """Every exported sample that carries `version=<version>`."""
    found = []
    for family in gateway.metrics.registry.collect():
        for sample in family.samples:
            if sample.labels.get("version") == version:
                found.append(sample.name)
    return found


def _http(gateway: Gateway, model: str, variant: str, version: str, cls: str) -> float | None:
    labels = {"model": model, "variant": variant, "version": version, "code_class": cls}
    return _value(gateway, f"{HTTP}_count", **labels)


def test_predict_requests_are_timed_end_to_end_by_code_class_and_old_versions_leave(tmp_path, iris_path):
    async def scenario() -> None:
        fleet = Fleet(SINGLE, tmp_path)
        fleet.registry = IrisRegistry(iris_path)
        fleet.registry.aliases[("reg", "champion")] = "1"
        gateway = await fleet.start()
        await fleet.step(1.0)
        app = FastPath(None, lambda: gateway, fleet.config.max_body_bytes)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            assert (await client.post("/v1/models/m/predict", json=GOOD)).status_code == 200
            assert (await client.post("/invocations", json=GOOD)).status_code == 200
            assert (await client.post("/v1/models/m/predict", json=MISFIT)).status_code in (400, 422)
            assert (await client.post("/v1/models/nope/predict", json=GOOD)).status_code == 404
            assert (await client.post("/v1/models/m/predict", content=b"x" * 5000)).status_code == 413

            assert _http(gateway, "m", "main", "1", "2xx") == 2
            assert _http(gateway, "m", "main", "1", "4xx") == 1
            assert _http(gateway, "", "", "", "4xx") == 1  # an unknown model: no label of its name
            assert _http(gateway, "m", "", "", "4xx") == 1  # refused before a variant was chosen
            assert _http(gateway, "m", "main", "1", "5xx") == 0  # created with the version, at 0
            # end to end includes the gateway's own time around the model's (2xx and the 4xx answer)
            version_1 = {"model": "m", "variant": "main", "version": "1"}
            answered = sum(
                _value(gateway, f"{HTTP}_sum", **version_1, code_class=c) or 0 for c in ("2xx", "4xx")
            )
            model_time = _value(gateway, "serving_request_seconds_sum", **version_1)
            assert model_time is not None and answered >= model_time > 0

            fleet.registry.aliases[("reg", "champion")] = "2"
            await gateway.admin.reload("champion", "m", "ops")
            await fleet.step(1.0)
            assert (await client.post("/v1/models/m/predict", json=GOOD)).status_code == 200

        assert _series(gateway, "1") == []  # every per-version series of v1 went with it
        assert _value(gateway, "serving_variant_loaded", model="m", variant="main", version="2") == 1
        assert _http(gateway, "m", "main", "2", "2xx") == 1
        assert _value(gateway, "serving_reloads_total", model="m", alias="champion", result="loaded") == 2
        assert _value(gateway, "serving_reloads_total", model="m", alias="champion", result="failed") == 0
        assert _value(gateway, "serving_alias_converged", model="m", alias="champion") == 1
        await fleet.close()

    run(scenario())


def test_a_rollback_is_counted_once_across_the_fleet_and_the_phase_follows_the_record(tmp_path):
    async def scenario() -> None:
        fleet = Fleet(AB, tmp_path)
        fleet.registry.aliases.update({("reg", "a"): "1", ("reg", "b"): "1"})
        one, two = await fleet.start(), await fleet.start()
        await fleet.step(1.0)
        assert _fleet_value(fleet, "serving_rollbacks_total", model="m", alias="a") == 0  # declared at 0
        fleet.registry.aliases[("reg", "a")] = "2"
        await one.admin.reload("a", "m", "ops")
        for _ in range(3):
            await fleet.step(1.0)
        await two.admin.rollback("m", "ops", "a")
        phases = {p: _value(two, "serving_rollout_phase", model="m", phase=p) for p in ("steady", "mlflow")}
        assert phases == {"steady": 0, "mlflow": 1}  # one-hot: the operation's phase
        for _ in range(6):
            await fleet.step(1.0)
        assert fleet.record("m").aliases["a"] == "1" and fleet.record("m").operation is None
        assert _fleet_value(fleet, "serving_rollbacks_total", model="m", alias="a") == 1
        assert _fleet_value(fleet, "serving_rollbacks_total", model="m", alias="b") == 0
        for gateway in (one, two):
            assert _value(gateway, "serving_rollout_phase", model="m", phase="steady") == 1
            assert _value(gateway, "serving_rollout_phase", model="m", phase="converge") == 0
            assert _series(gateway, "2") == []  # v2 left variant a on every replica
        await fleet.close()

    run(scenario())


def _canary_serves(gateway: Gateway, bad: bool) -> None:
    runtime = gateway.models["c"]
    for _ in range(10):
        runtime.variants["challenger"].record(0.002, 500 if bad else 200)
        runtime.variants["champion"].record(0.002, 200)


def test_a_canary_abort_and_the_gate_decisions_are_counted_by_the_leader(tmp_path):
    async def scenario() -> None:
        fleet = Fleet(CANARY, tmp_path)
        fleet.registry.aliases.update({("reg-c", "champion"): "1", ("reg-c", "challenger"): "1"})
        one, two = await fleet.start(), await fleet.start()
        await fleet.step(1.0)
        fleet.registry.aliases[("reg-c", "challenger")] = "2"
        await one.admin.reload("challenger", "c", "ops")
        for _ in range(3):
            await fleet.step(1.0)
        assert fleet.record("c").canary.status == "running"
        assert _fleet_value(fleet, "serving_canary_aborts_total", model="c") == 0
        _canary_serves(one, bad=False)
        await fleet.step(4.0)  # the heartbeats share the windows after the controller's round
        await fleet.step(0.0)
        assert fleet.record("c").canary.step == 1
        assert _fleet_value(fleet, "serving_gate_decisions_total", model="c", decision="advance") == 1
        _canary_serves(two, bad=True)
        for _ in range(3):
            await fleet.step(0.5)
        assert fleet.record("c").canary.status == "aborted"
        assert _fleet_value(fleet, "serving_canary_aborts_total", model="c") == 1
        assert _fleet_value(fleet, "serving_gate_decisions_total", model="c", decision="abort") == 1
        leader = fleet.leaders("c")[0]
        follower = one if leader == two.replica else two
        assert _value(follower, "serving_gate_decisions_total", model="c", decision="abort") == 0
        assert _value(one, "serving_canary_step", model="c") == 1
        await fleet.close()

    run(scenario())


def test_a_model_removed_from_the_replica_leaves_no_series(tmp_path):
    async def scenario() -> None:
        fleet = Fleet(SINGLE, tmp_path)
        fleet.registry.aliases[("reg", "champion")] = "1"
        gateway = await fleet.start()
        await fleet.step(1.0)
        assert _value(gateway, "serving_variant_loaded", model="m", variant="main", version="1") == 1
        gateway.metrics.forget_model("m")
        names: list[Any] = [
            s.name
            for f in gateway.metrics.registry.collect()
            for s in f.samples
            if s.labels.get("model") == "m"
        ]
        assert names == []
        await fleet.close()

    run(scenario())


def test_the_gateway_exports_its_start_time_for_the_rollout_alerts():
    """ServingCanaryAborted and ServingRollback count a series first seen at a value only on a replica
    started in the last 15 minutes (`time() - process_start_time_seconds` of the same target)."""
    from serving.metrics import Metrics

    started = Metrics().registry.get_sample_value("process_start_time_seconds")
    assert started is not None and 0 < started <= time.time()
    rules = (Path(__file__).parents[3] / "observability" / "rules" / "serving.rules.yaml").read_text()
    assert rules.count('process_start_time_seconds{job="gateway"}') == 2
