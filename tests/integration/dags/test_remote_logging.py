"""Airflow remote logging to S3 in the full stack: the stack's own Airflow (LocalExecutor, PostgreSQL
metadata DB, `aws_logs` connection to SeaweedFS) uploads a task's log to the bucket when the task ends.

The run is rollback_model for an alias that does not exist; the full stack has no gateway, so the rollback,
which must make sure the failed version takes no traffic, fails saying so, and its log lands in S3 all the
same."""

import time

import boto3
import pytest

from tests.support.stack import RunningStack

pytestmark = pytest.mark.full


def test_task_logs_land_in_s3(full_stack: RunningStack) -> None:
    settings = full_stack.settings
    airflow = full_stack.airflow()
    airflow.wait_for_dags(["rollback_model"])
    conf = {"model": "no-such-model", "alias": "challenger", "before_version": None, "reason": "s3 log test"}
    triggered = airflow.trigger("rollback_model", "s3-logs-1", conf)
    run = airflow.wait("rollback_model", triggered.run.run_id, timeout=600, interval=1.0)
    assert run.state == "success"  # the full stack runs a gateway since issue 16 (as test_full_stack)
    s3 = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key,
        region_name="us-east-1",
    )
    prefix = "airflow-logs/dag_id=rollback_model/run_id=s3-logs-1/"

    def task_logs() -> list[str]:
        listing = s3.list_objects_v2(Bucket=settings.s3_bucket, Prefix=prefix).get("Contents", [])
        return [o["Key"] for o in listing if "task_id=rollback" in o["Key"]]

    # The task's supervisor uploads the log after the task ended, which can be after the run's state.
    deadline = time.monotonic() + 120
    while not task_logs() and time.monotonic() < deadline:
        time.sleep(1)
    keys = task_logs()
    assert keys, f"no task log under s3://{settings.s3_bucket}/{prefix}"
    body = s3.get_object(Bucket=settings.s3_bucket, Key=keys[0])["Body"].read().decode()
    # the task's own answer (the gateway has no such model, so there is nothing to route away from)
    assert "the gateway serves no model no-such-model" in body, body[-3000:]
