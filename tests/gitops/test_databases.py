"""PostgreSQL by CloudNativePG: a Cluster per application per env, backed up to the env's bucket, and
every database client reading the Secret the operator generates for its Cluster."""

from __future__ import annotations

import pytest

from ci.validate import render
from ci.validate.firstsync import cnpg
from tests.gitops.helpers import find, objects

CLUSTERS = {
    "dev": {"mlflow-db": "mlflow", "airflow-db": "airflow"},
    "prod": {
        "mlflow-db": "mlflow",
        "airflow-db": "airflow",
        "serving-db": "serving",
        "control-db": "control",
    },
}
# Airflow containers that open the metadata database (git-sync, log groomers and statsd do not).
_NO_DATABASE = {"git-sync", "git-sync-init", "statsd"}


@pytest.mark.parametrize("env", sorted(CLUSTERS))
def test_one_cluster_per_application_backed_up_daily(rendered: render.RenderResult, env: str) -> None:
    docs = objects(rendered, f"postgres-{env}")
    clusters = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Cluster"}
    assert {name: c["spec"]["bootstrap"]["initdb"]["database"] for name, c in clusters.items()} == CLUSTERS[
        env
    ]
    store = find(docs, "ObjectStore", "postgres-backup")["spec"]
    assert store["configuration"]["destinationPath"] == f"s3://gitops-mlops-{env}-artifacts/postgres/"
    assert store["retentionPolicy"] == {"dev": "7d", "prod": "30d"}[env]
    assert store["configuration"]["s3Credentials"]["accessKeyId"]["name"] == "postgres-backup-aws"
    for name, cluster in clusters.items():
        spec = cluster["spec"]
        assert spec["instances"] == {"dev": 1, "prod": 2}[env]
        assert spec["imageName"].startswith("ghcr.io/cloudnative-pg/postgresql:")
        assert spec["enableSuperuserAccess"] is False
        assert spec["plugins"] == [
            {
                "name": cnpg.BARMAN_PLUGIN,
                "isWALArchiver": True,
                "parameters": {"barmanObjectName": "postgres-backup"},
            }
        ]
        backup = find(docs, "ScheduledBackup", f"{name}-daily")["spec"]
        assert backup["cluster"] == {"name": name}
        assert backup["method"] == "plugin"
        assert backup["pluginConfiguration"] == {"name": cnpg.BARMAN_PLUGIN}


def _database_env(container: dict, name: str) -> dict | None:
    return next((e for e in container.get("env") or [] if e["name"] == name), None)


@pytest.mark.parametrize("env", sorted(CLUSTERS))
def test_every_airflow_container_reads_the_generated_secret(rendered: render.RenderResult, env: str) -> None:
    """The chart reads key `connection` of its metadata Secret; the operator writes `uri`. Every
    container that opens the database, the migration and create-user Jobs included (they take no
    custom env), must get the URI from airflow-db-app."""
    checked = []
    for doc in objects(rendered, f"airflow-{env}"):
        if doc["kind"] not in {"Deployment", "StatefulSet", "Job"}:
            continue
        pod = doc["spec"]["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            if container["name"] in _NO_DATABASE or container["name"].endswith("-log-groomer"):
                continue
            conn = _database_env(container, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
            assert conn, f"{doc['metadata']['name']}/{container['name']} has no metadata database"
            assert conn["valueFrom"]["secretKeyRef"] == {"name": "airflow-db-app", "key": "uri"}
            checked.append(f"{doc['metadata']['name']}/{container['name']}")
    assert "airflow-run-airflow-migrations/run-airflow-migrations" in checked
    assert "airflow-create-user/create-user" in checked
    assert "airflow-scheduler/scheduler" in checked


@pytest.mark.parametrize(
    ("chart", "env", "variable", "secret"),
    [
        ("mlflow", "dev", "MLFLOW_BACKEND_STORE_URI", "mlflow-db-app"),
        ("mlflow", "prod", "MLFLOW_BACKEND_STORE_URI", "mlflow-db-app"),
        ("serving", "prod", "SERVING_STATE_URL", "serving-db-app"),
        ("control", "prod", "CONTROL_DATABASE_URL", "control-db-app"),
    ],
)
def test_service_charts_read_the_generated_secret(
    rendered: render.RenderResult, chart: str, env: str, variable: str, secret: str
) -> None:
    container = find(objects(rendered, f"{chart}-{env}"), "Deployment")["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert _database_env(container, variable)["valueFrom"]["secretKeyRef"] == {"name": secret, "key": "uri"}
    produced = {k for d in objects(rendered, f"postgres-{env}") for k in cnpg.provides(d, f"mlops-{env}")}
    assert f"Secret/mlops-{env}/{secret}" in produced
    assert f"Service/mlops-{env}/{secret.removesuffix('-app')}-rw" in produced


def test_no_chart_or_sealed_url_names_the_old_postgres_host(rendered: render.RenderResult) -> None:
    texts = [str(m.doc) for m in rendered.manifests]
    assert not [t for t in texts if "postgres.mlops-" in t]
