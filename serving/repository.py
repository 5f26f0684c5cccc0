"""Model repository: resolve aliases in MLflow, load versions and swap them in, one alias at a time.

Each alias has one slot with a target version (`want`) and at most one load in flight. A newer target
queues behind the running load; the slot then loads the newest target, so the version served always
ends where the target is. Failed loads back off exponentially (capped) and are visible in `failure`;
an explicit reload tries at once. Loads run in worker threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from loguru import logger

from serving.clock import Clock
from serving.errors import Conflict, NotFound, ServingError, Unavailable
from serving.metrics import Metrics
from serving.runtime import ModelRuntime, VariantRuntime


class ModelSource(Protocol):
    """What the repository needs of the registry (MLflow, or an in-memory one in tests)."""

    def resolve(self, registered_model: str, alias: str) -> str: ...

    def load(self, registered_model: str, version: str) -> Any: ...


@dataclass(frozen=True)
class Backoff:
    """Delay before retry `attempts` + 1: base x 2^(attempts-1), capped, plus up to `jitter` of it."""

    base: float
    cap: float
    jitter: float = 0.1

    def delay(self, attempts: int) -> float:
        """Seconds to wait after `attempts` consecutive failures."""
        seconds = min(self.cap, self.base * 2 ** max(0, attempts - 1))
        return seconds * (1 + random.random() * self.jitter)


@dataclass
class LoadFailure:
    """Consecutive failed loads of one version."""

    version: str
    reason: str
    attempts: int
    retry_at: float
    failed_at: float

    def as_json(self, now: float) -> dict[str, Any]:
        """Status and heartbeat form (`now` on the monotonic clock)."""
        return {
            "version": self.version,
            "reason": self.reason,
            "attempts": self.attempts,
            "failed_at": self.failed_at,
            "retry_in_seconds": round(max(0.0, self.retry_at - now), 3),
        }


@dataclass
class LoadResult:
    """What a load did on this replica."""

    model: str
    alias: str
    previous_version: str | None
    version: str
    changed: bool
    load_seconds: float | None = None

    def as_json(self) -> dict[str, Any]:
        """Answer of a reload."""
        body: dict[str, Any] = {
            "model": self.model,
            "alias": self.alias,
            "previous_version": self.previous_version,
            "version": self.version,
            "changed": self.changed,
        }
        if self.load_seconds is not None:
            body["load_seconds"] = round(self.load_seconds, 3)
        return body


@dataclass
class AliasSlot:
    """The version one alias of one model serves, and the one it should serve."""

    runtime: ModelRuntime
    alias: str
    variants: list[VariantRuntime]
    want: str | None = None
    loading: str | None = None
    failure: LoadFailure | None = None
    forced: bool = False
    task: asyncio.Task[None] | None = None
    waiters: dict[str, list[asyncio.Future[LoadResult]]] = field(default_factory=dict)

    @property
    def served(self) -> str | None:
        """The version answering requests now."""
        return self.variants[0].version


FailureHook = Callable[[AliasSlot, str, ServingError, bool], None]


class ModelRepository:
    """All alias slots of one replica."""

    def __init__(
        self,
        source: ModelSource,
        runtimes: dict[str, ModelRuntime],
        metrics: Metrics,
        backoff: Backoff,
        clock: Clock,
        on_failure: FailureHook | None = None,
    ) -> None:
        self.source = source
        self.metrics = metrics
        self.backoff = backoff
        self.clock = clock
        self.on_failure = on_failure
        self.slots = {
            (name, alias): AliasSlot(runtime, alias, variants)
            for name, runtime in runtimes.items()
            for alias, variants in runtime.aliases.items()
        }

    def slot(self, model: str, alias: str) -> AliasSlot:
        """The slot of one alias, or 404."""
        found = self.slots.get((model, alias))
        if found is None:
            raise NotFound(f"model {model!r} has no variant with alias {alias!r}")
        return found

    async def resolve(self, model: str, alias: str) -> str:
        """The version `alias` points to in MLflow (NotFound, Unavailable)."""
        slot = self.slot(model, alias)
        return await asyncio.to_thread(self.source.resolve, slot.runtime.config.registered_model, alias)

    def converge(self, model: str, alias: str, version: str) -> None:
        """Make `version` the target; load it unless a failed load of it is still backing off."""
        slot = self.slot(model, alias)
        slot.want = version
        failure = slot.failure
        if failure is not None and failure.version == version and self.clock.monotonic() < failure.retry_at:
            return
        self._kick(slot)

    async def load(self, model: str, alias: str, version: str) -> LoadResult:
        """Make `version` the target and wait until this replica serves it (tries at once, no back-off)."""
        slot = self.slot(model, alias)
        slot.want = version
        if slot.served == version and slot.loading is None:
            return LoadResult(model, alias, version, version, False)
        waiter: asyncio.Future[LoadResult] = asyncio.get_running_loop().create_future()
        slot.waiters.setdefault(version, []).append(waiter)
        slot.forced = True
        self._kick(slot)
        return await waiter

    def failures(self) -> dict[tuple[str, str], LoadFailure]:
        """Slots whose target failed to load."""
        return {key: slot.failure for key, slot in self.slots.items() if slot.failure is not None}

    async def idle(self) -> None:
        """Wait until no load is in flight (tests, shutdown)."""
        while tasks := [s.task for s in self.slots.values() if s.task is not None and not s.task.done()]:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- the slot worker -------------------------------------------------------------------------------
    def _kick(self, slot: AliasSlot) -> None:
        if slot.task is None or slot.task.done():
            if slot.want is None or (slot.served == slot.want and not slot.waiters):
                return
            slot.task = asyncio.get_running_loop().create_task(
                self._work(slot), name=f"load-{slot.runtime.name}-{slot.alias}"
            )

    async def _work(self, slot: AliasSlot) -> None:
        while True:
            version = slot.want
            self._supersede(slot, version)
            if version is None or slot.served == version:
                self._settle(slot, version, None)
                return
            failure = slot.failure
            retrying = failure is not None and failure.version == version
            if retrying and not slot.forced and self.clock.monotonic() < failure.retry_at:
                return  # the sync loop calls `converge` again once the back-off is over
            slot.forced = False
            await self._load_once(slot, version, failure if retrying else None)

    async def _load_once(self, slot: AliasSlot, version: str, failure: LoadFailure | None) -> None:
        runtime = slot.runtime
        previous = slot.served
        slot.loading = version
        try:
            loaded = await asyncio.to_thread(self.source.load, runtime.config.registered_model, version)
        except Exception as error:
            reason = (
                error if isinstance(error, ServingError) else Unavailable(f"cannot load v{version}: {error}")
            )
            attempts = failure.attempts + 1 if failure is not None else 1
            retry_at = self.clock.monotonic() + self.backoff.delay(attempts)
            slot.failure = LoadFailure(version, reason.message, attempts, retry_at, self.clock.now())
            for variant in slot.variants:
                variant.last_error = reason.message
            self.metrics.reloads.labels(runtime.name, slot.alias, "failed").inc()
            self.metrics.load_failures.labels(runtime.name, slot.alias).set(attempts)
            waited = bool(slot.waiters.get(version))
            self._settle(slot, version, reason)
            if self.on_failure is not None:
                self.on_failure(slot, version, reason, waited)
            return
        finally:
            slot.loading = None
        for variant in slot.variants:
            variant.swap(loaded)
        if slot.failure is not None and slot.failure.version == version:
            slot.failure = None
            self.metrics.load_failures.labels(runtime.name, slot.alias).set(0)
        seconds = float(getattr(loaded, "load_seconds", 0.0))
        self.metrics.reloads.labels(runtime.name, slot.alias, "loaded").inc()
        self.metrics.load_seconds.labels(runtime.name).observe(seconds)
        logger.info("{} alias {} now serves version {} (was {})", runtime.name, slot.alias, version, previous)
        self._settle(slot, version, LoadResult(runtime.name, slot.alias, previous, version, True, seconds))

    @staticmethod
    def _settle(slot: AliasSlot, version: str | None, outcome: LoadResult | ServingError | None) -> None:
        if version is None:
            return
        for waiter in slot.waiters.pop(version, []):
            if waiter.done():
                continue
            if isinstance(outcome, ServingError):
                waiter.set_exception(outcome)
            else:
                served = outcome or LoadResult(slot.runtime.name, slot.alias, version, version, False)
                waiter.set_result(served)

    @staticmethod
    def _supersede(slot: AliasSlot, target: str | None) -> None:
        for version in [v for v in slot.waiters if v != target]:
            for waiter in slot.waiters.pop(version):
                if not waiter.done():
                    waiter.set_exception(
                        Conflict(f"alias {slot.alias} moved on to v{target} before v{version} was loaded")
                    )
