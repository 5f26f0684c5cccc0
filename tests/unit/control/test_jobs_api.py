"""Training jobs through the API, in-process: the request's checks and errors, the trigger, the state
machine as Airflow reports progress, the job document, events and callbacks."""

import json
import time
from pathlib import Path

from sqlalchemy import update

from control.jobs import dag_conf
from control.signing import SIGNATURE_HEADER, verify
from control.store.tables import deliveries
from tests.unit.control.conftest import (
    DAG,
    READ_KEY,
    RECEIVER,
    SECRET,
    TRAINED,
    WRITE_KEY,
    Harness,
    make_harness,
)


def test_a_job_is_accepted_triggered_and_followed_to_success(harness: Harness) -> None:
    response = harness.create(callback_url=RECEIVER, alias="challenger")
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["Location"] == f"/v1/training-jobs/{job['id']}"
    assert job["state"] == "queued" and job["model"] == "iris" and job["alias"] == "challenger"
    run_id = f"control-{job['id']}"
    assert harness.airflow.created() == [run_id]  # triggered right after the answer
    conf = harness.airflow.runs[(DAG, run_id)]["conf"]
    assert json.loads(conf["config"])["model_name"] == "iris" and conf["alias"] == "challenger"

    harness.airflow.set_run(DAG, run_id, "running")
    harness.airflow.set_task(DAG, run_id, "validate_conf", "running")
    harness.step()
    assert harness.job(job["id"])["state"] == "running"

    harness.succeed(job["id"], version="7")
    harness.step()
    done = harness.job(job["id"])
    assert done["state"] == "succeeded" and done["error"] is None
    assert done["registered_version"] == "7"
    assert done["mlflow"]["run_id"] == TRAINED["run_id"] and done["mlflow"]["metrics"] == {"accuracy": 0.95}
    assert done["serving"]["version"] == "7"
    assert {t["task_id"]: t["state"] for t in done["tasks"]}["summary"] == "success"
    assert done["airflow"]["ui_url"].endswith(f"/dags/{DAG}/runs/{run_id}")
    assert done["finished_at"] and done["started_at"]

    [delivered] = harness.receiver.received
    assert verify(SECRET.encode(), delivered.headers[SIGNATURE_HEADER], delivered.content)
    body = json.loads(delivered.content)
    assert body["type"] == "training_job.succeeded" and body["job"]["id"] == job["id"]
    assert delivered.headers["X-MLOps-Event-Id"] == str(body["event_id"])
    [delivery] = done["callback"]["deliveries"]
    assert delivery["state"] == "delivered" and delivery["attempts"] == 1

    types = [e["event"] for e in harness.events(f"/v1/training-jobs/{job['id']}/events")]
    assert types[0] == "training_job.queued" and "training_job.running" in types
    assert types.count("training_job.succeeded") == 1 and types[-1] == "callback.delivered"
    harness.step()
    assert len(harness.receiver.received) == 1  # nothing more happens to a finished job


def test_idempotency_key_same_body_same_job_other_body_409(harness: Harness) -> None:
    first = harness.create(headers={"Idempotency-Key": "order-42"})
    again = harness.create(headers={"Idempotency-Key": "order-42"})
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(harness.airflow.created()) == 1
    other = harness.create(headers={"Idempotency-Key": "order-42"}, alias="champion")
    assert other.status_code == 409 and other.json()["field"] == "Idempotency-Key"
    assert len(harness.airflow.created()) == 1


def test_the_config_is_refused_with_the_trainers_line(harness: Harness) -> None:
    config = json.loads((Path(__file__).resolve().parents[3] / "trainer/configs/iris.json").read_text())
    response = harness.create(config={**config, "dataset": "mnist"})
    assert response.status_code == 422
    assert response.json()["message"] == (
        "invalid config: (root): dataset 'mnist' is not valid for task tabular_classification; "
        "use one of ('iris', 'wine', 'breast_cancer')"
    )
    assert response.json()["field"] == "config"
    assert harness.airflow.created() == []


