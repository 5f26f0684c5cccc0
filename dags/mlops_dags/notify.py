"""Slack through the Slack provider's notifiers (an incoming-webhook connection, id configurable)."""

import contextlib
import copy
import logging
from collections.abc import Mapping
from typing import Any

from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

from mlops_dags.explore import logs_text
from mlops_dags.settings import DagSettings

log = logging.getLogger(__name__)


class MLOpsSlackNotifier(SlackWebhookNotifier):
    """SlackWebhookNotifier that renders a copy of itself per call, also for a serialized DAG.

    Rendering mutates a notifier in place, so a process that runs several DAG runs (`dag.test()`, the local
    runtime) would repeat the first run's text; and dag.test passes DAG-level callbacks the scheduler's
    SerializedDAG, which has no Jinja environment. In a deployment neither happens and this changes nothing.
    """

    def __init__(self, *, dag_settings: DagSettings | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dag_settings = dag_settings

    def __call__(self, *args) -> None:
        if len(args) == 1 and isinstance(args[0], Mapping):
            # `logs` in the template: " Logs: <Grafana Explore link to the run's logs>", or "" without it
            logs = logs_text(self.dag_settings, args[0]) if self.dag_settings is not None else ""
            args = ({**args[0], "logs": logs},)
        fresh = copy.copy(self)
        fresh.__dict__.pop("hook", None)
        SlackWebhookNotifier.__call__(fresh, *args)

    def get_template_env(self, dag=None):  # type: ignore[override]
        if dag is not None and not hasattr(dag, "get_template_env"):
            dag = None
        return super().get_template_env(dag=dag)


def run_link_template(settings: DagSettings) -> str:
    return settings.airflow_base_url.rstrip("/") + "/dags/{{ dag.dag_id }}/runs/{{ run_id }}"


def dag_notifiers(settings: DagSettings) -> dict[str, list[MLOpsSlackNotifier]]:
    """DAG-level success and failure notifiers (passed as lists)."""
    link = run_link_template(settings)
    conn = settings.slack_conn_id
    return {
        "on_success_callback": [
            MLOpsSlackNotifier(
                slack_webhook_conn_id=conn,
                text=":white_check_mark: DAG {{ dag.dag_id }} run {{ run_id }} succeeded. " + link,
            )
        ],
        "on_failure_callback": [
            MLOpsSlackNotifier(
                dag_settings=settings,
                slack_webhook_conn_id=conn,
                text=":x: DAG {{ dag.dag_id }} run {{ run_id }} failed ({{ reason }}). "
                + link
                + "{{ logs }}",
            )
        ],
    }


def failure_reason(context: Mapping[str, Any]) -> str:
    """Why a task failed, in words: the run a TriggerDagRunOperator started and that did not succeed (its
    deferrable exception names only a DagRun repr), the task's exception, or what is known when Airflow
    passes none (a trigger that could not start its run; a task failed from outside)."""
    task, ti = context.get("task"), context.get("ti")
    target = getattr(task, "trigger_dag_id", None)
    run_id = None
    if target:
        with contextlib.suppress(Exception):  # the XCom is read where the callback runs, if it can be
            run_id = ti.xcom_pull(task_ids=ti.task_id, key="trigger_run_id")
    if run_id:
        # The deferrable trigger raises "<dag> failed with failed states [<DagRun ...>]": name the run.
        return f"the {target} run {run_id} it started did not succeed (see that run)"
    error = context.get("exception")
    if error is not None:
        return str(error) or type(error).__name__
    if target:
        return f"it could not start a {target} run (its log says why, e.g. that run existed already)"
    return (
        "no error was raised in the task: it was stopped or failed from outside (killed, lost its "
        "heartbeat, or marked failed); see its log"
    )


class TaskFailureNotifier(MLOpsSlackNotifier):
    """The task failure message, with `reason` (failure_reason) in its template context."""

    def __call__(self, *args) -> None:
        if len(args) == 1 and isinstance(args[0], Mapping):
            args = ({**args[0], "reason": failure_reason(args[0])},)
        super().__call__(*args)


def task_failure_notifier(settings: DagSettings) -> MLOpsSlackNotifier:
    """Per task, after its last try: which task failed and why."""
    return TaskFailureNotifier(
        dag_settings=settings,
        slack_webhook_conn_id=settings.slack_conn_id,
        text=":warning: {{ dag.dag_id }}.{{ ti.task_id }} failed: {{ reason }} "
        + run_link_template(settings)
        + "{{ logs }}",
    )


def post(settings: DagSettings, text: str, context: Any) -> bool:
    """Send one message now (from inside a task); a Slack outage is logged, never raised."""
    try:
        SlackWebhookNotifier(slack_webhook_conn_id=settings.slack_conn_id, text=text).notify(context)
        return True
    except Exception as error:
        log.warning("Slack message not sent (%s): %s", type(error).__name__, error)
        return False


def metrics_text(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items())) or "no metrics"
