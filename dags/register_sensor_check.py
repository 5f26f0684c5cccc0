"""register_sensor_check: a version registered outside Airflow becomes READY → alias → reload → verify."""

from datetime import datetime
from typing import Any

from airflow.sdk import Param, PokeReturnValue, dag, get_current_context, task
from mlops_dags import connections, notify
from mlops_dags.codeversion import dag_tags
from mlops_dags.conf import SensorConf, parse
from mlops_dags.release import check_target
from mlops_dags.settings import DagSettings
from mlops_dags.tasks import default_args, release_chain

SETTINGS = DagSettings()

DOC = """
### Serve a version registered outside Airflow

For versions registered by a notebook or another pipeline. **wait_new_version** (sensor, reschedule
mode, timeout) waits until MLflow has a READY version of `model` newer than the one `alias` points to;
then the same steps as `ml_train_register_and_reload` run (shared code): record `before_version`, set
the alias, reload, verify every replica, start the experiment, Slack, and `rollback_model` on failure.
Docs: `docs/dags.md`.
"""


@dag(
    dag_id="register_sensor_check",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=dag_tags("mlops", "serving", "sensor"),
    doc_md=DOC,
    params={
        "model": Param("iris", type="string", minLength=1, description="Registered model name to watch."),
        "alias": Param("challenger", type="string", minLength=1, description="Alias the new version gets."),
        "strategy": Param(
            "canary", type="string", enum=["canary", "ab", "bluegreen"], description="Strategy."
        ),
        "serving_model": Param(None, type=["null", "string"], description="Gateway model (default: model)."),
        "ab_weight": Param(
            50, type="integer", minimum=0, maximum=100, description="A/B: new version's weight."
        ),
        "min_replicas": Param(1, type="integer", minimum=1, description="Replicas that must serve it."),
        "verify_timeout_seconds": Param(60, type="number", minimum=1, description="How long verify waits."),
    },
    default_args=default_args(SETTINGS),
    **notify.dag_notifiers(SETTINGS),
)
def register_sensor_check() -> None:
    @task(retries=0)
    def validate_conf() -> dict[str, Any]:
        """Trigger form → plan; fails with one line naming the bad field."""
        conf = parse(SensorConf, dict(get_current_context()["params"]))
        serving_model = conf.serving_model or conf.model
        check_target(connections.gateway(SETTINGS), serving_model, conf.alias, conf.strategy, conf.model)
        return {**conf.model_dump(), "serving_model": serving_model}

    @task.sensor(
        mode="reschedule",
        poke_interval=SETTINGS.sensor_poke_seconds,
        timeout=SETTINGS.ready_timeout_seconds,
        retries=0,
    )
    def wait_new_version(plan: dict[str, Any]) -> PokeReturnValue:
        """Done when the newest READY version is newer than the alias's."""
        registry = connections.registry(SETTINGS)
        latest = registry.latest_ready(plan["model"])
        current = registry.alias_version(plan["model"], plan["alias"])
        newer = latest is not None and (current is None or int(latest.version) > int(current.version))
        target = None
        if newer:
            keys = (
                "model",
                "serving_model",
                "alias",
                "strategy",
                "ab_weight",
                "min_replicas",
                "verify_timeout_seconds",
            )
            metrics = {
                k.removeprefix("metric."): float(v) for k, v in latest.tags.items() if k.startswith("metric.")
            }
            target = {**{k: plan[k] for k in keys}, "version": latest.version, "metrics": metrics}
        return PokeReturnValue(is_done=newer, xcom_value=target)

    release_chain(SETTINGS, wait_new_version(validate_conf()))


register_sensor_check()
