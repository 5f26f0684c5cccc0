"""`register`: create a model version from a run, wait until READY, tag it and optionally alias it."""

import re
import time
from typing import Any

import mlflow
from loguru import logger
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from trainer.errors import ConfigError, RegistrationTimeout, TrackingError
from trainer.settings import TrainerSettings
from trainer.tracking import connect

ALIAS_PATTERN_HINT = "letters, digits, '_' and '-' (not 'latest' and not 'v<digits>')"
ALIAS_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def check_alias(alias: str) -> None:
    """Refuse an alias MLflow would refuse, before a version is created for it."""
    if not ALIAS_PATTERN.match(alias) or alias.lower() == "latest" or re.fullmatch(r"[vV]\d+", alias):
        raise ConfigError(f"--alias {alias!r}: not a valid MLflow alias (use {ALIAS_PATTERN_HINT})")


def wait_until_ready(client: MlflowClient, name: str, version: str, timeout: float) -> str:
    """Poll the version's status until READY; raise on FAILED_REGISTRATION or timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        status = client.get_model_version(name, version).status
        if status == "READY":
            return status
        if status == "FAILED_REGISTRATION":
            raise TrackingError(f"model {name} version {version} failed registration")
        if time.monotonic() >= deadline:
            raise RegistrationTimeout(
                f"model {name} version {version} is still {status} after {timeout:.0f}s; "
                "check the MLflow server and its artifact store, then rerun register"
            )
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


def register(
    run_id: str,
    name: str,
    settings: TrainerSettings,
    alias: str | None = None,
    tags: dict[str, str] | None = None,
    artifact_path: str = "model",
) -> dict[str, Any]:
    """Register runs:/<run_id>/<artifact_path> as a new version of `name`; return the result JSON."""
    if alias:
        check_alias(alias)
    client = connect(settings.mlflow_tracking_uri)
    try:
        run = client.get_run(run_id)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise ConfigError(f"--run-id {run_id}: no such MLflow run") from None
        raise TrackingError(f"MLflow refused get_run: {error.message}") from None
    version_tags = {**(tags or {})}
    version_tags.update({f"metric.{k}": f"{v:.6g}" for k, v in run.data.metrics.items()})
    for key in ("git_commit", "airflow_dag_run_id", "task", "dataset", "algorithm"):
        if key in run.data.tags:
            version_tags.setdefault(key, run.data.tags[key])
    if settings.airflow_dag_run_id:
        version_tags["airflow_dag_run_id"] = settings.airflow_dag_run_id
    source = f"runs:/{run_id}/{artifact_path}"
    # register_model resolves runs:/ URIs to the run's logged model (MLflow 3 stores models apart from runs).
    model_version = mlflow.register_model(source, name, await_registration_for=0, tags=version_tags)
    logger.info(f"created {name} version {model_version.version}; waiting for READY")
    status = wait_until_ready(client, name, model_version.version, settings.register_timeout_seconds)
    if alias:
        try:
            client.set_registered_model_alias(name, alias, model_version.version)
        except MlflowException as error:
            raise ConfigError(f"--alias {alias}: {error.message} (use {ALIAS_PATTERN_HINT})") from None
    return {
        "command": "register",
        "name": name,
        "version": model_version.version,
        "status": status,
        "run_id": run_id,
        "source": model_version.source,
        "alias": alias,
        "metrics": dict(run.data.metrics),
        "tracking_uri": settings.mlflow_tracking_uri,
    }
