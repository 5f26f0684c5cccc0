"""Transitions of the rollout record: pure functions that check a request and change a record copy.

The caller (admin service or leader) reads the record, applies one transition to a copy and writes it
back with compare-and-set; on a lost race it reads again and re-applies, so a transition always acts
on the newest state. Each returns the events it causes (published only once the write won).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from serving.config import ModelConfig
from serving.errors import Conflict, Invalid, NotFound
from serving.record import CanaryState, Move, Operation, Outcome, RolloutRecord

Events = list[dict[str, Any]]
Change = Callable[[RolloutRecord], Events]


def primary(config: ModelConfig) -> list[str]:
    """Names of the variants that take traffic, in config order."""
    return [v.name for v in config.primary_variants]


def alias_of(config: ModelConfig, variant: str) -> str:
    """The MLflow alias a variant serves."""
    found = config.variant(variant)
    if found is None:
        raise NotFound(f"model {config.name!r} has no variant {variant!r}")
    return found.alias


def initial_weights(config: ModelConfig) -> dict[str, int]:
    """Weights of the non-shadow variants from the config (blue-green: 100 on the active slot)."""
    weights = config.initial_weights()
    return {name: int(weights.get(name, 0)) for name in primary(config)}


def initial_record(config: ModelConfig) -> RolloutRecord:
    """The record of a model the store has never seen."""
    active = config.bluegreen.active if config.bluegreen else None
    return RolloutRecord(model=config.name, weights=initial_weights(config), active=active)


def _busy(record: RolloutRecord, alias: str | None = None) -> None:
    op = record.operation
    if op is not None and (alias is None or op.alias == alias):
        raise Conflict(
            f"a {op.kind} of {record.model} alias {op.alias} (v{op.from_version} → v{op.to_version}) "
            f"is in progress (phase {op.phase}); retry when it is done"
        )


# -- alias moves and the canary start ---------------------------------------------------------------------
def move_alias(
    config: ModelConfig, record: RolloutRecord, alias: str, version: str, kind: str, actor: str, now: float
) -> Events:
    """Point `alias` at `version` (a reload or an alias moved in MLflow); a new canary version starts
    the canary. No change, no move: a replica loading what the record already says records nothing."""
    _busy(record, alias)
    current = record.aliases.get(alias)
    if current == version:
        return []
    record.aliases[alias] = version
    if current is not None:
        record.push_move(alias, current, version, kind, actor, now)
    return _canary_follows(config, record, alias, version, now, actor)


def _canary_follows(
    config: ModelConfig, record: RolloutRecord, alias: str, version: str, now: float, actor: str
) -> Events:
    if config.strategy != "canary" or config.canary is None:
        return []
    canary_alias = alias_of(config, config.canary_variant)
    if alias != canary_alias or canary_alias == alias_of(config, config.baseline_variant):
        return []
    baseline = record.aliases.get(alias_of(config, config.baseline_variant))
    if baseline is None:
        return []  # nothing to compare with yet
    if version == baseline:
        if record.canary.status in ("running", "manual"):
            record.canary.status = "idle"
            record.canary.reason = f"the canary alias serves the baseline version {version}"
        return []
    if record.canary.version == version:
        return []  # this version had its rollout already: never a second start
    step = config.canary.steps[0]
    record.canary = CanaryState(
        status="running",
        step=0,
        step_started=now,
        version=version,
        reason=f"new canary version {version}",
        rollout=record.canary.rollout + 1,
    )
    record.weights = {config.baseline_variant: 100 - step, config.canary_variant: step}
    return [
        {
            "type": "canary_start",
            "variant": config.canary_variant,
            "version": version,
            "step": 0,
            "weight": step,
            "rollout": record.canary.rollout,
            "actor": actor,
        }
    ]


# -- traffic and blue-green ----------------------------------------------------------------------------
def set_weights(config: ModelConfig, record: RolloutRecord, weights: dict[str, int], actor: str) -> Events:
    """New weights for the non-shadow variants (sum 100); a running canary pauses (`manual`)."""
    if config.strategy == "bluegreen":
        raise Conflict("blue-green models take all traffic on the active slot: use /switch")
    names = primary(config)
    unknown = [name for name in weights if name not in names]
    if unknown:
        raise Invalid(f"unknown or shadow variant {unknown[0]!r}; weights go to: {', '.join(names)}")
    if any(w < 0 or w > 100 for w in weights.values()):
        raise Invalid("every weight must be between 0 and 100")
    if sum(weights.values()) != 100:
        raise Invalid(f"weights must sum to 100, got {sum(weights.values())}")
    full = {name: int(weights.get(name, 0)) for name in names}
    previous = dict(record.weights)
    record.weights = full
    if config.strategy == "canary" and record.canary.status == "running":
        record.canary.status = "manual"
        record.canary.reason = f"weights set by {actor}"
    return [{"type": "traffic", "weights": full, "previous": previous, "actor": actor}]


def switch(config: ModelConfig, record: RolloutRecord, actor: str) -> Events:
    """Blue-green: the preview slot becomes active (compare-and-set: two switches swap twice)."""
    if config.strategy != "bluegreen" or config.bluegreen is None:
        raise Conflict(f"model {config.name!r} uses strategy {config.strategy}, not bluegreen")
    _busy(record)
    active = record.active or config.bluegreen.active
    slots = (config.bluegreen.active, config.bluegreen.preview)
    new_active = slots[1] if active == slots[0] else slots[0]
    if record.aliases.get(alias_of(config, new_active)) is None:
        raise Conflict(f"slot {new_active!r} has no version yet (alias {alias_of(config, new_active)})")
    record.active = new_active
    return [{"type": "switch", "active": new_active, "preview": active, "actor": actor}]


# -- promotion and rollback (operations the leader carries out) ----------------------------------------
def promotion_pair(config: ModelConfig, variant: str | None) -> tuple[str, str]:
    """(target variant whose version is promoted, champion variant whose alias moves)."""
    names = primary(config)
    if variant is not None:
        alias_of(config, variant)
        target = variant
    elif config.strategy == "canary":
        target = config.canary_variant
    else:
        challengers = [v.name for v in config.variants if v.alias == "challenger"]
        target = challengers[0] if challengers else names[-1]
    if config.strategy == "canary":
        champion = config.baseline_variant
    else:
        champions = [v.name for v in config.primary_variants if v.alias == "champion" and v.name != target]
        champion = champions[0] if champions else names[0]
    if champion == target:
        raise Conflict(f"variant {target!r} already is the champion")
    return target, champion


def _snapshot(record: RolloutRecord) -> dict[str, Any]:
    return {"weights": dict(record.weights), "active": record.active, "canary": asdict(record.canary)}


def begin_promote(
    config: ModelConfig, record: RolloutRecord, variant: str | None, actor: str, now: float, timeout: float
) -> Events:
    """Start a promotion: the champion's alias is to move to the target variant's version."""
    _busy(record)
    target, champion = promotion_pair(config, variant)
    to_version = record.aliases.get(alias_of(config, target))
    if to_version is None:
        raise Conflict(f"variant {target!r} has no version to promote")
    alias = alias_of(config, champion)
    from_version = record.aliases.get(alias)
    if from_version == to_version:
        raise Conflict(f"{champion!r} (alias {alias}) already serves version {to_version}")
    op = Operation(
        record.next_id(), "promote", alias, from_version, to_version, actor, now, now + timeout,
        variant=target, restore=_snapshot(record),
    )  # fmt: skip
    record.operation = op
    if config.strategy == "canary":
        record.canary.status = "promoting"
        record.canary.reason = f"promotion of v{to_version} by {actor}"
    return [{"type": "promotion_started", **_op_detail(op)}]


def begin_rollback(
    config: ModelConfig, record: RolloutRecord, alias: str | None, actor: str, now: float, timeout: float
) -> Events:
    """Start a rollback of the last move (of `alias`, when given): the alias goes back to its `from`."""
    _busy(record)
    if alias is not None and alias not in {v.alias for v in config.variants}:
        raise NotFound(f"model {config.name!r} has no variant with alias {alias!r}")
    moves = [m for m in record.moves if alias is None or m.alias == alias]
    if not moves:
        raise Conflict(f"nothing to roll back for {config.name}" + (f" alias {alias}" if alias else ""))
    move = moves[-1]
    op = Operation(
        record.next_id(), "rollback", move.alias, record.aliases.get(move.alias), move.from_version, actor,
        now, now + timeout, undo_move=move.id, restore={**_snapshot(record), "move": asdict(move)},
    )  # fmt: skip
    record.operation = op
    return [{"type": "rollback_started", **_op_detail(op)}]


def _op_detail(op: Operation) -> dict[str, Any]:
    return {
        "operation": op.id,
        "alias": op.alias,
        "from_version": op.from_version,
        "to_version": op.to_version,
        "variant": op.variant,
        "actor": op.actor,
    }


def op_applied(config: ModelConfig, record: RolloutRecord, now: float) -> Events:
    """MLflow now says `to_version`: the record follows and the fleet starts loading it."""
    op = record.operation
    assert op is not None and op.phase == "mlflow"
    current = record.aliases.get(op.alias)
    record.aliases[op.alias] = op.to_version
    if op.kind == "promote":
        if current is not None and current != op.to_version:
            pushed = record.push_move(op.alias, current, op.to_version, "promote", op.actor, now)
            op.restore["pushed"] = pushed.id
        if config.strategy != "bluegreen":
            record.weights = initial_weights(config)
    else:
        record.moves = [m for m in record.moves if m.id != op.undo_move]
        if config.strategy == "canary":
            canary_alias = alias_of(config, config.canary_variant)
            record.weights = {config.baseline_variant: 100, config.canary_variant: 0}
            record.canary.status = "rolled_back"
            record.canary.version = record.aliases.get(canary_alias)
            record.canary.reason = f"rolled back by {op.actor}"
    op.phase = "converge"
    op.applied_at = now
    return []


def op_converged(config: ModelConfig, record: RolloutRecord, now: float) -> Events:
    """Every live replica serves `to_version`: the operation is done."""
    op = record.operation
    assert op is not None and op.phase == "converge"
    record.operation = None
    record.last_operation = Outcome(
        op.id, op.kind, op.alias, op.from_version, op.to_version, "done", None, now
    )
    if op.kind == "promote":
        if config.strategy == "canary":
            record.canary.status = "promoted"
            record.canary.version = op.to_version
            record.canary.reason = f"promoted by {op.actor}"
        if config.strategy == "bluegreen":
            record.active = next(v.name for v in config.primary_variants if v.alias == op.alias)
    kind = "promotion" if op.kind == "promote" else "rollback"
    return [{"type": kind, **_op_detail(op)}]


def op_compensate(config: ModelConfig, record: RolloutRecord, reason: str, now: float) -> Events:
    """The operation failed: the record goes back to before it; MLflow follows (`op_compensated`)."""
    op = record.operation
    assert op is not None and op.phase in ("mlflow", "converge")
    if op.phase == "converge":
        if op.from_version is None:
            record.aliases.pop(op.alias, None)
        else:
            record.aliases[op.alias] = op.from_version
        if "pushed" in op.restore:
            record.moves = [m for m in record.moves if m.id != op.restore["pushed"]]
        if "move" in op.restore:
            record.moves.append(Move(**op.restore["move"]))
            record.moves.sort(key=lambda m: m.id)
    record.weights = dict(op.restore["weights"])
    record.active = op.restore["active"]
    record.canary = CanaryState(**op.restore["canary"])
    if op.kind == "promote" and config.strategy == "canary":
        record.canary.status = "running"
        record.canary.step_started = now  # a new try after one more interval with passing gates
        record.canary.reason = f"promotion failed: {reason}"
    op.phase = "compensate"
    op.reason = reason
    return [{"type": f"{op.kind}_failed", "reason": reason, **_op_detail(op)}]


def op_compensated(record: RolloutRecord, now: float) -> Events:
    """MLflow points the alias back at `from_version`: the failed operation is closed."""
    op = record.operation
    assert op is not None and op.phase == "compensate"
    record.operation = None
    record.last_operation = Outcome(
        op.id, op.kind, op.alias, op.from_version, op.to_version, "compensated", op.reason, now
    )
    return [{"type": f"{op.kind}_compensated", "reason": op.reason, **_op_detail(op)}]


# -- canary steps ----------------------------------------------------------------------------------------
def canary_step(config: ModelConfig, record: RolloutRecord, action: str, reason: str, now: float) -> Events:
    """Apply a canary decision: `abort` or `advance` (promotion goes through `begin_promote`)."""
    assert config.canary is not None and action in ("abort", "advance")
    state = record.canary
    if action == "abort":
        weight = 0
        state.status = "aborted"
    else:
        state.step += 1
        weight = config.canary.steps[state.step]
    state.step_started = now
    state.reason = reason
    record.weights = {config.baseline_variant: 100 - weight, config.canary_variant: weight}
    return [
        {
            "type": f"canary_{action}",
            "variant": config.canary_variant,
            "version": state.version,
            "step": state.step,
            "weight": weight,
            "reason": reason,
            "rollout": state.rollout,
        }
    ]
