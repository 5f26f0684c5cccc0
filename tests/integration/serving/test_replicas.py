"""Two gateway processes on one state store converge on versions and weights."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.serving.conftest import MODEL
from tests.integration.serving.support import wait_for


def _versions(gateway) -> dict[str, str | None]:
    return {v["name"]: v["version"] for v in gateway.status("iris")["variants"]}


def _state_url(store: str, request, tmp_path) -> str:
    if store == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    from ops.local.stack.services import serving_state_url

    # the full stack's PostgreSQL (database `serving`), as in production
    return serving_state_url(request.getfixturevalue("full_stack").settings)


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgresql", marks=pytest.mark.full)])
def test_two_gateways_on_one_store_converge(store, versions, gateways, tmp_path, request):
    versions.set_alias("t-rep-a", versions.v_a)
    versions.set_alias("t-rep-b", versions.v_a)
    config = {
        "resolve_interval_seconds": 600,  # convergence must come from the store, not from re-resolving
        "models": [
            {
                "name": "iris",
                "registered_model": MODEL,
                "strategy": "ab",
                "variants": [
                    {"name": "a", "alias": "t-rep-a", "weight": 50},
                    {"name": "b", "alias": "t-rep-b", "weight": 50},
                ],
            }
        ],
    }
    state = _state_url(store, request, tmp_path)
    # replica ids are unique per test so a shared PostgreSQL keeps other runs' heartbeats apart
    run = uuid.uuid4().hex[:8]
    one = gateways(
        config,
        versions.tracking_uri,
        state_url=state,
        folder=tmp_path / "one",
        env={"SERVING_REPLICA_ID": f"one-{run}"},
    )
    two = gateways(
        config,
        versions.tracking_uri,
        state_url=state,
        folder=tmp_path / "two",
        env={"SERVING_REPLICA_ID": f"two-{run}"},
    )
    one.wait_ready()
    two.wait_ready()

    versions.set_alias("t-rep-b", versions.v_b)
    assert one.reload("t-rep-b").json()["version"] == versions.v_b
    wait_for(lambda: _versions(two)["b"] == versions.v_b, 30, what="replica two loading the new version")
    assert (
        two.predict("iris", **{"X-Variant": "b", "X-API-Key": two.key}).headers["x-model-version"]
        == versions.v_b
    )

    answer = two.client.put(
        "/v1/models/iris/traffic", json={"weights": {"a": 80, "b": 20}}, headers=two.admin
    )
    assert answer.status_code == 200, answer.text
    wait_for(
        lambda: one.status("iris")["weights"] == {"a": 80, "b": 20}, 30, what="replica one taking the weights"
    )

    expected = {"a": versions.v_a, "b": versions.v_b}

    def both_replicas_report() -> bool:
        replicas = one.status("iris")["replicas"]
        return len(replicas) == 2 and all(r["versions"] == expected and r["alive"] for r in replicas)

    wait_for(both_replicas_report, 30, what="both replicas reporting their loaded versions")
    ids = {r["replica_id"] for r in two.status("iris")["replicas"]}
    assert ids == {one.env["SERVING_REPLICA_ID"], two.env["SERVING_REPLICA_ID"]}
