"""Slack through the Slack provider's notifiers (an incoming-webhook connection, id configurable)."""

import copy
import logging
from typing import Any

from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

from mlops_dags.settings import DagSettings

log = logging.getLogger(__name__)


class MLOpsSlackNotifier(SlackWebhookNotifier):
    """SlackWebhookNotifier that renders a copy of itself per call, also for a serialized DAG.

    Rendering mutates a notifier in place, so a process that runs several DAG runs (`dag.test()`, the local
    runtime) would repeat the first run's text; and dag.test passes DAG-level callbacks the scheduler's
    SerializedDAG, which has no Jinja environment. In a deployment neither happens and this changes nothing.
    """

    def __call__(self, *args) -> None:
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
                slack_webhook_conn_id=conn,
                text=":x: DAG {{ dag.dag_id }} run {{ run_id }} failed ({{ reason }}). " + link,
            )
        ],
    }


def task_failure_notifier(settings: DagSettings) -> MLOpsSlackNotifier:
    """Per task, after its last try: which task failed and why."""
    return MLOpsSlackNotifier(
        slack_webhook_conn_id=settings.slack_conn_id,
        text=":warning: {{ dag.dag_id }}.{{ ti.task_id }} failed: {{ exception }} "
        + run_link_template(settings),
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
