"""The full stack: MLflow on PostgreSQL with artifacts in a real S3 server (SeaweedFS)."""

import time
from pathlib import Path

import boto3
import httpx
import mlflow.pyfunc
import pytest
from mlflow import MlflowClient

from tests.integration.serving.support import wait_for
from tests.support.stack import RunningStack, train_and_register

pytestmark = pytest.mark.full


def _s3(running: RunningStack):
    s = running.settings
    return boto3.client(
        "s3",
        endpoint_url=s.s3_endpoint_url,
        aws_access_key_id=s.aws_access_key_id,
        aws_secret_access_key=s.aws_secret_access_key,
        region_name="us-east-1",
    )


def _jobs_scraped_by(running: RunningStack, at: float) -> list[str]:
    """The jobs with an `up` sample in Prometheus' TSDB at or shortly before `at`."""
    answer = httpx.get(
        running.settings.prometheus_url + "/api/v1/query", params={"query": "up", "time": at}, timeout=10
    )
    return sorted(series["metric"]["job"] for series in answer.raise_for_status().json()["data"]["result"])


def test_mlflow_backend_is_postgres(full_stack: RunningStack) -> None:
    tables = full_stack.stack.postgres.psql(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'registered_models'", "mlflow"
    )
    assert tables == "1"


@pytest.mark.parametrize("base", ["iris", "digits"])
def test_artifacts_are_s3_objects_and_version_is_ready(
    full_stack: RunningStack, tmp_path: Path, base: str
) -> None:
    result = train_and_register(full_stack, tmp_path, base, alias="champion")
    trained, registered = result["train"], result["register"]
    assert registered["status"] == "READY"

    keys = [
        obj["Key"]
        for page in _s3(full_stack)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=full_stack.settings.s3_bucket)
        for obj in page.get("Contents", [])
    ]
    model_id = trained["model_uri"].removeprefix("models:/")
    model_files = [k for k in keys if model_id in k]
    assert any(k.endswith("MLmodel") for k in model_files), f"no MLmodel for {model_id} in {keys[:20]}"
    assert any(k.endswith("model.skops") or k.endswith("model.pkl") for k in model_files)

    name = trained["model_name"]
    assert (
        MlflowClient(full_stack.tracking_uri).get_model_version(name, registered["version"]).status == "READY"
    )
    mlflow.set_tracking_uri(full_stack.tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert len(model.predict(model.input_example)) == len(model.input_example)


def test_full_stack_down_up_keeps_registry_and_dag_runs(full_stack: RunningStack, tmp_path: Path) -> None:
    result = train_and_register(full_stack, tmp_path, "iris", alias="keep", name="iris-keep")
    airflow = full_stack.airflow()
    airflow.wait_for_dags(["rollback_model"])
    conf = {"model": "no-such-model", "alias": "x", "reason": "full stack restart"}
    airflow.trigger("rollback_model", "keep-full-1", conf)
    done = airflow.wait("rollback_model", "keep-full-1", timeout=600, interval=1.0)
    # The full stack's gateway serves no model `no-such-model`: removing the alias is all there is to do.
    assert done.state == "success"
    before = time.time()
    scraped = wait_for(lambda: _jobs_scraped_by(full_stack, before), 60, what="samples in Prometheus")
    stack = full_stack.stack
    stack.down()
    stack.up(log=lambda _: None)
    # Airflow's metadata DB is the stack's PostgreSQL: the run is still there after the restart.
    kept = full_stack.airflow().run("rollback_model", "keep-full-1")
    assert kept.state == "success" and kept.conf["reason"] == "full stack restart"
    # Prometheus' TSDB is kept: the samples scraped before the restart are still there.
    assert _jobs_scraped_by(full_stack, before) == scraped
    client = MlflowClient(full_stack.tracking_uri)
    assert client.get_model_version_by_alias("iris-keep", "keep").version == result["register"]["version"]
    mlflow.set_tracking_uri(full_stack.tracking_uri)
    model = mlflow.pyfunc.load_model("models:/iris-keep@keep")
    assert len(model.predict(model.input_example)) > 0


def test_mlflow_schema_is_upgraded_before_the_server_starts(full_stack: RunningStack) -> None:
    """The step the chart's Sync hook runs in a cluster (`mlflow db upgrade`), run by the stack against
    its PostgreSQL before the MLflow server started: the schema is at this MLflow's head, and running the
    step again under the serving server changes nothing and breaks nothing."""
    from mlflow.store.db.utils import _get_latest_schema_revision

    log_file = full_stack.settings.logs_dir / "mlflow-db-upgrade.log"
    assert "Updating database tables" in log_file.read_text()
    head = _get_latest_schema_revision()
    assert full_stack.stack.postgres.psql("SELECT version_num FROM alembic_version", "mlflow") == head
    full_stack.stack.upgrade_mlflow_schema()
    assert full_stack.stack.postgres.psql("SELECT version_num FROM alembic_version", "mlflow") == head
    assert MlflowClient(full_stack.tracking_uri).search_experiments()