def test_errors_are_json_with_the_right_status(harness: Harness) -> None:
    client = harness.client
    assert client.get("/v1/training-jobs").status_code == 401
    assert client.get("/v1/training-jobs", headers={"X-API-Key": "nope"}).json()["error"] == "unauthorized"
    forbidden = harness.create(headers={"X-API-Key": READ_KEY})
    assert forbidden.status_code == 403 and "may only read" in forbidden.json()["message"]
    missing = client.get("/v1/training-jobs/tj_missing", headers={"X-API-Key": READ_KEY})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    big = client.post(
        "/v1/training-jobs", content=b"{" + b" " * 300_000 + b"}", headers={"X-API-Key": WRITE_KEY}
    )
    assert big.status_code == 413 and big.json()["error"] == "payload_too_large"
    bad_json = client.post("/v1/training-jobs", content=b"{nope", headers={"X-API-Key": WRITE_KEY})
    assert bad_json.status_code == 422
    nan = client.post(
        "/v1/training-jobs",
        content=b'{"config": {}, "quality_threshold": NaN}',
        headers={"X-API-Key": WRITE_KEY, "Content-Type": "application/json"},
    )
    assert nan.status_code == 422
    internal = harness.create(callback_url="http://169.254.169.254/latest/meta-data")
    assert internal.status_code == 422 and "not allowed" in internal.json()["message"]
    assert harness.create(callback_url="https://a.example.org/x").status_code == 202
    assert harness.create(headers={"Idempotency-Key": "bad key"}).status_code == 422


def test_rotated_keys_both_work_until_the_old_one_is_removed(tmp_path: Path) -> None:
    h = make_harness(tmp_path, api_keys=f"old:{WRITE_KEY},new:write-key-2")
    with h.client:
        assert h.create(headers={"X-API-Key": "write-key-2"}).json()["created_by"] == "new"
        assert h.create().json()["created_by"] == "old"


def test_quality_gate_rejection_fails_with_the_metric(harness: Harness) -> None:
    job = harness.create(quality_threshold=0.99).json()
    run = f"control-{job['id']}"
    harness.airflow.set_task(DAG, run, "train", "success", return_value=TRAINED)
    harness.airflow.set_task(DAG, run, "quality_gate", "success")
    harness.airflow.set_task(DAG, run, "register", "skipped")
    harness.airflow.set_run(DAG, run, "success")
    harness.step()
    done = harness.job(job["id"])
    assert done["state"] == "failed"
    assert "quality gate rejected" in done["error"] and "accuracy=0.95" in done["error"]
    assert "threshold 0.99" in done["error"]


def test_a_failed_release_that_rolled_back_says_why(harness: Harness) -> None:
    job = harness.create().json()
    run = f"control-{job['id']}"
    harness.airflow.set_task(DAG, run, "verify", "failed")
    harness.airflow.logs[(DAG, run, "verify")] = [
        {
            "event": "Task failed with exception",
            "level": "error",
            "error_detail": [
                {"exc_type": "RuntimeError", "exc_value": "1 of 2 replicas serve v3", "frames": []}
            ],
        }
    ]
    harness.airflow.set_task(DAG, run, "needs_rollback", "success")
    harness.airflow.set_task(DAG, run, "trigger_rollback_model", "success", trigger_run_id="manual__rb1")
    harness.airflow.set_run(DAG, run, "failed")
    harness.step()
    done = harness.job(job["id"])
    assert done["state"] == "rolled_back"
    assert "verify: RuntimeError: 1 of 2 replicas serve v3" in done["error"]
    assert done["rollback"] == {"dag_id": "rollback_model", "run_id": "manual__rb1", "state": "success"}


def test_airflow_down_at_creation_triggers_later(harness: Harness) -> None:
    harness.airflow.down = True
    job = harness.create().json()
    harness.step()
    assert harness.job(job["id"])["state"] == "queued" and harness.airflow.runs == {}
    harness.airflow.down = False
    harness.step()
    assert harness.airflow.created() == [f"control-{job['id']}"]
    assert harness.job(job["id"])["airflow"]["triggered_at"] is not None


def test_a_run_airflow_refuses_fails_the_job(harness: Harness) -> None:
    harness.airflow.dags.clear()  # the DAG is gone: 404 on trigger, retried during the grace time
    job = harness.create().json()
    harness.step()
    assert harness.job(job["id"])["state"] == "queued"
    with harness.plane.db.write() as conn:
        conn.exec_driver_sql("UPDATE control_jobs SET created_at = created_at - 3600")
    harness.step()
    done = harness.job(job["id"])
    assert done["state"] == "failed" and "Airflow refused to start the run" in done["error"]


