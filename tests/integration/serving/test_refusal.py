"""A version pyfunc cannot run (fitted on [a, b], signature [b, a]) is refused at load, on every replica.

At start the model waits (predict 503, `/readyz` says why); on a reload, every replica keeps serving
the previous version, and `GET /v1/models/{m}` says why the new one was refused, with both column lists.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from tests.integration.serving.corpus import log_a_b
from tests.integration.serving.support import wait_for

NAME = "rf-a-b"
BOTH_LISTS = ("['b', 'a']", "['a', 'b']")


def _single(name: str, alias: str) -> dict[str, Any]:
    return {
        "name": name,
        "registered_model": NAME,
        "strategy": "single",
        "variants": [{"name": "main", "alias": alias, "weight": 100}],
    }


@pytest.fixture(scope="module")
def a_b_versions(mlflow_stack: Any) -> tuple[str, str]:
    """(good, refused) versions of `rf-a-b`: the same fit, logged with the fit's and the reverse order."""
    good = log_a_b(mlflow_stack.tracking_uri, NAME, ("a", "b"))
    refused = log_a_b(mlflow_stack.tracking_uri, NAME, ("b", "a"))
    return good, refused


def test_a_version_pyfunc_cannot_run_is_refused_and_every_replica_keeps_the_previous(
    a_b_versions, mlflow_stack, gateways, tmp_path
):
    import mlflow.pyfunc
    from mlflow.tracking import MlflowClient

    good, refused = a_b_versions
    uri = mlflow_stack.tracking_uri
    registry = MlflowClient(tracking_uri=uri, registry_uri=uri)
    mlflow.set_tracking_uri(uri)
    with pytest.raises(ValueError, match="same order"):  # what the old fast path answered 29 for, with a 200
        mlflow.pyfunc.load_model(f"models:/{NAME}/{refused}").predict(pd.DataFrame({"a": [2.0], "b": [1.0]}))
    expected = mlflow.pyfunc.load_model(f"models:/{NAME}/{good}").predict(
        pd.DataFrame({"a": [2.0], "b": [1.0]})
    )
    registry.set_registered_model_alias(NAME, "rf-champion", good)
    registry.set_registered_model_alias(NAME, "rf-fresh", refused)
    config = {"models": [_single("ab", "rf-champion"), _single("fresh", "rf-fresh")]}
    state = f"sqlite:///{tmp_path / 'shared.db'}"
    replicas = [  # started together, waited for together: two imports of MLflow on a busy machine
        gateways(config, uri, state_url=state, folder=tmp_path / name, wait_healthy=False)
        for name in ("one", "two")
    ]
    body = {"dataframe_records": [{"a": 2.0, "b": 1.0}]}

    def serving(gateway: Any) -> bool:
        return gateway.status("ab")["variants"][0]["version"] == good

    for gateway in replicas:
        wait_for(lambda g=gateway: serving(g), 300, what="the good version loaded")
        fresh = gateway.client.post("/v1/models/fresh/predict", json=body)
        assert fresh.status_code == 503, fresh.text
        missing = wait_for(
            lambda g=gateway: [m for m in g.client.get("/readyz").json()["missing"] if BOTH_LISTS[0] in m],
            60,
            what="/readyz naming the refused version's columns",
        )
        assert missing[0].startswith("fresh/main") and BOTH_LISTS[1] in missing[0], missing

    registry.set_registered_model_alias(NAME, "rf-champion", refused)
    answer = replicas[0].reload("rf-champion", model="ab")
    assert answer.status_code == 503 and all(part in answer.json()["message"] for part in BOTH_LISTS), (
        answer.text
    )
    for gateway in replicas:  # the second finds the new version by re-resolving: it refuses it too
        variant = wait_for(
            lambda g=gateway: (v := g.status("ab")["variants"][0])["last_error"] and v, 60, what="last_error"
        )
        assert variant["version"] == good and all(part in variant["last_error"] for part in BOTH_LISTS)
        predicted = gateway.client.post("/v1/models/ab/predict", json=body)
        assert predicted.status_code == 200 and predicted.headers["x-model-version"] == good
        assert predicted.json()["predictions"] == expected.tolist()
