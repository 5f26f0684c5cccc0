"""The rollout controller: compare-and-set transitions of the rollout record, and the leader's loop.

Any replica may apply a transition that needs no side effect (reload, traffic, switch, starting a
promotion or a rollback). The leader (the replica holding the lease) does the rest, resumable after
a crash because every step is recorded first: moving aliases in MLflow for an operation, deciding
that the fleet converged, compensating (alias moved back, recorded, Slack) when the fleet cannot load
the new version, canary steps on the fleet's merged windows, and reconciling the record with MLflow
when an alias was moved there directly (`serving.aliases`).
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any, Protocol

from loguru import logger

from serving import canary as gates
from serving import rollout
from serving.aliases import AliasReconciler
from serving.clock import Clock
from serving.config import ModelConfig, ServingConfig
from serving.errors import NotFound, ServingError, Unavailable
from serving.events import EventLog
from serving.record import Operation, RolloutRecord
from serving.repository import ModelRepository
from serving.rollout import Change
from serving.store import STORE_ERRORS, Store, store_reason
from serving.sync import StateSync

MAX_ATTEMPTS = 20


class AliasWriter(Protocol):
    """What the controller needs of the registry to move aliases."""

    def set_alias(self, registered_model: str, alias: str, version: str) -> None: ...

    def delete_alias(self, registered_model: str, alias: str) -> None: ...


class LostLeadership(Exception):
    """Another replica leads with a newer term: this one must stop acting."""


class RolloutController:
    """Transitions for every replica; the leader's duties in `lead`."""

    def __init__(
        self,
        config: ServingConfig,
        store: Store,
        registry: AliasWriter,
        repository: ModelRepository,
        sync: StateSync,
        events: EventLog,
        clock: Clock,
    ) -> None:
        self.config = config
        self.models = {m.name: m for m in config.models}
        self.store = store
        self.registry = registry
        self.repository = repository
        self.sync = sync
        self.events = events
        self.clock = clock
        self._next_reconcile = 0.0
        self.aliases = AliasReconciler(config, repository, sync, self.transact, clock)

    def model(self, name: str) -> ModelConfig:
        """A configured model, or 404."""
        found = self.models.get(name)
        if found is None:
            raise NotFound(f"model {name!r} is not served here; known: {', '.join(self.models)}")
        return found

    # -- compare-and-set ---------------------------------------------------------------------------------
    async def transact(self, model: str, change: Change, term: int | None = None) -> RolloutRecord:
        """Read the record, apply `change` to a copy, write it back if the revision held; retry on a
        lost race. Publishes the change's events once written; 503 while the store is unreachable."""
        config = self.model(model)
        for _ in range(MAX_ATTEMPTS):
            try:
                current = await self.store.run(self.store.read, model)
                if current is None:
                    current = await self.store.run(self.store.init, rollout.initial_record(config))
            except STORE_ERRORS as error:
                raise _store_down(error) from None
            if term is not None and current.term > term:
                raise LostLeadership(f"term {current.term} leads, this replica has {term}")
            candidate = current.copy()
            if term is not None:
                candidate.term = term
            events = change(candidate)
            if candidate == current:
                self.sync.apply(current)
                return current
            try:
                revision = await self.store.run(self.store.write, candidate)
            except STORE_ERRORS as error:
                raise _store_down(error) from None
            if revision is not None:
                candidate.revision = revision
                self.sync.apply(candidate)
                for event in events:
                    kind = event.pop("type")
                    self.events.publish(kind, model, **event)
                return candidate
        raise Unavailable(f"the rollout record of {model} changed {MAX_ATTEMPTS} times in a row; retry")

    # -- the leader ------------------------------------------------------------------------------------
    async def lead(self) -> None:
        """One round of the leader's duties for every model whose lease this replica holds."""
        reconcile = self.clock.monotonic() >= self._next_reconcile
        if reconcile:
            self._next_reconcile = self.clock.monotonic() + self.config.resolve_interval_seconds
        for config in self.config.models:
            if not self.sync.leads(config.name):
                continue
            try:
                await self._lead_model(config, reconcile)
            except LostLeadership as error:
                logger.warning("stepping down from {}: {}", config.name, error)
                self.sync.step_down(config.name)

    async def _lead_model(self, config: ModelConfig, reconcile: bool) -> None:
        term = self.sync.term(config.name)
        try:
            record = await self.store.run(self.store.read, config.name)
        except STORE_ERRORS:
            return
        if record is None:
            return
        if record.term > term:
            raise LostLeadership(f"term {record.term} leads, this replica has {term}")
        try:
            if record.term < term:  # fence: replicas that led before this term can no longer write
                record = await self.transact(config.name, lambda r: [], term)
            if record.operation is not None:
                await self._advance(config, record.operation, term)
            elif config.strategy == "canary":
                await self._canary(config, record, term)
            if reconcile:
                await self.aliases.reconcile(config, term)
        except Unavailable as error:
            logger.warning("controller round for {} incomplete: {}", config.name, error.message)

    # -- operations --------------------------------------------------------------------------------------
    async def _advance(self, config: ModelConfig, op: Operation, term: int) -> None:
        now = self.clock.now()
        same = partial(_same_operation, op)
        if op.phase == "mlflow":
            if now > op.deadline:
                reason = f"MLflow did not take alias {op.alias} → v{op.to_version} in time"
                await self.transact(
                    config.name, same(lambda r: rollout.op_compensate(config, r, reason, now)), term
                )
            elif await self._set_alias(config, op.alias, op.to_version):
                await self.transact(config.name, same(lambda r: rollout.op_applied(config, r, now)), term)
        elif op.phase == "converge":
            failure = self._load_failure(config, op)
            if failure is None and now > op.deadline:
                limit = self.config.operation_timeout_seconds
                failure = f"the fleet did not load v{op.to_version} within {limit:g}s"
            if failure is not None:
                await self.transact(
                    config.name, same(lambda r: rollout.op_compensate(config, r, failure, now)), term
                )
            elif self._converged(config, op):
                await self.transact(config.name, same(lambda r: rollout.op_converged(config, r, now)), term)
        elif await self._set_alias(config, op.alias, op.from_version):
            await self.transact(config.name, same(lambda r: rollout.op_compensated(r, now)), term)

    async def _set_alias(self, config: ModelConfig, alias: str, version: str | None) -> bool:
        try:
            if version is None:
                await asyncio.to_thread(self.registry.delete_alias, config.registered_model, alias)
            else:
                await asyncio.to_thread(self.registry.set_alias, config.registered_model, alias, version)
        except ServingError as error:
            logger.warning("cannot move {} alias {} to v{}: {}", config.name, alias, version, error.message)
            return False
        return True

    def _variants_of(self, config: ModelConfig, alias: str) -> list[str]:
        return [v.name for v in config.variants if v.alias == alias]

    def _load_failure(self, config: ModelConfig, op: Operation) -> str | None:
        """Why the fleet cannot serve the operation's version: since the alias moved, this replica
        failed to load it, or another replica failed at least twice in a row."""
        since = op.applied_at or op.started_at
        own = self.repository.slots.get((config.name, op.alias))
        failure = own.failure if own is not None else None
        if failure is not None and failure.version == op.to_version and failure.failed_at >= since:
            return f"{self.sync.replica}: {failure.reason}"
        for row in self.sync.alive():
            seen = row["state"].get("models", {}).get(config.name, {}).get("failures", {}).get(op.alias)
            if (
                seen
                and seen.get("version") == op.to_version
                and seen.get("attempts", 0) >= 2
                and seen.get("failed_at", 0.0) >= since
            ):
                return f"{row['replica']}: {seen.get('reason')}"
        return None

    def _converged(self, config: ModelConfig, op: Operation) -> bool:
        names = self._variants_of(config, op.alias)
        own = self.repository.slots.get((config.name, op.alias))
        if own is None or own.served != op.to_version:
            return False
        for row in self.sync.alive():
            versions = row["state"].get("models", {}).get(config.name, {}).get("versions")
            if versions is not None and any(versions.get(n) != op.to_version for n in names):
                return False
        return True

    # -- canary ------------------------------------------------------------------------------------------
    async def _canary(self, config: ModelConfig, record: RolloutRecord, term: int) -> None:
        assert config.canary is not None
        state = record.canary
        if state.status != "running":
            return
        baseline_alias = rollout.alias_of(config, config.baseline_variant)
        canary = self.sync.fleet_summary(config.name, config.canary_variant, state.version)
        baseline = self.sync.fleet_summary(
            config.name, config.baseline_variant, record.aliases.get(baseline_alias)
        )
        now = self.clock.now()
        decision = gates.decide(state, now, canary, baseline, config.canary)
        self.repository.metrics.gate_decisions.labels(config.name, decision.action).inc()
        if decision.action == "wait":
            return
        figures: dict[str, Any] = {"canary": canary.brief(), "baseline": baseline.brief()}

        def step(record: RolloutRecord) -> rollout.Events:
            current = record.canary
            if (current.rollout, current.step, current.status) != (state.rollout, state.step, "running"):
                return []  # the canary moved since the decision was taken
            if decision.action == "promote":
                events = rollout.begin_promote(
                    config, record, None, "canary", now, self.config.operation_timeout_seconds
                )
                return [{"type": "canary_promote", "reason": decision.reason, **figures}, *events]
            events = rollout.canary_step(config, record, decision.action, decision.reason, now)
            events[0].update(figures)
            return events

        await self.transact(config.name, step, term)
        logger.info("canary {} of {}: {}", decision.action, config.name, decision.reason)


def _store_down(error: BaseException) -> Unavailable:
    return Unavailable("state store unavailable; retry later", detail=f"state store: {store_reason(error)}")


def _same_operation(op: Operation, change: Change) -> Change:
    """`change`, applied only while the record still has operation `op` in the same phase."""

    def guarded(record: RolloutRecord) -> rollout.Events:
        current = record.operation
        if current is None or current.id != op.id or current.phase != op.phase:
            return []
        return change(record)

    return guarded