def test_callback_retried_with_backoff_until_the_receiver_answers(harness: Harness) -> None:
    harness.receiver.status = 503
    job = harness.create(callback_url=RECEIVER, callback_events="all").json()
    harness.succeed(job["id"])
    for _ in range(3):
        harness.step()
    pending = harness.job(job["id"])["callback"]["deliveries"]
    assert {d["state"] for d in pending} == {"pending"} and pending[0]["attempts"] >= 2
    assert pending[0]["history"][-1]["status"] == 503
    harness.receiver.status = 200
    for _ in range(200):  # past the (tiny, jittered) back-off of the harness
        time.sleep(0.01)
        harness.step()
        if len(harness.receiver.bodies()) >= 2:
            break
    types = [body["type"] for body in harness.receiver.bodies()]
    # Once each, in order: a job's later callback waits while an earlier one is pending (before, the
    # later one went first whenever its jittered back-off ended sooner).
    assert types == ["training_job.queued", "training_job.succeeded"]


def test_sse_resumes_after_last_event_id(harness: Harness) -> None:
    job = harness.create().json()
    harness.succeed(job["id"])
    harness.step()
    everything = harness.events()
    assert [e["id"] for e in everything] == sorted(e["id"] for e in everything)
    middle = everything[len(everything) // 2]["id"]
    resumed = harness.events(headers={"Last-Event-ID": str(middle)})
    assert [e["id"] for e in resumed] == [e["id"] for e in everything if e["id"] > middle]
    assert [e["id"] for e in harness.events(f"/v1/events?after={middle}")] == [e["id"] for e in resumed]
    only = harness.events("/v1/events?types=training_job.succeeded")
    assert [e["event"] for e in only] == ["training_job.succeeded"]
    assert only[0]["data"]["data"]["job"]["state"] == "succeeded"


def test_list_filters_and_pages(harness: Harness) -> None:
    ids = [harness.create().json()["id"] for _ in range(5)]
    page = harness.client.get("/v1/training-jobs?limit=2", headers={"X-API-Key": READ_KEY}).json()
    assert [j["id"] for j in page["jobs"]] == ids[::-1][:2]
    seen = [j["id"] for j in page["jobs"]]
    while page["next_cursor"]:
        page = harness.client.get(
            f"/v1/training-jobs?limit=2&cursor={page['next_cursor']}", headers={"X-API-Key": READ_KEY}
        ).json()
        seen += [j["id"] for j in page["jobs"]]
    assert seen == ids[::-1]
    harness.succeed(ids[0])
    harness.step()
    done = harness.client.get("/v1/training-jobs?state=succeeded&model=iris", headers={"X-API-Key": READ_KEY})
    assert [j["id"] for j in done.json()["jobs"]] == [ids[0]]
    bad = harness.client.get("/v1/training-jobs?state=done", headers={"X-API-Key": READ_KEY})
    assert bad.status_code == 422


def test_dag_conf_carries_the_config_inline() -> None:
    request = {"config": {"model_name": "m"}, "alias": "challenger", "strategy": "ab", "serving_model": None}
    conf = dag_conf(request)
    assert conf == {"alias": "challenger", "strategy": "ab", "config": '{"model_name": "m"}', "overrides": {}}


def test_an_event_id_past_the_database_integer_is_a_422_not_a_500(harness: Harness) -> None:
    """Defect (found by schemathesis): `?after=2**63` reached SQLite and answered 500 (OverflowError)."""
    too_big = str(2**63)
    for kwargs in ({"params": {"after": too_big}}, {"headers": {"Last-Event-ID": too_big}}):
        headers = {"X-API-Key": READ_KEY, **kwargs.get("headers", {})}
        answer = harness.client.get("/v1/events?follow=false", params=kwargs.get("params"), headers=headers)
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] in ("after", "Last-Event-ID")


def test_a_later_callback_of_a_job_waits_for_the_earlier_one(harness: Harness) -> None:
    """A job's `queued` callback is refused and backs off for long; its `succeeded` callback, due at
    once, waits: the receiver never gets them out of order (before, `succeeded` went first)."""
    harness.receiver.status = 503
    job = harness.create(callback_url=RECEIVER, callback_events="all").json()
    harness.step()  # `queued` is attempted and refused
    with harness.plane.db.engine.begin() as conn:  # as if its back-off were an hour
        conn.execute(update(deliveries).values(next_attempt_at=time.time() + 3600))
    harness.succeed(job["id"])
    harness.receiver.status = 200
    for _ in range(3):
        harness.step()
    assert harness.receiver.bodies() == []
    with harness.plane.db.engine.begin() as conn:  # the back-off ends
        conn.execute(update(deliveries).values(next_attempt_at=0))
    for _ in range(3):
        harness.step()
    assert [body["type"] for body in harness.receiver.bodies()] == [
        "training_job.queued",
        "training_job.succeeded",
    ]
