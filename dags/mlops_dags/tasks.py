"""TaskFlow tasks the DAGs share: the release chain (alias → reload → verify → experiment → Slack) and
its rollback, and the READY sensor. One definition, used by every DAG that moves an alias."""

import logging
from datetime import timedelta
from typing import Any

from airflow.sdk import PokeReturnValue, TriggerRule, get_current_context, task

from mlops_dags import connections, notify
from mlops_dags.conf import RollbackConf, parse
from mlops_dags.explore import logs_text
from mlops_dags.release import experiment, record_before, record_known_good, rollback, wait_until_served
from mlops_dags.settings import DagSettings

log = logging.getLogger(__name__)


def default_args(settings: DagSettings) -> dict[str, Any]:
    """Owner, retries and the per-task failure notifier of every MLOps DAG."""
    return {
        "owner": "ml-platform",
        "retries": settings.retries,
        "retry_delay": timedelta(seconds=settings.retry_delay_seconds),
        "on_failure_callback": [notify.task_failure_notifier(settings)],
    }


def _actor() -> str:
    context = get_current_context()
    return f"airflow:{context['dag'].dag_id}/{context['run_id']}"


def ready_sensor(settings: DagSettings, registered: Any):
    """Wait (reschedule mode, poke every MLOPS_SENSOR_POKE_SECONDS, timeout) until the version is READY."""

    @task.sensor(
        task_id="wait_ready",
        mode="reschedule",
        poke_interval=settings.sensor_poke_seconds,
        timeout=settings.ready_timeout_seconds,
        retries=0,
    )
    def wait_ready(version: dict[str, Any]) -> PokeReturnValue:
        """READY: done; FAILED_REGISTRATION: fail now; anything else: poke again later."""
        current = connections.registry(settings).version(version["name"], str(version["version"]))
        if current.status == "FAILED_REGISTRATION":
            raise RuntimeError(f"model {current.name} version {current.version} failed registration")
        log.info("%s v%s is %s", current.name, current.version, current.status)
        return PokeReturnValue(
            is_done=current.status == "READY", xcom_value={**version, "status": current.status}
        )

    return wait_ready(registered)


