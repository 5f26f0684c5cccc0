"""Admin service: every admin action, checked, written to the rollout record, and audited in one place.

Each action is a compare-and-set transition (`serving.rollout`) through the controller; its events go to
the event log, whose audit subscriber writes the audit entry. A refused action is published as
`admin_refused` (so it is audited too) and raised to the caller. Admin changes need the state store:
503 while it is unreachable.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable
from functools import partial
from typing import Any

from serving import rollout
from serving.clock import Clock
from serving.config import ServingConfig
from serving.controller import RolloutController
from serving.errors import Conflict, NotFound, ServingError, Unavailable
from serving.events import EventLog
from serving.record import RolloutRecord
from serving.repository import ModelRepository
from serving.store import STORE_ERRORS
from serving.sync import StateSync

CONFIRM_ATTEMPTS = 3
WAIT_POLL_SECONDS = 0.2


class AdminService:
    """Reload, traffic, promote, rollback and switch."""

    def __init__(
        self,
        config: ServingConfig,
        controller: RolloutController,
        repository: ModelRepository,
        sync: StateSync,
        events: EventLog,
        clock: Clock,
        wait_seconds: float = 120.0,
    ) -> None:
        self.config = config
        self.controller = controller
        self.repository = repository
        self.sync = sync
        self.events = events
        self.clock = clock
        self.wait_seconds = wait_seconds
        self._locks: defaultdict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)

    async def _audited(self, action: str, model: str | None, actor: str, work: Awaitable[Any]) -> Any:
        """Run an action; a refusal is published too; the audit entries are stored before it answers."""
        try:
            return await work
        except ServingError as error:
            self.events.publish(
                "admin_refused", model, action=action, actor=actor, error=error.message, status=error.status
            )
            raise
        finally:
            await self.events.flush()

    def model_for_alias(self, alias: str, model: str | None) -> str:
        """The model a reload of `alias` targets (`model` is needed when several use the alias)."""
        if model is not None:
            config = self.controller.model(model)
            if alias not in {v.alias for v in config.variants}:
                raise NotFound(f"model {model!r} has no variant with alias {alias!r}")
            return model
        matches = [m.name for m in self.config.models if alias in {v.alias for v in m.variants}]
        if not matches:
            raise NotFound(f"no served model has a variant with alias {alias!r}")
        if len(matches) > 1:
            raise Conflict(f"alias {alias!r} is used by {', '.join(matches)}: pass ?model=")
        return matches[0]

    # -- reload ------------------------------------------------------------------------------------------
    async def reload(self, alias: str, model: str | None, actor: str) -> dict[str, Any]:
        """Resolve the alias in MLflow, record the version for the fleet, load it here and answer."""
        try:
            name = self.model_for_alias(alias, model)
        except ServingError as error:
            self.events.publish("admin_refused", model, action="reload", actor=actor, error=error.message)
            await self.events.flush()
            raise
        return await self._audited("reload", name, actor, self._reload(name, alias, actor))

    async def _reload(self, model: str, alias: str, actor: str) -> dict[str, Any]:
        config = self.controller.model(model)
        async with self._locks[(model, alias)]:
            self.sync.require_store()
            version = await self.repository.resolve(model, alias)
            for _ in range(CONFIRM_ATTEMPTS):
                change = partial(
                    rollout.move_alias, config, alias=alias, version=version, kind="reload", actor=actor,
                    now=self.clock.now(),
                )  # fmt: skip
                await self.controller.transact(model, change)
                confirmed = await self.repository.resolve(model, alias)
                if confirmed == version:
                    break
                version = confirmed  # the alias moved again while this reload ran: follow it
        try:
            result = (await self.repository.load(model, alias, version)).as_json()
        except ServingError as error:
            slot = self.repository.slot(model, alias)
            self.events.publish(
                "reload_failed", model, alias=alias, version=version, actor=actor,
                reason=error.message, serving=slot.served or "nothing",
            )  # fmt: skip
            raise
        self.events.publish("reload", model, actor=actor, **{k: v for k, v in result.items() if k != "model"})
        return result

    # -- traffic and blue-green ----------------------------------------------------------------------------
    async def set_traffic(self, model: str, weights: dict[str, int], actor: str) -> dict[str, Any]:
        """Store new weights (only non-shadow variants, sum 100); a running canary pauses."""
        return await self._audited("traffic", model, actor, self._traffic(model, weights, actor))

    async def _traffic(self, model: str, weights: dict[str, int], actor: str) -> dict[str, Any]:
        config = self.controller.model(model)
        self.sync.require_store()
        previous: dict[str, int] = {}

        def change(record: RolloutRecord) -> rollout.Events:
            previous.update(record.weights)
            return rollout.set_weights(config, record, weights, actor)

        record = await self.controller.transact(model, change)
        return {"model": model, "weights": dict(record.weights), "previous": previous}

    async def switch(self, model: str, actor: str) -> dict[str, Any]:
        """Blue-green: swap active and preview (compare-and-set: N switches swap N times)."""
        return await self._audited("switch", model, actor, self._switch(model, actor))

    async def _switch(self, model: str, actor: str) -> dict[str, Any]:
        config = self.controller.model(model)
        self.sync.require_store()
        before: list[str | None] = []

        def change(record: RolloutRecord) -> rollout.Events:
            before[:] = [record.active]
            return rollout.switch(config, record, actor)

        record = await self.controller.transact(model, change)
        return {"model": model, "active": record.active, "preview": before[0]}

    # -- promotion and rollback ------------------------------------------------------------------------------
    async def promote(self, model: str, actor: str, variant: str | None = None) -> tuple[int, dict[str, Any]]:
        """Start a promotion and wait for the leader to finish it: (HTTP status, answer)."""
        return await self._audited("promote", model, actor, self._operate(model, actor, "promote", variant))

    async def rollback(self, model: str, actor: str, alias: str | None = None) -> tuple[int, dict[str, Any]]:
        """Start a rollback of the last alias move and wait for the leader to finish it."""
        return await self._audited("rollback", model, actor, self._operate(model, actor, "rollback", alias))

    async def _operate(
        self, model: str, actor: str, kind: str, target: str | None
    ) -> tuple[int, dict[str, Any]]:
        config = self.controller.model(model)
        self.sync.require_store()
        timeout = self.config.operation_timeout_seconds
        begin = rollout.begin_promote if kind == "promote" else rollout.begin_rollback
        now = self.clock.now()
        record = await self.controller.transact(
            model, lambda r: begin(config, r, target, actor, now, timeout)
        )
        assert record.operation is not None
        return await self.wait_for(model, record.operation.id)

    async def wait_for(self, model: str, operation: int) -> tuple[int, dict[str, Any]]:
        """Poll the record until the operation ends: 200 done, 503 compensated, 202 still running."""
        deadline = self.clock.monotonic() + self.wait_seconds
        record: RolloutRecord | None = None
        while self.clock.monotonic() < deadline:
            try:
                record = await self.controller.store.run(self.controller.store.read, model)
            except STORE_ERRORS:
                record = None
            if record is not None and (record.operation is None or record.operation.id != operation):
                outcome = record.last_operation
                if outcome is None or outcome.id != operation:
                    raise Conflict(f"operation {operation} of {model} was replaced before it ended")
                body = {
                    "model": model,
                    "operation": operation,
                    "result": outcome.result,
                    "alias": outcome.alias,
                    "from_version": outcome.from_version,
                    "to_version": outcome.to_version,
                    "previous_version": outcome.from_version,
                    "version": outcome.to_version,
                    "weights": dict(record.weights),
                }
                if outcome.result != "done":
                    raise Unavailable(
                        f"{outcome.kind} of {model} alias {outcome.alias} to v{outcome.to_version} failed: "
                        f"{outcome.reason}; alias back on v{outcome.from_version} (MLflow and the fleet)"
                    )
                return 200, body
            await asyncio.sleep(WAIT_POLL_SECONDS)
        op = record.operation if record is not None else None
        return 202, {
            "model": model,
            "operation": operation,
            "result": "in_progress",
            "phase": op.phase if op is not None else None,
            "alias": op.alias if op is not None else None,
            "from_version": op.from_version if op is not None else None,
            "to_version": op.to_version if op is not None else None,
        }
