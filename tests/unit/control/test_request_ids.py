"""Request ids and job/run ids in the control API's JSON log lines (issue 16 item 5), in process."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from loguru import logger

from control.logs import json_line
from tests.unit.control.conftest import DAG, READ_KEY, Harness


@contextmanager
def json_lines() -> Iterator[list[dict[str, Any]]]:
    """Every log line, parsed from the JSON control.logs writes."""
    lines: list[dict[str, Any]] = []
    handler = logger.add(lambda message: lines.append(json.loads(json_line(message.record))), level="DEBUG")
    try:
        yield lines
    finally:
        logger.remove(handler)


def test_the_callers_request_id_is_returned_and_on_the_jobs_lines(harness: Harness) -> None:
    with json_lines() as lines:
        response = harness.create(headers={"X-Request-ID": "backend-42"})
    assert response.status_code == 202, response.text
    assert response.headers["x-request-id"] == "backend-42"
    job_id, run_id = response.json()["id"], harness.run_id(response.json()["id"])
    queued = next(line for line in lines if line["message"].startswith(f"job {job_id} queued"))
    started = next(line for line in lines if "started Airflow run" in line["message"])
    for line in (queued, started):
        assert (line["request_id"], line["job_id"], line["run_id"], line["dag_id"]) == (
            "backend-42",
            job_id,
            run_id,
            DAG,
        )
    [access] = [line for line in lines if line.get("event") == "access"]
    assert access["request_id"] == "backend-42" and access["method"] == "POST"
    assert access["path"] == "/v1/training-jobs" and access["status"] == 202 and access["duration_ms"] >= 0


def test_a_missing_or_insane_id_is_replaced_and_errors_carry_one_too(harness: Harness) -> None:
    with json_lines() as lines:
        missing = harness.client.get("/v1/training-jobs/nope", headers={"X-API-Key": READ_KEY})
        insane = harness.client.get("/healthz", headers={"X-Request-ID": "has spaces\tand tabs"})
    assert missing.status_code == 404 and len(missing.headers["x-request-id"]) == 16
    assert insane.headers["x-request-id"] != "has spaces\tand tabs"
    access = {line["path"]: line for line in lines if line.get("event") == "access"}
    assert access["/v1/training-jobs/nope"]["status"] == 404
    assert access["/v1/training-jobs/nope"]["request_id"] == missing.headers["x-request-id"]


def test_the_followers_lines_name_the_job_and_its_run(harness: Harness) -> None:
    job_id = harness.create().json()["id"]
    run_id = harness.run_id(job_id)
    harness.airflow.set_run(DAG, run_id, "running")
    harness.airflow.set_task(DAG, run_id, "validate_conf", "running")
    with json_lines() as lines:
        harness.step()
    moved = next(line for line in lines if line["message"].startswith(f"job {job_id} queued → running"))
    assert (moved["job_id"], moved["run_id"], moved["dag_id"]) == (job_id, run_id, DAG)
    assert "request_id" not in moved  # the follower's loop, not a request
