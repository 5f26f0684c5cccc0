"""State store: rollout records by compare-and-set, controller leases, replica rows, event and audit logs."""

from __future__ import annotations

from serving.record import RolloutRecord
from serving.store import Store


def _store(tmp_path, replica="r1") -> Store:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}", replica)
    store.create()
    return store


def test_a_record_is_created_once_and_compare_and_set_lets_one_writer_win(tmp_path):
    store = _store(tmp_path)
    first = store.init(RolloutRecord("iris", {"champion": 90, "challenger": 10}))
    again = store.init(RolloutRecord("iris", {"champion": 50, "challenger": 50}))
    assert first.revision == again.revision == 1 and again.weights == {"champion": 90, "challenger": 10}

    one, two = first.copy(), first.copy()
    one.aliases["champion"] = "2"
    two.aliases["champion"] = "3"
    assert store.write(one) == 2
    assert store.write(two) is None  # read revision 1, but 2 is stored now
    stored = _store(tmp_path, "r2").read("iris")
    assert stored.aliases == {"champion": "2"} and stored.revision == 2
    assert store.revisions() == {"iris": 2}
    assert store.read("nope") is None


def test_the_lease_has_one_holder_and_a_new_term_for_each_new_holder(tmp_path):
    one, two = _store(tmp_path, "r1"), _store(tmp_path, "r2")
    assert one.acquire_lease("r1", 10, now=100.0) == 1
    assert two.acquire_lease("r2", 10, now=105.0) is None
    assert one.acquire_lease("r1", 10, now=108.0) == 1  # renewal keeps the term
    assert two.acquire_lease("r2", 10, now=117.0) is None
    assert two.acquire_lease("r2", 10, now=118.5) == 2  # r1 did not renew: r2 takes over
    assert one.acquire_lease("r1", 10, now=119.0) is None
    two.release_lease("r2")
    assert one.acquire_lease("r1", 10, now=119.5) == 3  # a clean hand-over needs no wait
    assert one.lease_holders()["controller"]["holder"] == "r1"


def test_replica_rows_and_the_event_log_with_its_audit_entries(tmp_path):
    one, two = _store(tmp_path, "r1"), _store(tmp_path, "r2")
    one.heartbeat(1.0, {"models": {"iris": {"versions": {"champion": "1"}}}}, now=10.0)
    rows = two.heartbeat(2.0, {"models": {"iris": {"versions": {"champion": "2"}}}}, now=11.0)
    assert [(r["replica"], r["state"]["models"]["iris"]["versions"]) for r in rows] == [
        ("r1", {"champion": "1"}),
        ("r2", {"champion": "2"}),
    ]
    two.forget_replica()
    assert [r["replica"] for r in one.heartbeat(1.0, {}, now=12.0)] == ["r1"]

    item = {"type": "traffic", "model": "iris", "at": 1.0, "replica": "r1", "data": {"weights": {"a": 100}}}
    audited = {**item, "audit": {"action": "traffic", "ok": True, "actor": "tester", "detail": item["data"]}}
    ids = one.append([audited, {**item, "type": "reload_failed"}])
    assert ids == sorted(ids) and len(ids) == 2
    assert [e["type"] for e in two.events_after(0)] == ["traffic", "reload_failed"]
    assert [e["id"] for e in two.events_after(ids[0])] == [ids[1]]
    assert [e["type"] for e in two.recent_events(1)] == ["reload_failed"]
    entry = one.audit_log("iris")[0]
    assert (entry["action"], entry["actor"], entry["ok"], entry["detail"]) == (
        "traffic",
        "tester",
        True,
        {"weights": {"a": 100}},
    )
    one.trim_events(keep=1)
    assert [e["id"] for e in one.events_after(0)] == [ids[1]]
