"""Moving an alias to a new version and back: the steps every release DAG shares, as plain functions.

record before_version → set alias → reload → verify every replica → experiment; rollback restores
before_version (idempotent) and says exactly what serving is left with when it cannot.
"""

import logging
import time
from typing import Any

from mlops_dags.conf import RollbackConf
from mlops_dags.registry import Registry
from mlops_dags.serving import Gateway, ServingError, serving_state, variants_of, wait_until_served

log = logging.getLogger(__name__)


def check_target(
    gateway: Gateway, serving_model: str, alias: str, strategy: str | None, registered_model: str
) -> dict[str, Any]:
    """The gateway serves `serving_model` from `registered_model` with a variant on `alias` (and the
    strategy asked for): a release must never move an alias the gateway reads from another model."""
    try:
        status = gateway.status(serving_model)
    except ServingError as error:
        if "HTTP 404" in str(error):
            raise ServingError(
                f"invalid conf: serving_model: the gateway serves no model '{serving_model}'"
            ) from None
        raise
    served_from = status.get("registered_model")
    if served_from != registered_model:
        raise ServingError(
            f"invalid conf: serving_model: the gateway's model {serving_model} serves registered model "
            f"'{served_from}', not '{registered_model}' (set serving_model to the gateway's name for it)"
        )
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


def known_good_tag(alias: str) -> str:
    """Registered-model tag holding the last version a release verified on `alias`."""
    return f"mlops.known_good.{alias}"


def record_known_good(registry: Registry, model: str, alias: str, version: str) -> None:
    """Remember in MLflow that `version` served `alias` on every replica (rollback's fallback target)."""
    registry.set_model_tag(model, known_good_tag(alias), str(version))


def weights_without(current: dict[str, int], primary: list[str], names: list[str]) -> dict[str, int]:
    """Weights (sum 100) that give the variants in `names` nothing and keep the others' proportions.

    The first other variant takes the rounding remainder, or everything when the others had no weight."""
    others = [n for n in primary if n not in names]
    kept = {n: max(0, int(current.get(n, 0))) for n in others}
    spread = sum(kept.values())
    weights = {n: 0 for n in primary if n in names}
    if spread:
        weights |= {n: kept[n] * 100 // spread for n in others}
    else:
        weights |= {n: 0 for n in others}
    weights[others[0]] += 100 - sum(weights.values())
    return weights


def _hold_weights(
    gateway: Gateway, serving_model: str, names: list[str], weights: dict[str, int], settle: float = 3.0
) -> dict[str, int]:
    """Set weights that give `names` nothing and check that they hold.

    A canary controller that has not yet started on the variant's loaded version starts it (weights back to
    its first step) right after; setting the weights on a running canary pauses it. So: set, wait a few
    controller ticks, check, and set again when the controller moved first."""
    after: dict[str, int] = {}
    for _ in range(5):
        gateway.set_traffic(serving_model, weights)
        time.sleep(settle)
        after = gateway.status(serving_model).get("weights") or {}
        if not any(after.get(n, 0) for n in names):
            return after
    raise ServingError(f"the gateway keeps routing to {names} (weights {after}) after setting {weights}")


def _out_of_traffic(gateway: Gateway, serving_model: str, alias: str, version: str | None) -> str:
    """Route no traffic to the variants on `alias`; say what serves now, or raise when nothing else can."""
    try:
        status = gateway.status(serving_model)
    except ServingError as error:
        if "HTTP 404" in str(error):
            return f"alias removed; the gateway serves no model {serving_model}"
        raise
    names = variants_of(status, alias)
    primary = [v["name"] for v in status.get("variants", []) if not v.get("shadow")]
    others = [n for n in primary if n not in names]
    failed = f"v{version}" if version else "its last version"
    if status.get("strategy") == "bluegreen":
        if (status.get("bluegreen") or {}).get("active") in names:
            raise ServingError(
                f"alias {alias} removed in MLflow, but the active blue-green slot still serves {failed}: "
                f"no earlier version to restore; POST /v1/models/{serving_model}/switch to the other slot"
            )
        return f"alias removed; {failed} stays on the preview slot, which takes no traffic"
    if not others:
        raise ServingError(
            f"alias {alias} removed in MLflow, but the gateway still serves {failed} on {names}: there is no "
            "earlier version to restore and no other variant to take its traffic"
        )
    weights = weights_without(status.get("weights") or {}, primary, names)
    after = _hold_weights(gateway, serving_model, names, weights)
    return (
        f"alias removed; no earlier version to restore, so {', '.join(names)} ({failed}) gets no traffic "
        f"(weights {after}); the gateway keeps it loaded for X-Variant requests only"
    )


def rollback(registry: Registry, gateway: Gateway, conf: RollbackConf) -> dict[str, Any]:
    """Alias back to before_version, reload, verify every replica; idempotent.

    Without before_version (the alias was new): restore the last known-good version recorded in MLflow
    for the alias, else remove the alias and take its variants out of traffic. Raises ServingError naming
    what serving is left with when the restore does not complete."""
    serving_model = conf.serving_model or conf.model
    current = registry.alias_version(conf.model, conf.alias)
    moved_from = current.version if current else None
    target, known_good = conf.before_version, None
    if target is None:
        known_good = registry.model_tags(conf.model).get(known_good_tag(conf.alias))
        if known_good and known_good != moved_from:
            target = known_good
    result = {
        "model": conf.model,
        "alias": conf.alias,
        "restored": target,
        "known_good": known_good if target == known_good else None,
        "alias_was": moved_from,
        "changed": moved_from != target,
    }
    if target is None:
        registry.delete_alias(conf.model, conf.alias)
        return {**result, "serving": _out_of_traffic(gateway, serving_model, conf.alias, moved_from)}
    if moved_from != target:
        registry.set_alias(conf.model, conf.alias, target)
    try:
        reloaded = gateway.reload(serving_model, conf.alias)
        status = wait_until_served(
            gateway, serving_model, conf.alias, target, conf.min_replicas, conf.verify_timeout_seconds
        )
    except ServingError as error:
        try:
            state = serving_state(gateway.status(serving_model), conf.alias)
        except ServingError as status_error:
            state = f"gateway status unavailable: {status_error}"
        raise ServingError(
            f"rollback of {conf.model}@{conf.alias} to v{target} incomplete: {error}. "
            f"MLflow alias now v{target}; serving: {state}"
        ) from None
    return {**result, "reload": reloaded, "serving": serving_state(status, conf.alias)}
