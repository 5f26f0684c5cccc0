"""Airflow remote logging to S3 in the full stack: a task's log lands in the real S3 server's bucket.

Airflow 3 uploads remote logs from the task supervisor of a real executor, so this runs
`airflow api-server` (the Execution API) and `airflow dags test --use-executor` (LocalExecutor) on a
SQLite metadata DB, with the `aws_logs` connection pointed at SeaweedFS. The DAG run is rollback_model
for an alias that does not exist; the full stack has no gateway, so the rollback, which must make sure
the failed version takes no traffic, fails saying so, and its log lands in S3 all the same."""

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx
import pytest

from ops.airflow import AirflowHome
from tests.support.ports import free_port
from tests.support.stack import REPO_ROOT, RunningStack

pytestmark = pytest.mark.full


AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def test_task_logs_land_in_s3(full_stack: RunningStack, tmp_path: Path) -> None:
    settings = full_stack.settings
    port = free_port()
    prefix = f"airflow-logs-{secrets.token_hex(4)}"
    aws = {
        "conn_type": "aws",
        "login": settings.aws_access_key_id,
        "password": settings.aws_secret_access_key,
        "extra": {"endpoint_url": settings.s3_endpoint_url, "region_name": "us-east-1"},
    }
    extra = {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
        "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": "aws_logs",
        "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f"s3://{settings.s3_bucket}/{prefix}",
        "AIRFLOW__LOGGING__ENCRYPT_S3_LOGS": "False",
        "AIRFLOW_CONN_AWS_LOGS": json.dumps(aws),
    }
    home = AirflowHome(tmp_path / "airflow", full_stack.env, full_stack.stack.api_key(), extra=extra)
    home.migrate()
    env = {**os.environ, **home.env()}
    server = subprocess.Popen(
        [AIRFLOW, "api-server", "--port", str(port), "--host", "127.0.0.1"],
        env=env,
        stdout=(tmp_path / "api-server.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, (tmp_path / "api-server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "api-server did not start"
            time.sleep(1)
        conf = {
            "model": "no-such-model",
            "alias": "challenger",
            "before_version": None,
            "reason": "s3 log test",
        }
        argv = [AIRFLOW, "dags", "test", "rollback_model", "--conf", json.dumps(conf), "--use-executor"]
        run = subprocess.Popen(
            argv,
            env=env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = run.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)  # with the LocalExecutor's workers
            output, _ = run.communicate()
            pytest.fail(f"airflow dags test --use-executor did not finish in 240s:\n{output[-4000:]}")
        assert "DagRun Finished: dag_id=rollback_model" in output, output[-4000:]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    s3 = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key,
        region_name="us-east-1",
    )
    keys = [
        o["Key"] for o in s3.list_objects_v2(Bucket=settings.s3_bucket, Prefix=prefix).get("Contents", [])
    ]
    task_logs = [k for k in keys if "dag_id=rollback_model" in k and "task_id=rollback" in k]
    assert task_logs, f"no task log under s3://{settings.s3_bucket}/{prefix}: {keys}"
    body = s3.get_object(Bucket=settings.s3_bucket, Key=task_logs[0])["Body"].read().decode()
    assert "ROLLBACK FAILED for no-such-model@challenger" in body or "unreachable" in body, body[-3000:]
