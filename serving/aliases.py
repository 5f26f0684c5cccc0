"""Aliases and MLflow: first versions of aliases nobody recorded yet, and aliases moved in MLflow directly.

Any replica adopts the first version of an alias the record does not have (a first release, or a start
without the store, where it is adopted locally until the store is back). The leader compares every
recorded alias with MLflow every `resolve_interval_seconds` and records a move made there directly,
unless the record changed meanwhile or an operation owns the alias.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from functools import partial

from loguru import logger

from serving import rollout
from serving.clock import Clock
from serving.config import ModelConfig, ServingConfig
from serving.errors import NotFound, ServingError
from serving.record import RolloutRecord
from serving.repository import ModelRepository
from serving.sync import StateSync

Transact = Callable[..., Awaitable[RolloutRecord]]


class AliasReconciler:
    """Keeps the record's aliases and MLflow's in step."""

    def __init__(
        self,
        config: ServingConfig,
        repository: ModelRepository,
        sync: StateSync,
        transact: Transact,
        clock: Clock,
    ) -> None:
        self.config = config
        self.models = {m.name: m for m in config.models}
        self.repository = repository
        self.sync = sync
        self.transact = transact
        self.clock = clock
        self._next_discover: dict[tuple[str, str], float] = {}

    async def discover(self) -> None:
        """Resolve aliases the record has no version for (first release, or a start without the store)."""
        now = self.clock.monotonic()
        for name, config in self.models.items():
            record = self.sync.records.get(name)
            if record is None:
                continue
            due = [
                alias
                for alias in _aliases(config)
                if alias not in record.aliases and self._next_discover.get((name, alias), 0.0) <= now
            ]
            found = {
                alias: version for alias in due if (version := await self._resolve_new(config, alias, now))
            }
            if not found:
                continue
            if self.sync.degraded is not None:
                for alias, version in found.items():
                    self.sync.adopt_local(name, alias, version)
                continue
            with contextlib.suppress(ServingError):
                await self.transact(name, partial(self._adopt_first, config, found))

    async def _resolve_new(self, config: ModelConfig, alias: str, now: float) -> str | None:
        key = (config.name, alias)
        try:
            version = await self.repository.resolve(config.name, alias)
        except NotFound as error:
            self.sync.absent[key] = error.message
            self.sync.unresolved.pop(key, None)
            self._next_discover[key] = now + self.config.resolve_interval_seconds
            return None
        except ServingError as error:
            self.sync.unresolved[key] = error.message
            self._next_discover[key] = now + self.config.retry_interval_seconds
            return None
        self.sync.absent.pop(key, None)
        self.sync.unresolved.pop(key, None)
        self._next_discover[key] = now + self.config.retry_interval_seconds
        return version

    def _adopt_first(
        self, config: ModelConfig, found: dict[str, str], record: RolloutRecord
    ) -> rollout.Events:
        events: rollout.Events = []
        for alias, version in found.items():  # in `_aliases` order: the baseline before the canary
            events += self._adopt(config, alias, None, version, record)
        return events

    def _adopt(
        self, config: ModelConfig, alias: str, seen: str | None, version: str, record: RolloutRecord
    ) -> rollout.Events:
        if record.aliases.get(alias) != seen or (record.operation and record.operation.alias == alias):
            return []  # the record moved since MLflow was asked: that newer decision stands
        events = rollout.move_alias(config, record, alias, version, "resolver", "resolver", self.clock.now())
        if seen is not None:
            events.insert(
                0, {"type": "alias_moved", "alias": alias, "from_version": seen, "to_version": version}
            )
        return events

    async def reconcile(self, config: ModelConfig, term: int) -> None:
        """Leader: record the version of every alias someone moved in MLflow directly (`alias_moved`)."""
        for alias in sorted({v.alias for v in config.variants}):
            record = self.sync.records.get(config.name)
            seen = record.aliases.get(alias) if record else None
            if seen is None:
                continue  # `discover` adopts first versions
            try:
                version = await self.repository.resolve(config.name, alias)
            except ServingError:
                continue  # missing or unreachable: the record keeps what it has
            if version != seen:
                logger.warning("{} alias {} moved in MLflow: v{} → v{}", config.name, alias, seen, version)
                await self.transact(config.name, partial(self._adopt, config, alias, seen, version), term)


def _aliases(config: ModelConfig) -> list[str]:
    """The model's aliases in config order, a canary's baseline first."""
    names = [v.alias for v in config.variants]
    if config.strategy == "canary":
        baseline = rollout.alias_of(config, config.baseline_variant)
        names.remove(baseline)
        names.insert(0, baseline)
    return list(dict.fromkeys(names))
