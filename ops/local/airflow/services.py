"""Airflow's components as services of the local stack: API server (UI, REST API, Execution API),
scheduler (LocalExecutor), DAG processor and triggerer, each its own process group with a pid file."""

import sys
from pathlib import Path

from ops.local.stack.services import Service
from ops.local.stack.settings import StackSettings

NAMES = ("airflow-statsd", "airflow-api", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")


def _airflow() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def statsd_exporter(settings: StackSettings) -> Service:
    """Airflow's StatsD metrics as Prometheus metrics (`ops.local.airflow.statsd`, the chart's mapping)."""
    argv = [
        sys.executable,
        "-m",
        "ops.local.airflow.statsd",
        "--host",
        settings.host,
        "--udp-port",
        str(settings.airflow_statsd_port),
        "--http-port",
        str(settings.airflow_metrics_port),
    ]
    return Service("airflow-statsd", argv, settings.airflow_metrics_url)


def airflow_services(settings: StackSettings, env: dict[str, str]) -> list[Service]:
    """The StatsD exporter, then the four components; the API server's health endpoint reports the
    other three by heartbeat.

    Scheduler and triggerer skip their log servers (--skip-serve-logs): every component reads
    the same log folder here, and those servers would bind fixed ports (8793, 8794)."""
    health = f"{settings.airflow_url}/api/v2/monitor/health"
    api = [_airflow(), "api-server", "--host", settings.host, "--port", str(settings.airflow_port)]
    return [
        statsd_exporter(settings),
        Service("airflow-api", [*api, "--workers", "1"], health, env),
        Service(
            "airflow-scheduler", [_airflow(), "scheduler", "--skip-serve-logs"], health, env, "scheduler"
        ),
        Service("airflow-dag-processor", [_airflow(), "dag-processor"], health, env, "dag_processor"),
        Service(
            "airflow-triggerer", [_airflow(), "triggerer", "--skip-serve-logs"], health, env, "triggerer"
        ),
    ]
