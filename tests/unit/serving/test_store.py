"""State store: defaults on first start, revisions, compare-and-set, alias moves for rollback, heartbeats."""

from __future__ import annotations

from serving.store import Store


def _store(tmp_path, replica="r1") -> Store:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}", replica)
    store.create()
    return store


def test_state_is_created_once_and_changes_bump_the_revision(tmp_path):
    store = _store(tmp_path)
    first = store.ensure_model("iris", {"champion": 90, "challenger": 10}, None)
    assert first.weights == {"champion": 90, "challenger": 10} and first.canary_status == "idle"
    again = store.ensure_model("iris", {"champion": 50, "challenger": 50}, None)
    assert again.weights == first.weights and again.revision == first.revision
    revision = store.update("iris", weights={"champion": 75, "challenger": 25})
    assert revision == first.revision + 1
    assert store.revisions() == {"iris": revision}
    other = _store(tmp_path, "r2")
    assert other.read("iris").weights == {"champion": 75, "challenger": 25}


def test_compare_and_set_lets_one_replica_win(tmp_path):
    store = _store(tmp_path)
    store.ensure_model("iris", {"a": 100}, None)
    expected = {"canary_status": "idle", "canary_step": 0}
    assert store.update_if("iris", expected, canary_status="running", canary_step=0) is not None
    assert store.update_if("iris", expected, canary_status="running", canary_step=1) is None
    assert store.read("iris").canary_step == 0


def test_alias_moves_are_recorded_and_rolled_back_in_order(tmp_path):
    store = _store(tmp_path)
    store.ensure_model("iris", {"a": 100}, None)
    store.set_alias_version("iris", "champion", "1", None, "reload")
    store.set_alias_version("iris", "champion", "2", "1", "promote")
    store.set_alias_version("iris", "challenger", "3", "2", None)
    assert store.read("iris").aliases == {"champion": "2", "challenger": "3"}
    move = store.last_move("iris")
    assert (move.alias, move.from_version, move.to_version, move.kind) == ("champion", "1", "2", "promote")
    store.mark_rolled_back(move.id)
    earlier = store.last_move("iris")
    assert (earlier.from_version, earlier.to_version) == (None, "1")
    assert store.last_move("iris", "challenger") is None


def test_heartbeats_and_audit(tmp_path):
    one, two = _store(tmp_path, "r1"), _store(tmp_path, "r2")
    one.heartbeat(1.0, {"iris": {"champion": "1"}})
    two.heartbeat(2.0, {"iris": {"champion": "2"}})
    one.heartbeat(1.0, {"iris": {"champion": "2"}})
    assert [(r["replica"], r["versions"]) for r in one.replicas("iris")] == [
        ("r1", {"champion": "2"}),
        ("r2", {"champion": "2"}),
    ]
    two.forget_replica()
    assert [r["replica"] for r in one.replicas("iris")] == ["r1"]
    one.audit("traffic", "iris", True, "tester", {"weights": {"a": 100}})
    entry = one.audit_log("iris")[0]
    assert (entry["action"], entry["actor"], entry["ok"], entry["detail"]) == (
        "traffic",
        "tester",
        True,
        {"weights": {"a": 100}},
    )
