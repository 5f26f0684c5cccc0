"""Two gateway processes on one state store converge on versions and weights."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.integration.serving.conftest import MODEL, single
from tests.integration.serving.support import wait_for


def _versions(gateway) -> dict[str, str | None]:
    return {v["name"]: v["version"] for v in gateway.status("iris")["variants"]}


def _ab(a: str, b: str) -> dict:
    """One model, variants `a` and `b` on these aliases, 50/50."""
    variants = [{"name": "a", "alias": a, "weight": 50}, {"name": "b", "alias": b, "weight": 50}]
    return {"models": [{"name": "iris", "registered_model": MODEL, "strategy": "ab", "variants": variants}]}


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
    # convergence must come from the store, not from re-resolving
    config = {"resolve_interval_seconds": 600, **_ab("t-rep-a", "t-rep-b")}
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


def _sse(url: str, headers: dict[str, str] | None = None, params: dict | None = None) -> list[dict]:
    """Collect Server-Sent Events (parsed data) in a background thread; the list fills as they come."""
    import json
    import threading

    import httpx

    seen: list[dict] = []

    def read() -> None:
        try:
            with httpx.stream("GET", f"{url}/v1/events", headers=headers, params=params, timeout=None) as r:
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        seen.append(json.loads(line.removeprefix("data: ")))
        except httpx.HTTPError:
            return

    threading.Thread(target=read, daemon=True).start()
    return seen


def test_the_event_stream_shows_every_replica_and_resumes(versions, gateways, tmp_path):
    """`/v1/events` streams the store's event log: what one replica did shows on another's stream, and
    `Last-Event-ID` resumes after the last event a client saw."""
    versions.set_alias("t-ev-a", versions.v_a)
    versions.set_alias("t-ev-b", versions.v_a)
    config = _ab("t-ev-a", "t-ev-b")
    state = f"sqlite:///{tmp_path / 'shared.db'}"
    one = gateways(config, versions.tracking_uri, state_url=state, folder=tmp_path / "one")
    two = gateways(config, versions.tracking_uri, state_url=state, folder=tmp_path / "two")
    one.wait_ready()
    two.wait_ready()
    on_two = _sse(two.url, params={"types": "traffic"})
    time.sleep(1)  # the stream is connected
    for weights in ({"a": 70, "b": 30}, {"a": 60, "b": 40}):
        answer = one.client.put("/v1/models/iris/traffic", json={"weights": weights}, headers=one.admin)
        assert answer.status_code == 200, answer.text
    wait_for(lambda: len(on_two) >= 2, 30, what="replica one's events on replica two's stream")
    assert [e["weights"] for e in on_two[:2]] == [{"a": 70, "b": 30}, {"a": 60, "b": 40}]
    assert {e["replica"] for e in on_two} == {one.env["SERVING_REPLICA_ID"]}
    resumed = _sse(two.url, headers={"Last-Event-ID": str(on_two[0]["id"])}, params={"types": "traffic"})
    wait_for(lambda: resumed, 30, what="the resumed stream")
    assert resumed[0]["id"] == on_two[1]["id"]


def test_a_replica_starts_without_the_store_from_its_cached_state(versions, gateways, tmp_path):
    """A replica that cannot reach the store starts from the last state it cached, serves, stays Ready
    with `degraded` in /readyz's body, and refuses admin changes (503) until the store is back."""
    versions.set_alias("t-nostore", versions.v_a)
    folder = tmp_path / "pod"
    store_dir = tmp_path / "store"
    state = f"sqlite:///{store_dir / 'state.db'}"
    first = gateways(single("t-nostore"), versions.tracking_uri, state_url=state, folder=folder)
    first.wait_ready()
    versions.set_alias("t-nostore", versions.v_b)
    assert first.reload("t-nostore").json()["version"] == versions.v_b
    first.stop()

    store_dir.rename(tmp_path / "store-away")  # the store is gone: its path cannot even be created
    store_dir.write_text("not a directory")
    versions.set_alias("t-nostore", versions.v_a)  # MLflow moved on meanwhile
    again = gateways(single("t-nostore"), versions.tracking_uri, state_url=state, folder=folder)
    again.wait_ready()
    ready = again.client.get("/readyz").json()
    assert ready["ready"] is True and ready["degraded"] is True, ready
    assert again.predict("iris").headers["x-model-version"] == versions.v_b  # the last known fleet state
    refused = again.reload("t-nostore")
    assert refused.status_code == 503 and "state store unavailable" in refused.json()["message"]

    store_dir.unlink()
    (tmp_path / "store-away").rename(store_dir)
    wait_for(lambda: not again.client.get("/readyz").json()["degraded"], 30, what="the store back")
    # the leader notices the alias MLflow moved while the store was away, and the replica follows
    wait_for(
        lambda: again.predict("iris").headers["x-model-version"] == versions.v_a, 60, what="MLflow's move"
    )
    moved = [e for e in again.audit("iris") if e["action"] == "alias_moved"]
    assert moved and moved[0]["detail"]["to_version"] == versions.v_a
