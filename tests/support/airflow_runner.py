"""`python -m tests.support.airflow_runner DAG_ID CONF_JSON [...]`: `ops.airflow.run` (dag.test) plus the one
thing a scheduler would do that dag.test does not: run the DAG runs that a TriggerDagRunOperator creates.

A failed release triggers rollback_model as its own DAG run and waits for it (deferred: dag.test polls the
run's state in-line). While a run is in progress a watcher thread picks up each queued run an operator
created and runs it in a subprocess with dag.test under the same run id (`--triggered DAG_ID RUN_ID`).
Every run, triggered ones included, prints one `RESULT {json}` line (`triggered_by` names the run that
triggered it). With a real scheduler (a local Airflow started by the stack) none of this is needed.
"""

import json
import subprocess
import sys
import threading
import time
from typing import Any

from ops.airflow.run import describe, load_dags


def queued_operator_runs() -> list[tuple[str, str]]:
    """(dag_id, run_id) of queued runs created by an operator (TriggerDagRunOperator)."""
    from airflow.models.dagrun import DagRun
    from airflow.settings import Session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType
    from sqlalchemy import select

    session = Session()
    try:
        rows = session.execute(
            select(DagRun.dag_id, DagRun.run_id).where(
                DagRun.state == DagRunState.QUEUED, DagRun.triggered_by == DagRunTriggeredByType.OPERATOR
            )
        ).all()
        return [(dag_id, run_id) for dag_id, run_id in rows]
    finally:
        session.close()


class TriggeredRuns(threading.Thread):
    """Starts a subprocess for every queued operator-triggered run; collects their RESULT lines."""

    def __init__(self, parent_run: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.parent = parent_run
        self.started: dict[str, subprocess.Popen] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            for dag_id, run_id in queued_operator_runs():
                if run_id not in self.started:
                    argv = [
                        sys.executable,
                        "-m",
                        "tests.support.airflow_runner",
                        "--triggered",
                        dag_id,
                        run_id,
                    ]
                    self.started[run_id] = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)

    def results(self) -> list[dict[str, Any]]:
        """Stop watching; wait for every started run and return its result."""
        self.stop.set()
        self.join(timeout=10)
        out = []
        for process in self.started.values():
            stdout, _ = process.communicate(timeout=900)
            for line in stdout.splitlines():
                if line.startswith("RESULT "):
                    out.append({**json.loads(line[7:]), "triggered_by": self.parent})
        return out


def run_triggered(dag_id: str, run_id: str) -> dict[str, Any]:
    """Run a queued, operator-created DAG run with dag.test under its own run id."""
    from airflow.models.dagrun import DagRun
    from airflow.settings import Session
    from sqlalchemy import select

    session = Session()
    queued = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).one()
    logical_date, conf = queued.logical_date, dict(queued.conf or {})
    session.close()
    # dag.test replaces the run with that logical date; with run_after = logical_date the new run gets
    # the run id the operator generated (manual__<logical date>), which its deferred wait polls.
    dag_run = load_dags()[dag_id].test(logical_date=logical_date, run_after=logical_date, run_conf=conf)
    if dag_run.run_id != run_id:
        raise SystemExit(f"triggered run {run_id} ran as {dag_run.run_id}: the operator waits in vain")
    return describe(dag_run)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--triggered"] and len(argv) == 3:
        print("RESULT " + json.dumps(run_triggered(argv[1], argv[2]), default=str), flush=True)
        return 0
    if len(argv) % 2:
        print("usage: python -m tests.support.airflow_runner DAG_ID CONF_JSON [...]", file=sys.stderr)
        return 2
    for dag_id, conf in zip(argv[::2], argv[1::2], strict=True):
        started = time.time()
        # Parse again per run: a run's conf updates the parsed DAG's params in place in this process. The
        # watcher starts after Airflow's models are imported and mapped here: importing them in two threads
        # at once deadlocks on SQLAlchemy's mapper lock.
        dag = load_dags()[dag_id]
        queued_operator_runs()
        watcher = TriggeredRuns({"dag_id": dag_id})
        watcher.start()
        dag_run = dag.test(run_conf=json.loads(conf))
        result = {**describe(dag_run), "seconds": round(time.time() - started, 2), "triggered_at": started}
        watcher.parent["run_id"] = dag_run.run_id
        print("RESULT " + json.dumps(result, default=str), flush=True)
        for triggered in watcher.results():
            print("RESULT " + json.dumps(triggered, default=str), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
