"""The store under several replicas: the lease and its fencing, event order, idempotency races."""

import json
import threading
from pathlib import Path

import pytest

from control.jobs import JobService, TrainingJobRequest
from control.leader import Leadership
from control.store import Database, LeaseLost, leases
from control.store import events as event_log
from tests.unit.control.conftest import CONFIGS, control_settings


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'control.db'}")
    database.create()
    yield database
    database.close()


def test_one_holder_at_a_time_takeover_after_expiry_and_fencing(db: Database) -> None:
    a, b = Leadership(db, "a", ttl=30), Leadership(db, "b", ttl=30)
    fence_a = a.tick()
    assert fence_a is not None and b.tick() is None
    assert a.tick() == fence_a  # renewal keeps the token
    with db.write() as conn:
        conn.exec_driver_sql("UPDATE control_leases SET expires_at = 0")  # a stalls past its lease
    fence_b = b.tick()
    assert fence_b is not None and fence_b.token == fence_a.token + 1
    with pytest.raises(LeaseLost), db.write(fence_a) as conn:  # the stale holder writes nothing
        event_log.append(conn, "x", {})
    with db.read() as conn:
        assert event_log.last_id(conn) == 0
    assert a.tick() is None
    b.release()
    assert a.tick() is not None  # a clean shutdown hands over at once


def test_a_restarted_replica_with_the_same_id_takes_its_lease_back(db: Database) -> None:
    first = Leadership(db, "pod-0", ttl=30).tick()
    again = Leadership(db, "pod-0", ttl=30).tick()
    assert again is not None and again.token == first.token + 1
    with db.read() as conn:
        assert leases.holder(conn, "control-follower")[0] == "pod-0"


def test_concurrent_creates_with_one_idempotency_key_make_one_job(db: Database, tmp_path: Path) -> None:
    settings = control_settings(tmp_path)
    services = [JobService(settings, Database(db.url)) for _ in range(4)]
    request = TrainingJobRequest(config=json.loads((CONFIGS / "iris.json").read_text()))
    results: list[tuple[dict, bool]] = []
    barrier = threading.Barrier(len(services))

    def create(service: JobService) -> None:
        barrier.wait()
        results.append(service.create(request, "same-key", "t"))

    threads = [threading.Thread(target=create, args=(s,)) for s in services]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({job["id"] for job, _ in results}) == 1
    assert sum(created for _, created in results) == 1


def test_event_ids_increase_in_commit_order_across_writers(db: Database) -> None:
    def write(n: int) -> None:
        other = Database(db.url)
        for i in range(20):
            with other.write() as conn:
                event_log.append(conn, "t", {"writer": n, "i": i})
        other.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.read() as conn:
        stored = event_log.after(conn, 0, limit=1000)
    assert [e.id for e in stored] == list(range(1, 61))
    for n in range(3):
        assert [e.data["i"] for e in stored if e.data["writer"] == n] == list(range(20))
