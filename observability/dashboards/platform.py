"""The platform dashboard: the MLflow tracking server (up, request rate by status, latency) and Airflow
(scheduler and DAG processor heartbeats, DAG parsing, executor slots, task outcomes)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders

from observability.dashboards import airflow_names as af
from observability.dashboards.panels import Query, dashboard, graph, single_stat

UID = "mlops-platform"
RATE = "$__rate_interval"
# What `mlflow server --expose-prometheus` exports (prometheus_flask_exporter, prefix "mlflow").
MLFLOW_REQUESTS = "mlflow_http_request_total"
MLFLOW_DURATION = "mlflow_http_request_duration_seconds"


def mlflow_row() -> list:
    return [
        single_stat(
            "MLflow servers up",
            "MLflow tracking servers Prometheus scrapes that answered (job mlflow).",
            [Query('sum(up{job="mlflow"})', "up", instant=True)],
        ),
        single_stat(
            "MLflow 5xx share",
            "Share of MLflow requests answered 5xx in the selected range.",
            [
                Query(
                    f'sum(increase({MLFLOW_REQUESTS}{{status=~"5.."}}[$__range]))'
                    f" / sum(increase({MLFLOW_REQUESTS}[$__range]))",
                    "5xx",
                    instant=True,
                )
            ],
            unit="percentunit",
        ),
        graph(
            "MLflow requests per second by status",
            "Requests the tracking server answered per second, by HTTP method and status.",
            [Query(f"sum by (method, status) (rate({MLFLOW_REQUESTS}[{RATE}]))", "{{method}} {{status}}")],
            unit="reqps",
            stacked=True,
        ),
        graph(
            "MLflow latency p50 / p99",
            "Tracking server time per request (all endpoints but /health and /version).",
            [
                Query(
                    f"histogram_quantile(0.5, sum by (le) (rate({MLFLOW_DURATION}_bucket[{RATE}])))",
                    "p50",
                ),
                Query(
                    f"histogram_quantile(0.99, sum by (le) (rate({MLFLOW_DURATION}_bucket[{RATE}])))",
                    "p99",
                ),
            ],
            unit="s",
        ),
    ]


def airflow_row() -> list:
    return [
        single_stat(
            "Airflow metrics up",
            "Airflow StatsD exporters Prometheus scrapes that answered (job airflow).",
            [Query('sum(up{job="airflow"})', "up", instant=True)],
        ),
        single_stat(
            "DAG import errors",
            "DAG files that failed to import at the last parse.",
            [Query(f"max({af.IMPORT_ERRORS})", "errors", instant=True)],
        ),
        graph(
            "Scheduler and DAG processor heartbeats",
            "Heartbeats per second; a line at 0 means the component stopped.",
            [
                Query(f"sum(rate({af.SCHEDULER_HEARTBEAT}[{RATE}]))", "scheduler"),
                Query(f"sum(rate({af.DAG_PROCESSOR_HEARTBEAT}[{RATE}]))", "dag processor"),
            ],
        ),
        graph(
            "DAG parse time",
            "Seconds the DAG processor took to parse all DAG files.",
            [Query(f"max({af.TOTAL_PARSE_TIME})", "total parse time")],
            unit="s",
        ),
        graph(
            "Executor slots",
            "Task instances running and queued in the executor, and its open slots.",
            [
                Query(f"sum({af.EXECUTOR_RUNNING})", "running"),
                Query(f"sum({af.EXECUTOR_QUEUED})", "queued"),
                Query(f"sum({af.EXECUTOR_OPEN_SLOTS})", "open"),
            ],
        ),
        graph(
            "Task instances finished per minute by state",
            "Task instances of all DAGs that finished, per minute, by final state.",
            [Query(f"sum by (state) (rate({af.TI_FINISH}[{RATE}])) * 60", "{{state}}")],
        ),
    ]


def build() -> dashboard_builders.Dashboard:
    return dashboard(
        UID,
        "MLOps / Platform",
        "The MLflow tracking server and Airflow",
        ["mlflow", "airflow"],
        variables=[],
        rows={"MLflow": mlflow_row(), "Airflow": airflow_row()},
    )
