"""The job follower: triggers queued jobs' DAG runs and follows them in Airflow, writing each change of a
job (its tasks, its state) with its events and callback deliveries in one fenced transaction. Only the
lease holder runs it; a replica that lost the lease writes nothing (LeaseLost)."""

from typing import Any

from loguru import logger
from sqlalchemy.engine import Connection, RowMapping

from airflow_rest import AirflowAPIError, AirflowUnreachable
from control.clients.airflow import AirflowClients, failure_line
from control.jobs import dag_conf, document
from control.jobstate import FAILED, RUNNING, TERMINAL, Verdict, advance, derive, task_rows
from control.settings import ControlSettings
from control.store import Database, Fence
from control.store import deliveries as delivery_rows
from control.store import events as event_log
from control.store import jobs as job_rows
from control.timeutil import now

# Tasks whose XCom return value the job shows, and under which name.
RESULT_TASKS = {"train": "train", "register": "register", "summary": "serving"}
ROLLBACK_TRIGGER = "trigger_rollback_model"
# Airflow answers that may pass (the DAG not parsed yet, Airflow restarting): retried this long.
TRIGGER_GRACE_SECONDS = 600.0


def task_changed(before: dict[str, Any] | None, after: dict[str, Any]) -> bool:
    """A task event is due: a new state or a new try (a task Airflow has not scheduled yet is no news)."""
    if before is None:
        return after["state"] is not None
    return before.get("state") != after["state"] or before.get("try_number") != after["try_number"]


class TriggerRefused(Exception):
    """Airflow refused to start the run for good (bad conf, no such DAG after the grace time)."""


def job_ids(row: RowMapping) -> dict[str, str]:
    """The ids a job's log lines carry: the job, its Airflow run and DAG (Grafana filters on them)."""
    return {"job_id": row["id"], "run_id": row["dag_run_id"], "dag_id": row["dag_id"]}


def enqueue_callbacks(
    conn: Connection, settings: ControlSettings, row: RowMapping, event: event_log.Event, terminal: bool
) -> None:
    """An outbox row for the job's callback URL when this event calls for one."""
    url = row["callback_url"]
    if url and (terminal or row["callback_events"] == "all"):
        at = now()
        delivery_rows.enqueue(conn, event.id, row["id"], url, at, at + settings.callback_retry_seconds)


