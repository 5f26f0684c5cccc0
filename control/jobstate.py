"""The training job state machine, derived from the Airflow run of `ml_train_register_and_reload`.

    queued ──► running ──► succeeded      the release chain's `summary` task succeeded
       │          │  ├───► rolled_back    the release failed and rollback_model restored the version
       │          │  └───► failed         any other end (a failed task, the quality gate said no,
       └──────────┴──────► failed          Airflow refused the trigger)

States only move forward; a terminal state is final. Pure functions: tested without Airflow."""

from dataclasses import dataclass
from typing import Any

QUEUED, RUNNING, SUCCEEDED, FAILED, ROLLED_BACK = "queued", "running", "succeeded", "failed", "rolled_back"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, ROLLED_BACK)
TERMINAL = frozenset({SUCCEEDED, FAILED, ROLLED_BACK})
ORDER = {QUEUED: 0, RUNNING: 1, SUCCEEDED: 2, FAILED: 2, ROLLED_BACK: 2}

RELEASED_TASK = "summary"
GATE_TASK = "quality_gate"
ROLLBACK_TASKS = ("trigger_rollback_model", "rollback")
FAILED_TASK_STATES = frozenset({"failed", "upstream_failed"})
STARTED_TASK_STATES = frozenset({"running", "success", "failed", "skipped", "up_for_retry", "deferred"})


@dataclass(frozen=True)
class Verdict:
    """The job's state from Airflow's view, and why it failed (None unless it did)."""

    state: str
    reason: str | None = None


def derive(run_state: str | None, tasks: dict[str, str | None]) -> Verdict:
    """The state for a DAG run state and its tasks' states (task id → state)."""
    if run_state in (None, "", "queued"):
        started = any(state in STARTED_TASK_STATES for state in tasks.values())
        return Verdict(RUNNING if started else QUEUED)
    if run_state == "running":
        return Verdict(RUNNING)
    if run_state == "success":
        if tasks.get(RELEASED_TASK) == "success":
            return Verdict(SUCCEEDED)
        if tasks.get(GATE_TASK) == "success":
            return Verdict(FAILED, "the quality gate rejected the model: nothing was registered or moved")
        return Verdict(FAILED, "the run ended without releasing the new version")
    failed = sorted(task for task, state in tasks.items() if state == "failed" and task not in ROLLBACK_TASKS)
    what = f"task {', '.join(failed)} failed" if failed else f"the Airflow run ended {run_state}"
    rollback = next((tasks[t] for t in ROLLBACK_TASKS if t in tasks), None)
    if rollback == "success":
        return Verdict(ROLLED_BACK, f"{what}; rollback_model restored the version that served before")
    if rollback == "failed":
        return Verdict(FAILED, f"{what}; the rollback failed too")
    return Verdict(FAILED, what)


def advance(current: str, verdict: Verdict) -> Verdict:
    """Forward only: a terminal state stays, a later state replaces an earlier one."""
    if current in TERMINAL or ORDER[verdict.state] < ORDER[current]:
        return Verdict(current)
    return verdict


def task_rows(task_instances: list[Any]) -> dict[str, dict[str, Any]]:
    """Task id → what a job shows of it (the latest try of unmapped tasks)."""
    rows: dict[str, dict[str, Any]] = {}
    for ti in task_instances:
        rows[ti.task_id] = {
            "state": ti.state,
            "try_number": ti.try_number,
            "start_date": ti.start_date.isoformat() if ti.start_date else None,
            "end_date": ti.end_date.isoformat() if ti.end_date else None,
            "duration": ti.duration,
        }
    return rows
