"""The local Airflow's configuration without starting it: database per mode, keys and passwords kept
across runs, remote logging in the full stack, the components and their health checks."""

import json
from pathlib import Path

import pytest

from ops.local.airflow import ADMIN_USER, API_USER, NAMES, AirflowHome, airflow_services
from ops.local.stack import Stack
from ops.local.stack.envfile import read_env_file
from ops.local.stack.settings import REPO_ROOT, StackSettings


def settings(tmp_path: Path, mode: str = "embedded") -> StackSettings:
    return StackSettings(MLOPS_STACK=mode, MLOPS_STACK_DIR=tmp_path, AIRFLOW_PORT=28080, S3_PORT=28333)


def test_embedded_airflow_env(tmp_path: Path) -> None:
    stack = Stack(settings(tmp_path))
    env = stack.airflow().env()
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path / 'airflow' / 'airflow.db'}"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:28080/execution/"
    assert env["AIRFLOW__API__BASE_URL"] == "http://127.0.0.1:28080"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(REPO_ROOT / "dags")
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == f"{ADMIN_USER}:admin,{API_USER}:user"
    assert env["MLOPS_RUNTIME"] == "local"
    # Rollback always runs as a triggered rollback_model run; local pods take the trainer's own runtime
    # (.venv-trainer) and build on the chart's pod template, so the stack sets none of these.
    assert not {"MLOPS_ROLLBACK_MODE", "MLOPS_LOCAL_PYTHON", "KPO_POD_TEMPLATE_FILE"} & set(env)
    assert "AIRFLOW__LOGGING__REMOTE_LOGGING" not in env and "AIRFLOW_CONN_AWS_LOGS" not in env
    serving = json.loads(env["AIRFLOW_CONN_SERVING_ADMIN"])
    assert serving["host"] == stack.settings.serving_url and serving["password"] == stack.api_key()


def test_full_airflow_uses_postgres_and_logs_to_s3(tmp_path: Path) -> None:
    env = Stack(settings(tmp_path, "full")).airflow().env()
    assert (
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        == "postgresql+psycopg2://mlops:mlops@127.0.0.1:5433/airflow"
    )
    assert env["AIRFLOW__LOGGING__REMOTE_LOGGING"] == "True"
    assert env["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"] == "s3://mlflow/airflow-logs"
    aws = json.loads(env["AIRFLOW_CONN_AWS_LOGS"])
    assert aws["extra"]["endpoint_url"] == "http://127.0.0.1:28333" and aws["login"] == "mlops-local"


def test_passwords_and_keys_are_generated_once_and_kept(tmp_path: Path) -> None:
    first = Stack(settings(tmp_path))
    values = first.env_values()
    keys = first.airflow().keys()
    home = first.airflow()
    home.write_passwords()
    again = Stack(settings(tmp_path))
    assert again.env_values()["AIRFLOW_API_PASSWORD"] == values["AIRFLOW_API_PASSWORD"]
    assert again.airflow().keys() == keys and len(keys["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 64
    assert values["AIRFLOW_ADMIN_PASSWORD"] != values["AIRFLOW_API_PASSWORD"]
    passwords = json.loads(home.passwords_file.read_text())
    assert passwords == {
        ADMIN_USER: values["AIRFLOW_ADMIN_PASSWORD"],
        API_USER: values["AIRFLOW_API_PASSWORD"],
    }
    for file in (home.passwords_file, home.keys_file, first.env_file):
        assert file.stat().st_mode & 0o077 == 0, file
    # Users and clients source .stack/env; Airflow's signing keys are not exported there.
    exported = read_env_file(first.env_file)
    assert exported["AIRFLOW_URL"] == "http://127.0.0.1:28080"
    assert not any(k.startswith("AIRFLOW__") for k in exported)


def test_migration_runs_once_per_airflow_version_and_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = AirflowHome(settings(tmp_path), Stack(settings(tmp_path)).env_values())
    calls: list[list[str]] = []

    class Done:
        returncode, stdout, stderr = 0, "", ""

    monkeypatch.setattr(
        "ops.local.airflow.home.subprocess.run", lambda argv, **_: calls.append(argv) or Done()
    )
    assert home.migrate() is True and home.migrate() is False
    assert len(calls) == 1 and calls[0][-2:] == ["db", "migrate"]
    marker = home.home / "migrated.json"
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "airflow": "0.0.1"}))
    assert home.migrate() is True and len(calls) == 2


def test_components_and_their_health_checks(tmp_path: Path) -> None:
    s = settings(tmp_path)
    exporter, *services = airflow_services(s, {"X": "1"})
    assert [exporter.name] + [svc.name for svc in services] == list(NAMES)
    # the StatsD exporter first (Airflow's metrics from its first packet on), checked by its /metrics
    assert exporter.health_url == s.airflow_metrics_url and exporter.health_key is None
    assert exporter.argv[-4:] == [
        "--udp-port",
        str(s.airflow_statsd_port),
        "--http-port",
        str(s.airflow_metrics_port),
    ]
    assert {svc.health_url for svc in services} == {"http://127.0.0.1:28080/api/v2/monitor/health"}
    assert [svc.health_key for svc in services] == [None, "scheduler", "dag_processor", "triggerer"]
    api, scheduler, _processor, triggerer = (svc.argv for svc in services)
    assert api[1:] == ["api-server", "--host", "127.0.0.1", "--port", "28080", "--workers", "1"]
    # No log servers: they would bind the fixed ports 8793/8794.
    assert "--skip-serve-logs" in scheduler and "--skip-serve-logs" in triggerer
    assert [svc.name for svc in Stack(s).services()][-len(NAMES) :] == list(NAMES)
    env = Stack(s).airflow().env()
    assert (env["AIRFLOW__METRICS__STATSD_ON"], env["AIRFLOW__METRICS__STATSD_PORT"]) == (
        "True",
        str(s.airflow_statsd_port),
    )
    no_airflow = StackSettings(MLOPS_STACK_DIR=tmp_path, MLOPS_STACK_AIRFLOW="false")
    assert not set(NAMES) & {svc.name for svc in Stack(no_airflow).services()}


def test_status_rewrites_no_file(tmp_path: Path) -> None:
    """`make status` reads .stack/env and Airflow's keys; only `up` writes them."""
    stack = Stack(settings(tmp_path))
    stack.env_values()
    stack.airflow().keys()
    files = (stack.env_file, stack.airflow().keys_file)
    before = {f: (f.read_text(), f.stat().st_mtime_ns) for f in files}
    stack.status()
    assert {f: (f.read_text(), f.stat().st_mtime_ns) for f in files} == before
