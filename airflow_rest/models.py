"""What the client returns: DAG runs and task instances, parsed from Airflow's JSON."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TERMINAL_RUN_STATES = frozenset({"success", "failed"})
FINISHED_TASK_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class DagRun:
    """One DAG run as `GET /api/v2/dags/{dag_id}/dagRuns/{run_id}` reports it."""

    dag_id: str
    run_id: str
    state: str
    conf: dict[str, Any] = field(default_factory=dict)
    run_type: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    run_after: datetime | None = None
    note: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_RUN_STATES

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "DagRun":
        return cls(
            dag_id=data["dag_id"],
            run_id=data["dag_run_id"],
            state=data.get("state") or "",
            conf=data.get("conf") or {},
            run_type=data.get("run_type"),
            start_date=_time(data.get("start_date")),
            end_date=_time(data.get("end_date")),
            run_after=_time(data.get("run_after")),
            note=data.get("note"),
        )


@dataclass(frozen=True)
class TaskInstance:
    """One task instance of a run (unmapped tasks have map_index -1)."""

    task_id: str
    state: str | None
    try_number: int = 0
    map_index: int = -1
    start_date: datetime | None = None
    end_date: datetime | None = None
    duration: float | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_TASK_STATES

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TaskInstance":
        return cls(
            task_id=data["task_id"],
            state=data.get("state"),
            try_number=data.get("try_number") or 0,
            map_index=data.get("map_index", -1),
            start_date=_time(data.get("start_date")),
            end_date=_time(data.get("end_date")),
            duration=data.get("duration"),
        )
