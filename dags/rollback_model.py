"""rollback_model: put an alias back on before_version, reload, verify every replica, tell Slack."""

from datetime import datetime
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task
from mlops_dags import notify
from mlops_dags.codeversion import dag_tags
from mlops_dags.settings import DagSettings
from mlops_dags.tasks import default_args, run_rollback

SETTINGS = DagSettings()

DOC = """
### Roll a model's alias back

Triggered by `ml_train_register_and_reload` and `register_sensor_check` when a release fails after the
alias was recorded, or by hand. Moves `alias` of `model` back to `before_version` in MLflow (an empty
`before_version` removes the alias), reloads the gateway's variant and waits until every alive replica
serves it. Idempotent: a second run finds the alias already there and the reload is a no-op. When the
restore cannot complete, the task fails with the exact state: where the MLflow alias points and which
version each replica serves. Docs: `docs/dags.md`.
"""


@dag(
    dag_id="rollback_model",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=dag_tags("mlops", "serving", "rollback"),
    doc_md=DOC,
    params={
        "model": Param("iris", type="string", minLength=1, description="Registered model name in MLflow."),
        "alias": Param("challenger", type="string", minLength=1, description="The alias to restore."),
        "before_version": Param(
            None,
            type=["null", "string", "integer"],
            description="Version to restore; empty removes the alias.",
        ),
        "serving_model": Param(None, type=["null", "string"], description="Gateway model (default: model)."),
        "min_replicas": Param(1, type="integer", minimum=1, description="Replicas that must serve it."),
        "verify_timeout_seconds": Param(60, type="number", minimum=1, description="How long verify waits."),
        "reason": Param("", type="string", description="Why (shown in Slack)."),
    },
    default_args=default_args(SETTINGS),
    **notify.dag_notifiers(SETTINGS),
)
def rollback_model() -> None:
    @task(retries=0)
    def rollback() -> dict[str, Any]:
        """Alias back, reload, verify; Slack either way."""
        return run_rollback(SETTINGS, dict(get_current_context()["params"]))

    rollback()


rollback_model()