def release_chain(settings: DagSettings, target: Any) -> Any:
    """record before_version → set alias → reload → verify → experiment → Slack, and the rollback branch.

    `target` (an XComArg) carries model, serving_model, alias, version, strategy, ab_weight, min_replicas,
    verify_timeout_seconds and metrics. Returns the summary task's XComArg."""

    @task(retries=0)
    def record_before_version(target: dict[str, Any]) -> dict[str, Any]:
        """Remember which version the alias points to before anything moves (rollback's target)."""
        before = record_before(connections.registry(settings), target["model"], target["alias"])
        log.info("%s@%s is v%s before this run", target["model"], target["alias"], before)
        return {**target, "before_version": before}

    @task
    def set_alias(release: dict[str, Any]) -> dict[str, Any]:
        """Point the alias at the new version in MLflow (the gateway follows the alias)."""
        connections.registry(settings).set_alias(release["model"], release["alias"], release["version"])
        return release

    @task
    def reload(release: dict[str, Any]) -> dict[str, Any]:
        """POST /variant/{alias}/reload: load, warm up and swap in the new version."""
        result = connections.gateway(settings, _actor()).reload(release["serving_model"], release["alias"])
        if str(result["version"]) != str(release["version"]):
            raise RuntimeError(
                f"the gateway resolved {release['alias']} to v{result['version']}, not v{release['version']}"
            )
        return result

    @task(retries=0)
    def verify(release: dict[str, Any], reloaded: dict[str, Any]) -> str:
        """Every alive replica reports the new version for the alias (and at least min_replicas do)."""
        gateway = connections.gateway(settings, _actor())
        status = wait_until_served(
            gateway,
            release["serving_model"],
            release["alias"],
            str(release["version"]),
            release["min_replicas"],
            release["verify_timeout_seconds"],
        )
        alive = [r["replica_id"] for r in status["replicas"] if r.get("alive")]
        return f"{len(alive)} replica(s) serve v{release['version']}: {', '.join(alive)}"

    @task(retries=0)
    def start_experiment(release: dict[str, Any], verified: str) -> str:
        """Canary start, A/B weights or blue-green preview, by strategy."""
        gateway = connections.gateway(settings, _actor())
        return experiment(
            gateway,
            release["serving_model"],
            release["alias"],
            str(release["version"]),
            release["strategy"],
            release["ab_weight"],
        )

    @task(retries=0)
    def summary(release: dict[str, Any], verified: str, started: str) -> dict[str, Any]:
        """Record the version as the alias's last known-good in MLflow; Slack: model, version, metrics."""
        context = get_current_context()
        record_known_good(
            connections.registry(settings), release["model"], release["alias"], release["version"]
        )
        before = release.get("before_version")
        metrics = notify.metrics_text(release.get("metrics", {}))
        text = (
            f":rocket: {release['model']} v{release['version']} serves on alias {release['alias']} "
            f"(was {'v' + before if before else 'nothing'}); {metrics}; "
            f"{verified}; {started}. {settings.run_link(context['dag'].dag_id, context['run_id'])}"
        )
        notify.post(settings, text, context)
        return {**release, "verified": verified, "experiment": started}

    @task.short_circuit(trigger_rule=TriggerRule.ONE_FAILED, retries=0, ignore_downstream_trigger_rules=False)
    def needs_rollback() -> dict[str, Any] | bool:
        """After a failure: roll back only when before_version was recorded (the alias may have moved)."""
        release = get_current_context()["ti"].xcom_pull(task_ids="record_before_version")
        if not release:
            log.info("before_version was never recorded: the alias did not move, nothing to roll back")
            return False
        return {
            "model": release["model"],
            "serving_model": release["serving_model"],
            "alias": release["alias"],
            "before_version": release.get("before_version"),
            "min_replicas": release["min_replicas"],
            "verify_timeout_seconds": release["verify_timeout_seconds"],
            "reason": f"release of v{release['version']} failed",
        }

    recorded = record_before_version(target)
    moved = set_alias(recorded)
    reloaded = reload(moved)
    verified = verify(moved, reloaded)
    started = start_experiment(moved, verified)
    done = summary(moved, verified, started)
    rollback_conf = needs_rollback()
    [moved, reloaded, verified, started] >> rollback_conf
    rollback_task(settings, rollback_conf)
    return done


def rollback_task(settings: DagSettings, conf: Any) -> Any:
    """Start rollback_model as its own DAG run and wait for it (deferrable: no worker slot while waiting).

    The same in both runtimes: wherever a scheduler runs, the rollback is a separate, visible DAG run."""
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    return TriggerDagRunOperator(
        task_id="trigger_rollback_model",
        trigger_dag_id="rollback_model",
        conf=conf,
        wait_for_completion=True,
        deferrable=True,
        poke_interval=settings.rollback_poke_seconds,
        retries=0,
    )


def run_rollback(settings: DagSettings, params: dict[str, Any]) -> dict[str, Any]:
    """Validate the conf, roll back, post the outcome to Slack (also when it fails)."""
    context = get_current_context()
    conf = parse(RollbackConf, params)
    link = settings.run_link(context["dag"].dag_id, context["run_id"]) + logs_text(settings, context)
    try:
        result = rollback(connections.registry(settings), connections.gateway(settings, _actor()), conf)
    except Exception as error:
        notify.post(
            settings,
            f":rotating_light: ROLLBACK FAILED for {conf.model}@{conf.alias}: {error} {link}",
            context,
        )
        raise
    if result["known_good"]:
        restored = f"v{result['restored']} (no before_version: the last known-good recorded in MLflow)"
    elif result["restored"]:
        restored = f"v{result['restored']}"
    else:
        restored = "no version (alias removed)"
    notify.post(
        settings,
        f":leftwards_arrow_with_hook: rolled back {conf.model}@{conf.alias} to {restored} "
        f"({'alias was v' + str(result['alias_was']) if result['changed'] else 'already there'}; "
        f"{conf.reason or 'manual'}); {result['serving']}. {link}",
        context,
    )
    return result
