"""Moving an alias to a new version and back: the steps every release DAG shares, as plain functions.

record before_version → set alias → reload → verify every replica → experiment; rollback restores
before_version (idempotent) and says exactly what serving is left with when it cannot.
"""

import logging
from typing import Any

from mlops_dags.conf import RollbackConf
from mlops_dags.registry import Registry
from mlops_dags.serving import Gateway, ServingError, serving_state, variants_of, wait_until_served

log = logging.getLogger(__name__)


def check_target(gateway: Gateway, serving_model: str, alias: str, strategy: str | None) -> dict[str, Any]:
    """The gateway serves `serving_model` with a variant on `alias` (and the strategy asked for)."""
    try:
        status = gateway.status(serving_model)
    except ServingError as error:
        if "HTTP 404" in str(error):
            raise ServingError(
                f"invalid conf: serving_model: the gateway serves no model '{serving_model}'"
            ) from None
        raise
    if not variants_of(status, alias):
        known = sorted({v["alias"] for v in status.get("variants", [])})
        raise ServingError(
            f"invalid conf: alias: model {serving_model} has no variant on alias '{alias}'; known: {known}"
        )
    if strategy and status.get("strategy") != strategy:
        raise ServingError(
            f"invalid conf: strategy: the gateway serves {serving_model} with '{status.get('strategy')}', "
            f"not '{strategy}' (the strategy is set in Git: charts/serving/values)"
        )
    return status


def record_before(registry: Registry, model: str, alias: str) -> str | None:
    """The version the alias points to now (None: the alias does not exist yet)."""
    current = registry.alias_version(model, alias)
    return current.version if current else None


def experiment(
    gateway: Gateway,
    serving_model: str,
    alias: str,
    version: str,
    strategy: str,
    ab_weight: int,
    timeout: float = 15.0,
) -> str:
    """Start the experiment the strategy calls for; return one line saying what runs now."""
    import time

    status = gateway.status(serving_model)
    names = variants_of(status, alias)
    if strategy == "ab":
        primary = [v["name"] for v in status["variants"] if not v.get("shadow")]
        others = [n for n in primary if n not in names]
        if len(primary) != 2 or not others or not names:
            return f"A/B: weights unchanged {status.get('weights')} (needs exactly two variants)"
        weights = {names[0]: ab_weight, others[0]: 100 - ab_weight}
        gateway.set_traffic(serving_model, weights)
        return f"A/B weights set to {weights}"
    if strategy == "bluegreen":
        blue = status.get("bluegreen", {})
        role = "preview" if blue.get("preview") in names else "active"
        switch = f"POST /v1/models/{serving_model}/switch"
        return f"blue-green: v{version} is the {role} slot; {switch} makes it active"
    canary = status.get("canary") or {}
    if canary.get("variant") not in names:
        return f"canary baseline now v{version}; weights {status.get('weights')}"
    deadline = time.monotonic() + timeout
    while canary.get("version") != version or canary.get("status") != "running":
        if time.monotonic() >= deadline:
            raise ServingError(
                f"the canary of {serving_model} did not start on v{version} within {timeout:.0f}s "
                f"(status {canary.get('status')}, version {canary.get('version')}, "
                f"reason {canary.get('reason')})"
            )
        time.sleep(0.5)
        canary = gateway.status(serving_model).get("canary") or {}
    return f"canary started: v{version} at {canary.get('weight')}% (steps {canary.get('steps')})"


def rollback(registry: Registry, gateway: Gateway, conf: RollbackConf) -> dict[str, Any]:
    """Alias back to before_version, reload, verify every replica; idempotent.

    Raises ServingError naming what serving is left with when the restore does not complete."""
    serving_model = conf.serving_model or conf.model
    current = registry.alias_version(conf.model, conf.alias)
    moved_from = current.version if current else None
    if conf.before_version is None:
        registry.delete_alias(conf.model, conf.alias)
    elif moved_from != conf.before_version:
        registry.set_alias(conf.model, conf.alias, conf.before_version)
    result = {
        "model": conf.model,
        "alias": conf.alias,
        "restored": conf.before_version,
        "alias_was": moved_from,
        "changed": moved_from != conf.before_version,
    }
    if conf.before_version is None:
        return {
            **result,
            "serving": "alias removed; nothing served before, the gateway keeps what it has loaded",
        }
    try:
        reloaded = gateway.reload(serving_model, conf.alias)
        status = wait_until_served(
            gateway,
            serving_model,
            conf.alias,
            conf.before_version,
            conf.min_replicas,
            conf.verify_timeout_seconds,
        )
    except ServingError as error:
        try:
            state = serving_state(gateway.status(serving_model), conf.alias)
        except ServingError as status_error:
            state = f"gateway status unavailable: {status_error}"
        raise ServingError(
            f"rollback of {conf.model}@{conf.alias} to v{conf.before_version} incomplete: {error}. "
            f"MLflow alias now v{conf.before_version}; serving: {state}"
        ) from None
    return {**result, "reload": reloaded, "serving": serving_state(status, conf.alias)}
