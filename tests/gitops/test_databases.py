"""PostgreSQL by CloudNativePG: a Cluster per application per env, backed up to the env's bucket, and
every database client reading the Secret the operator generates for its Cluster."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ci.validate import pipeline, render, schemas
from ci.validate.firstsync import cnpg
from ci.validate.firstsync.run import dry_run
from ci.validate.manifests import Manifest, parse_documents
from ci.validate.settings import REPO, Settings
from tests.gitops.helpers import FIXTURES, find, objects

RESTORE = FIXTURES / "restore"

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


def _render(settings: Settings, chart: str, env: str, *extra: Path) -> list[Manifest]:
    directory = REPO / "charts" / chart
    cmd = [settings.helm, "template", chart, str(directory), "--namespace", f"mlops-{env}"]
    for values in (directory / "values/base.yaml", directory / f"values/{env}.yaml", *extra):
        cmd += ["-f", str(values)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return parse_documents(proc.stdout, f"rendered/{chart}-{env}.yaml")


def _replace(rendered: render.RenderResult, renders: dict[str, list[Manifest]]) -> list[Manifest]:
    return [m for m in rendered.manifests if m.source not in renders] + [
        m for ms in renders.values() for m in ms
    ]


def test_the_documented_restore_validates_and_syncs(
    settings: Settings, rendered: render.RenderResult, report: pipeline.Report
) -> None:
    """The restore of docs/operations.md: the recovering Cluster passes the CRD schema, reads the old
    Cluster's backups through the same ObjectStore, and MLflow pointed at its Secret syncs; pointed at
    it without the restored Cluster, the dry run names the Secret nothing produces."""
    postgres = _render(settings, "postgres", "prod", RESTORE / "postgres-prod.yaml")
    mlflow = _render(settings, "mlflow", "prod", RESTORE / "mlflow-prod.yaml")
    assert schemas.validate_all(postgres, settings.crd_dir, settings.k8s_version) == []
    restored = next(m.doc for m in postgres if m.doc["metadata"]["name"] == "mlflow-db-r1")
    assert restored["spec"]["bootstrap"]["recovery"] == {
        "source": "mlflow-db",
        "database": "mlflow",
        "owner": "mlflow",
        "recoveryTarget": {"targetTime": "2026-11-30T10:00:00Z"},
    }
    (origin,) = restored["spec"]["externalClusters"]
    assert origin["plugin"]["parameters"] == {
        "barmanObjectName": "postgres-backup",
        "serverName": "mlflow-db",
    }
    both = {"rendered/postgres-prod.yaml": postgres, "rendered/mlflow-prod.yaml": mlflow}
    dry = dry_run(REPO, _replace(rendered, both), report.applications, [], known=[])
    assert [str(f) for f in dry.findings] == []
    alone = dry_run(
        REPO, _replace(rendered, {"rendered/mlflow-prod.yaml": mlflow}), report.applications, [], known=[]
    )
    lines = [str(f) for f in alone.findings]
    assert lines and all("needs Secret/mlops-prod/mlflow-db-r1-app" in ln for ln in lines), lines
    assert any("Deployment/mlops-prod/mlflow: [first-sync:secret]" in ln for ln in lines)


@pytest.mark.parametrize(
    ("spec", "secrets"),
    [
        ({}, {"Secret/ns/db-app"}),
        ({"enableSuperuserAccess": True}, {"Secret/ns/db-app", "Secret/ns/db-superuser"}),
        # an initdb that names its own Secret: the operator generates no <cluster>-app
        ({"bootstrap": {"initdb": {"database": "x", "owner": "x", "secret": {"name": "mine"}}}}, set()),
    ],
)
def test_what_a_cluster_gives_depends_on_its_spec(spec: dict, secrets: set[str]) -> None:
    doc = {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": "db"}, "spec": spec}
    given = cnpg.provides(doc, "ns")
    assert {k for k in given if k.startswith("Secret/")} == secrets
    assert {k for k in given if k.startswith("Service/")} == {
        "Service/ns/db-rw",
        "Service/ns/db-ro",
        "Service/ns/db-r",
    }
    needs = cnpg.needs(doc, "ns")
    assert needs == ([("secret", "Secret/ns/mine", "bootstrap initdb secret")] if not secrets else [])
    pooler = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Pooler",
        "metadata": {"name": "db-pool"},
        "spec": {},
    }
    assert cnpg.provides(pooler, "ns") == {"Service/ns/db-pool"}
    # another group's Cluster kind is not CloudNativePG's
    assert cnpg.provides({**doc, "apiVersion": "example.internal/v1"}, "ns") == set()
