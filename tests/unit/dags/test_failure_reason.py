"""The task failure message says why, also when Airflow passes no exception: a TriggerDagRunOperator whose
rollback_model run failed (Airflow 3.3 calls its failure callback with exception None), or a task failed
from outside. Never "failed: None"."""

from types import SimpleNamespace
from typing import Any

from mlops_dags.notify import failure_reason


class TriggerTI:
    task_id = "trigger_rollback_model"

    def __init__(self, pushed: str | None) -> None:
        self.pushed = pushed

    def xcom_pull(self, task_ids: str, key: str) -> Any:
        assert (task_ids, key) == ("trigger_rollback_model", "trigger_run_id")
        return self.pushed


def test_an_exception_is_the_reason() -> None:
    assert failure_reason({"exception": RuntimeError("HTTP 503: cannot load")}) == "HTTP 503: cannot load"
    assert failure_reason({"exception": KeyError()}) == "KeyError"


def test_a_failed_triggered_run_is_named() -> None:
    task = SimpleNamespace(task_id="trigger_rollback_model", trigger_dag_id="rollback_model")
    context = {"exception": None, "task": task, "ti": TriggerTI("manual__2026-01-01T00:00:00+00:00")}
    assert failure_reason(context) == (
        "the rollback_model run manual__2026-01-01T00:00:00+00:00 it started did not succeed (see that run)"
    )
    # The deferrable trigger fails with an exception that names only a DagRun repr: the run id is clearer.
    context["exception"] = RuntimeError("rollback_model failed with failed states [<DagRun rollback_model>]")
    assert failure_reason(context).startswith("the rollback_model run manual__2026-01-01T00:00:00+00:00")
    context["exception"] = None
    context["ti"] = TriggerTI(None)
    assert failure_reason(context).startswith("it could not start a rollback_model run")


def test_a_task_failed_from_outside_says_so() -> None:
    context = {"exception": None, "task": SimpleNamespace(task_id="train"), "ti": SimpleNamespace()}
    reason = failure_reason(context)
    assert reason.startswith("no error was raised in the task") and "None" not in reason
