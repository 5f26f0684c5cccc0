"""The loop dashboard: Airflow DAG runs of the release and rollback DAGs (by state, and their duration),
which version each variant serves over time, the gateway's reloads and rollbacks."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders

from observability.dashboards import airflow_names as af
from observability.dashboards.panels import (
    GATEWAY_NAMESPACE,
    Query,
    dashboard,
    graph,
    label_variable,
    namespace_variable,
    timeline,
)

UID = "mlops-loop"
MODEL = f'{GATEWAY_NAMESPACE}, model=~"$model"'
DAG = 'dag_id=~"$dag_id"'
RATE = "$__rate_interval"


def dag_runs_row() -> list:
    runs = f"{af.DAGRUN_DURATION}_count{{{DAG}}}"
    return [
        graph(
            "DAG runs by state",
            "DAG runs that finished in each interval, by DAG and final state (success, failed).",
            [Query(f"sum by (dag_id, state) (increase({runs}[{RATE}]))", "{{dag_id}} {{state}}")],
            bars=True,
        ),
        graph(
            "DAG run duration p50 / p99",
            "Duration of the DAG runs that finished in each interval, from start to end, by DAG.",
            [
                Query(
                    "histogram_quantile(0.5, sum by (le, dag_id) "
                    f"(rate({af.DAGRUN_DURATION}_bucket{{{DAG}}}[{RATE}])))",
                    "p50 {{dag_id}}",
                ),
                Query(
                    "histogram_quantile(0.99, sum by (le, dag_id) "
                    f"(rate({af.DAGRUN_DURATION}_bucket{{{DAG}}}[{RATE}])))",
                    "p99 {{dag_id}}",
                ),
            ],
            unit="s",
        ),
        graph(
            "Task instances finished by state",
            "Task instances of the selected DAGs that finished in each interval, by final state.",
            [
                Query(
                    f"sum by (state) (increase({af.TI_FINISH}{{{DAG}}}[{RATE}]))",
                    "{{state}}",
                )
            ],
            bars=True,
        ),
        graph(
            "Task duration p90 by task",
            "Duration of each task of the selected DAGs (train, register, reload, verify, ...).",
            [
                Query(
                    "histogram_quantile(0.9, sum by (le, dag_id, task_id) "
                    f"(rate({af.TASK_DURATION}_bucket{{{DAG}}}[{RATE}])))",
                    "{{dag_id}}.{{task_id}}",
                )
            ],
            unit="s",
        ),
    ]


def versions_row() -> list:
    return [
        timeline(
            "Version each variant serves",
            "One row per variant and version, coloured while the gateway serves that version for it.",
            [
                Query(
                    f"max by (model, variant, version) (serving_variant_loaded{{{MODEL}}}) == 1",
                    "{{model}} {{variant}} v{{version}}",
                )
            ],
            width=24,
        ),
        graph(
            "Reloads by alias and result",
            "Alias reloads the gateway did in each interval, by result (loaded, failed).",
            [
                Query(
                    f"sum by (alias, result) (increase(serving_reloads_total{{{MODEL}}}[{RATE}]))",
                    "{{alias}} {{result}}",
                )
            ],
            bars=True,
        ),
        graph(
            "Rollbacks by alias",
            "Rollbacks of an alias to an earlier version in each interval.",
            [
                Query(
                    f"sum by (alias) (increase(serving_rollbacks_total{{{MODEL}}}[{RATE}]))",
                    "{{alias}}",
                )
            ],
            bars=True,
        ),
        graph(
            "Failed loads in a row",
            "Consecutive failed loads of the version an alias should serve (0 once a load succeeds).",
            [Query(f"max by (model, alias) (serving_load_failures{{{MODEL}}})", "{{model}} {{alias}}")],
        ),
        graph(
            "Model load time p90",
            "Time to download, load and warm up a model version.",
            [
                Query(
                    "histogram_quantile(0.9, sum by (le, model) "
                    f"(rate(serving_model_load_seconds_bucket{{{MODEL}}}[{RATE}])))",
                    "{{model}}",
                )
            ],
            unit="s",
        ),
    ]


def build() -> dashboard_builders.Dashboard:
    return dashboard(
        UID,
        "MLOps / Loop",
        "Train, register, reload, roll back: DAG runs and the versions the gateway serves",
        ["airflow", "serving"],
        variables=[
            label_variable("dag_id", "DAG", af.DAGRUN_DURATION + "_count"),
            namespace_variable("serving_variant_loaded"),
            label_variable("model", "Model", f"serving_variant_loaded{{{GATEWAY_NAMESPACE}}}"),
        ],
        rows={"DAG runs": dag_runs_row(), "Versions, reloads and rollbacks": versions_row()},
    )
