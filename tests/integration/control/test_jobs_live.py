"""A training job through the control API against the real local Airflow, MLflow and gateway, with two
control replicas on one database: the job trains, registers and serves a new version; the replica that
follows it is killed with -9 mid-run and started again; the callback receiver is down for 30 s after
the first attempt; an SSE reader fails over between replicas with Last-Event-ID. Nothing is lost: the
job, every event (once, in order), and the callback (once, signed and verifiable)."""

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from control.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, SignatureError, verify
from tests.integration.control.conftest import Control, EventReader, Receiver, wait_for
from tests.support.sse import parse_sse

CONFIG = json.loads((Path(__file__).resolve().parents[3] / "trainer" / "configs" / "iris.json").read_text())
DAG = "ml_train_register_and_reload"
RECEIVER_DOWN_SECONDS = 30.0


def runs_of(control: Control, job_id: str) -> list[str]:
    client = control.running.airflow()
    return [run.run_id for run in client.runs(DAG, run_id_prefix=f"control-{job_id}")]


@pytest.fixture(scope="module")
def scenario(control: Control) -> dict[str, Any]:
    receiver = Receiver()
    out: dict[str, Any] = {"receiver": receiver}
    body = {"config": CONFIG, "alias": "champion", "strategy": "canary", "callback_url": receiver.url}
    key = {"Idempotency-Key": f"live-{time.time_ns()}"}
    created = control.call("POST", "/v1/training-jobs", 1, json=body, headers=key)
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    out["created"], out["job_id"] = created, job_id
    out["replayed"] = control.call("POST", "/v1/training-jobs", 0, json=body, headers=key)

    # kill -9 the replica that follows Airflow while the run is running (an SSE reader is connected to
    # it), then start it again
    wait_for(lambda: control.job(job_id)["state"] == "running", 600, "the job to run")
    leader = control.leader()
    reader = EventReader(control, f"/v1/training-jobs/{job_id}/events", first=control.replicas.index(leader))
    reader.start()
    out["reader"] = reader
    wait_for(lambda: len(reader.events) >= 2, 60, "the SSE reader to receive the stored events")
    events_before = len(reader.events)
    leader.kill9()
    out["killed"], out["events_before_kill"] = leader.name, events_before
    time.sleep(2)
    leader.start()
    wait_for(leader.ready, 120, f"{leader.name} to come back")

    # the receiver is down: once the first attempt has failed, keep it down 30 s more
    def first_attempt() -> dict[str, Any] | None:
        deliveries = control.job(job_id)["callback"]["deliveries"]
        return deliveries[0] if deliveries and deliveries[0]["attempts"] >= 1 else None

    failed = wait_for(first_attempt, 1200, "the first callback attempt", interval=2)
    out["failed_attempt"] = failed
    time.sleep(RECEIVER_DOWN_SECONDS)
    out["attempts_while_down"] = first_attempt()["attempts"]
    receiver.start()
    wait_for(lambda: receiver.received, 120, "the callback once the receiver is back")
    reader.join(timeout=120)
    time.sleep(3)  # anything sent twice would arrive now
    out["job"] = control.job(job_id)
    with httpx.stream(
        "GET",
        f"{control.replicas[0].url}/v1/training-jobs/{job_id}/events?follow=false",
        headers={"X-API-Key": control.key},
        timeout=60,
    ) as response:
        out["stored_stream"] = response.read().decode()
    yield out
    receiver.stop()


def test_the_job_trains_and_serves_a_new_version(control: Control, scenario: dict[str, Any]) -> None:
    job = scenario["job"]
    assert job["state"] == "succeeded", job["error"]
    version = job["registered_version"]
    assert version and job["mlflow"]["run_id"] and job["mlflow"]["metrics"]["accuracy"] > 0.8
    assert job["serving"]["version"] == version and job["serving"]["alias"] == "champion"
    settings = control.running.settings
    mlflow = httpx.get(
        f"{settings.mlflow_uri}/api/2.0/mlflow/registered-models/alias",
        params={"name": "iris", "alias": "champion"},
        timeout=10,
    ).json()
    assert mlflow["model_version"]["version"] == version
    gateway = httpx.get(f"{settings.serving_url}/v1/models/iris", timeout=10).json()
    assert str(gateway["aliases"]["champion"]) == version
    assert {t["task_id"]: t["state"] for t in job["tasks"]}["summary"] == "success"
    assert job["airflow"]["ui_url"].startswith(settings.airflow_url)


def test_a_replayed_idempotency_key_starts_nothing(control: Control, scenario: dict[str, Any]) -> None:
    replayed = scenario["replayed"]
    assert replayed.status_code == 202 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json()["id"] == scenario["job_id"]
    assert runs_of(control, scenario["job_id"]) == [f"control-{scenario['job_id']}"]


def test_the_callback_arrives_once_signed_after_30s_down(control: Control, scenario: dict[str, Any]) -> None:
    failed = scenario["failed_attempt"]
    assert failed["history"][0]["status"] is None and "ConnectError" in failed["history"][0]["error"]
    assert scenario["attempts_while_down"] >= 2  # it kept trying while the receiver was down
    [callback] = scenario["receiver"].received
    body = callback["body"]
    assert verify(control.secret, callback["headers"][SIGNATURE_HEADER], body)
    with pytest.raises(SignatureError):
        verify(b"another secret", callback["headers"][SIGNATURE_HEADER], body)
    payload = json.loads(body)
    assert payload["type"] == "training_job.succeeded" and payload["job"]["id"] == scenario["job_id"]
    assert callback["headers"][EVENT_ID_HEADER] == str(payload["event_id"])
    [delivery] = scenario["job"]["callback"]["deliveries"]
    assert delivery["state"] == "delivered" and delivery["attempts"] == scenario["attempts_while_down"] + 1


def test_kill_9_mid_run_loses_no_job_and_no_event(scenario: dict[str, Any]) -> None:
    stored = parse_sse(scenario["stored_stream"])
    ids = [e["id"] for e in stored]
    assert ids == sorted(set(ids))
    states = [
        e["event"]
        for e in stored
        if e["event"].startswith("training_job.") and e["event"] != "training_job.task"
    ]
    assert states == ["training_job.queued", "training_job.running", "training_job.succeeded"]
    tasks = [
        (e["data"]["data"]["task_id"], e["data"]["data"]["state"])
        for e in stored
        if e["event"] == "training_job.task"
    ]
    assert len(tasks) == len(set(tasks)), "a task change was written twice"
    assert ("summary", "success") in tasks and ("train", "success") in tasks
    assert [e["event"] for e in stored].count("callback.delivered") == 1
    assert scenario["events_before_kill"] >= 2  # the kill came after the run had started


def test_sse_resumes_with_last_event_id_across_replicas(scenario: dict[str, Any]) -> None:
    reader: EventReader = scenario["reader"]
    assert reader.ended.is_set(), "the job's stream did not end after the job settled"
    stored = parse_sse(scenario["stored_stream"])
    assert [e["id"] for e in reader.events] == [e["id"] for e in stored]  # no gap, no repeat
    first, *later = reader.connections
    assert first == (scenario["killed"], None)  # it started on the replica that was killed ...
    assert later and later[0][1] is not None  # ... and resumed elsewhere with Last-Event-ID
