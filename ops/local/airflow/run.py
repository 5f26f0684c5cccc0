"""Run DAGs with `dag.test()` here: `python -m ops.local.airflow.run DAG_ID CONF_JSON [DAG_ID CONF_JSON ...]`.

Expects the env of AirflowHome.env(). Prints one JSON line per run: dag_id, run_id, state, each task's
state and duration, and the return value of chosen tasks."""

import json
import sys
import time
from typing import Any

REPORTED = (
    "validate_conf",
    "train",
    "quality_gate",
    "wait_ready",
    "wait_new_version",
    "reload",
    "verify",
    "summary",
    "rollback",
)


def load_dags() -> dict[str, Any]:
    """Parse dags/ once."""
    from airflow import settings
    from airflow.dag_processing.dagbag import DagBag

    if settings.DAGS_FOLDER not in sys.path:
        sys.path.append(settings.DAGS_FOLDER)
    bag = DagBag(dag_folder=settings.DAGS_FOLDER)
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    return bag.dags


def describe(dag_run: Any) -> dict[str, Any]:
    """Final state, per-task state/duration and the XCom return values of REPORTED tasks."""
    from airflow.models.xcom import XComModel
    from airflow.settings import Session

    tasks: dict[str, Any] = {}
    session = Session()
    for ti in dag_run.get_task_instances(session=session):
        seconds = (ti.end_date - ti.start_date).total_seconds() if ti.start_date and ti.end_date else None
        tasks[ti.task_id] = {"state": str(ti.state), "seconds": seconds}
        if ti.task_id in REPORTED:
            query = XComModel.get_many(
                run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=ti.task_id, key="return_value"
            )
            row = session.scalars(query).first()
            tasks[ti.task_id]["value"] = XComModel.deserialize_value(row) if row is not None else None
            tasks[ti.task_id]["start"] = ti.start_date.timestamp() if ti.start_date else None
            tasks[ti.task_id]["end"] = ti.end_date.timestamp() if ti.end_date else None
    return {"dag_id": dag_run.dag_id, "run_id": dag_run.run_id, "state": str(dag_run.state), "tasks": tasks}


def run(dag: Any, conf: dict[str, Any]) -> dict[str, Any]:
    started = time.time()
    dag_run = dag.test(run_conf=conf)
    return {**describe(dag_run), "seconds": round(time.time() - started, 2), "triggered_at": started}


def main(argv: list[str]) -> int:
    if len(argv) % 2:
        print("usage: python -m ops.local.airflow.run DAG_ID CONF_JSON [DAG_ID CONF_JSON ...]", file=sys.stderr)
        return 2
    for dag_id, conf in zip(argv[::2], argv[1::2], strict=True):
        # Parse again per run: a run's conf updates the parsed DAG's params in place in this process.
        result = run(load_dags()[dag_id], json.loads(conf))
        print("RESULT " + json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