class JobFollower:
    """Moves unfinished jobs forward from what Airflow reports."""

    def __init__(self, settings: ControlSettings, db: Database, airflow: AirflowClients) -> None:
        self.settings = settings
        self.db = db
        self.airflow = airflow

    # -- trigger ------------------------------------------------------------------------------------
    def trigger(self, row: RowMapping) -> bool:
        """Start the job's run (a repeated trigger finds the run: same run id); True once it exists.

        Raises TriggerRefused when Airflow refuses it for good."""
        client = self.airflow.get()
        try:
            client.trigger(
                row["dag_id"],
                row["dag_run_id"],
                dag_conf(dict(row["request"])),
                note=f"control API job {row['id']}",
            )
        except AirflowUnreachable as error:
            logger.warning("job {}: Airflow unreachable, will retry: {}", row["id"], error)
            return False
        except AirflowAPIError as error:
            transient = error.status is None or error.status >= 500 or error.status == 404
            if transient and now() - row["created_at"] < TRIGGER_GRACE_SECONDS:
                logger.warning("job {}: Airflow answered {}, will retry: {}", row["id"], error.status, error)
                return False
            raise TriggerRefused(f"Airflow refused to start the run: {error}") from None
        with self.db.write() as conn:
            job_rows.mark_triggered(conn, row["id"], now())
        logger.bind(**job_ids(row)).info("job {} started Airflow run {}", row["id"], row["dag_run_id"])
        return True

    # -- follow -------------------------------------------------------------------------------------
    def follow_all(self, fence: Fence) -> int:
        """One pass over every unfinished job; the number of jobs that changed."""
        with self.db.read() as conn:
            rows = job_rows.unfinished(conn)
        changed = 0
        for row in rows:
            try:
                changed += self.follow(row, fence)
            except AirflowUnreachable as error:
                logger.warning("Airflow unreachable; following resumes next pass: {}", error)
                break
            except AirflowAPIError as error:
                logger.warning("job {}: Airflow answered {}: {}", row["id"], error.status, error)
        return changed

    def follow(self, row: RowMapping, fence: Fence) -> bool:
        with logger.contextualize(**job_ids(row)):  # every line about this job names it and its run
            return self._follow(row, fence)

    def _follow(self, row: RowMapping, fence: Fence) -> bool:
        if row["triggered_at"] is None:
            try:
                if not self.trigger(row):
                    return False
            except TriggerRefused as error:
                return self.commit(row["id"], fence, Verdict(FAILED, str(error)), None, {}, {})
        client = self.airflow.get()
        try:
            run = client.run(row["dag_id"], row["dag_run_id"])
        except AirflowAPIError as error:
            if error.status == 404:
                reason = f"the Airflow run {row['dag_run_id']} no longer exists"
                return self.commit(row["id"], fence, Verdict(FAILED, reason), None, {}, {})
            raise
        instances = client.task_instances(row["dag_id"], row["dag_run_id"])
        tasks = task_rows(instances)
        verdict = advance(row["state"], derive(run.state, {t: info["state"] for t, info in tasks.items()}))
        results = self._results(row, tasks)
        if verdict.state in TERMINAL:
            verdict = Verdict(verdict.state, self._explain(row, verdict, tasks, results))
        return self.commit(row["id"], fence, verdict, run.state, tasks, results)

    def _results(self, row: RowMapping, tasks: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The XCom values the job shows, fetched once per finished task."""
        results = dict(row["results"])
        client = self.airflow.get()
        for task_id, name in RESULT_TASKS.items():
            if name not in results and (tasks.get(task_id) or {}).get("state") == "success":
                results[name] = client.xcom(row["dag_id"], row["dag_run_id"], task_id)
        rollback = tasks.get(ROLLBACK_TRIGGER) or {}
        if rollback.get("state") in ("success", "failed") and "rollback" not in results:
            run_id = client.xcom(row["dag_id"], row["dag_run_id"], ROLLBACK_TRIGGER, "trigger_run_id")
            results["rollback"] = {"dag_id": "rollback_model", "run_id": run_id, "state": rollback["state"]}
        return results

    def _explain(
        self, row: RowMapping, verdict: Verdict, tasks: dict[str, dict[str, Any]], results: dict[str, Any]
    ) -> str | None:
        """The verdict's reason with the detail that helps: the failed task's error, the gate's metric."""
        if verdict.reason is None:
            return None
        train = results.get("train") or {}
        if verdict.reason.startswith("the quality gate") and train.get("primary_metric"):
            request = row["request"]
            return (
                f"{verdict.reason} ({train['primary_metric']}={train.get('primary_metric_value')}, "
                f"threshold {request['quality_threshold']}, allowed regression against "
                f"{request['champion_alias']} {request['max_regression']})"
            )
        failed = [t for t, info in tasks.items() if info["state"] == "failed" and t != ROLLBACK_TRIGGER]
        if not failed:
            return verdict.reason
        first = min(failed, key=lambda t: tasks[t].get("end_date") or "")
        try:
            line = failure_line(
                self.airflow.get().task_log(
                    row["dag_id"], row["dag_run_id"], first, tasks[first]["try_number"]
                )
            )
        except AirflowAPIError as error:
            logger.warning("job {}: could not read the log of {}: {}", row["id"], first, error)
            line = None
        return f"{verdict.reason}: {first}: {line}" if line else verdict.reason

    # -- write --------------------------------------------------------------------------------------
    def commit(
        self,
        job_id: str,
        fence: Fence,
        verdict: Verdict,
        airflow_state: str | None,
        tasks: dict[str, dict[str, Any]],
        results: dict[str, Any],
    ) -> bool:
        """Store what changed, with one event per task change and per state change, and the callbacks
        they call for, in one transaction under the lease. True when anything changed."""
        with self.db.write(fence) as conn:
            row = job_rows.get(conn, job_id, lock=True)
            if row is None or row["state"] in TERMINAL:
                return False
            stored_tasks = dict(row["tasks"])
            changed_tasks = {t: info for t, info in tasks.items() if task_changed(stored_tasks.get(t), info)}
            state = verdict.state
            moved = state != row["state"]
            values: dict[str, Any] = {}
            if tasks and tasks != stored_tasks:
                values["tasks"] = {**stored_tasks, **tasks}
            if results != dict(row["results"]):
                values["results"] = results
            if airflow_state is not None and airflow_state != row["airflow_state"]:
                values["airflow_state"] = airflow_state
            if moved:
                values["state"] = state
                values["error"] = verdict.reason
                if state == RUNNING or (state in TERMINAL and row["started_at"] is None):
                    values["started_at"] = row["started_at"] or now()
                if state in TERMINAL:
                    values["finished_at"] = now()
            if not values:
                return False
            values["updated_at"] = now()
            job_rows.set_values(conn, job_id, **values)
            updated = job_rows.get(conn, job_id)
            assert updated is not None
            for task_id, info in sorted(
                changed_tasks.items(), key=lambda item: item[1].get("start_date") or ""
            ):
                event_log.append(
                    conn,
                    "training_job.task",
                    {"task_id": task_id, **info},
                    job_id=job_id,
                )
            if moved:
                doc = document(updated, self.settings.airflow_ui_base)
                event = event_log.append(
                    conn, f"training_job.{state}", {"job": doc, "previous": row["state"]}, job_id=job_id
                )
                enqueue_callbacks(conn, self.settings, updated, event, state in TERMINAL)
                logger.info(
                    "job {} {} → {}{}",
                    job_id,
                    row["state"],
                    state,
                    f": {verdict.reason}" if verdict.reason else "",
                )
            return True
