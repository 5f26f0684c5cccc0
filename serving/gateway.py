"""One replica of the gateway: builds its parts, runs their loops, and is what the routes talk to.

Parts (each a module with one job): `runtime` (what is served now), `repository` (resolve, load,
swap), `traffic` (weights per strategy), `sync` (convergence to the stored records, heartbeats, the
lease), `controller` (the rollout state machine; the leader's loop), `admin` (admin actions),
`aliases` (record and MLflow in step), `status_view` (status, readiness), `events` (the fleet's event
log; Slack and audit subscribe).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import Awaitable, Callable

from loguru import logger

from serving.admin import AdminService
from serving.catalog import ModelCatalog
from serving.clock import Clock
from serving.config import ServingConfig
from serving.controller import RolloutController
from serving.errors import NotFound, ServingError, Unauthorized, Unavailable
from serving.events import EventLog
from serving.metrics import Metrics
from serving.registry import Registry
from serving.repository import AliasSlot, Backoff, ModelRepository
from serving.runtime import ModelRuntime
from serving.settings import Settings
from serving.slack import Slack, SlackNotifier
from serving.status_view import StatusView
from serving.store import Store
from serving.sync import StateCache, StateSync

EVENT_FLUSH_SECONDS = 0.2
EVENTS_KEPT = 50_000
STOP_POLL_SECONDS = 1.0


class Gateway:
    """Everything one replica knows and does."""

    def __init__(
        self,
        settings: Settings,
        config: ServingConfig,
        registry: Registry | None = None,
        clock: Clock | None = None,
        store: Store | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.replica = settings.replica_id
        self.clock = clock or Clock()
        self.started_at = self.clock.now()
        self.metrics = Metrics()
        self.registry = registry or Registry(settings.mlflow_tracking_uri)
        self.store = store or Store(settings.state_url, self.replica)
        self.models = {m.name: ModelRuntime(m, self.metrics, self.clock) for m in config.models}
        self.default = self.models[config.default.name]
        self.events = EventLog(self.store, self.replica, self.clock)
        self.slack = Slack(settings.slack_webhook_url)
        self.events.subscribe(SlackNotifier(self.slack))
        self.events.subscribe(self.metrics.count_event)
        backoff = Backoff(config.retry_interval_seconds, config.retry_max_seconds)
        self.repository = ModelRepository(
            self.registry, self.models, self.metrics, backoff, self.clock, self._load_failed
        )
        cache = StateCache(settings.cache_dir, settings.state_url)
        self.sync = StateSync(
            config, self.store, self.repository, self.models, self.metrics, self.clock, cache, self.started_at
        )
        self.controller = RolloutController(
            config, self.store, self.registry, self.repository, self.sync, self.events, self.clock
        )
        self.admin = AdminService(
            config, self.controller, self.repository, self.sync, self.events, self.clock
        )
        self.view = StatusView(config, self.models, self.repository, self.sync, self.clock)
        self.catalog = ModelCatalog(self)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # -- lifecycle ---------------------------------------------------------------------------------------
    async def start(self, loops: bool = True) -> None:
        """Take the stored state (or the cached one) and start the background loops."""
        await self.catalog.bootstrap()
        await self.sync.bootstrap()
        if not loops:
            return
        config = self.config
        every: list[tuple[str, float, Callable[[], Awaitable[None]]]] = [
            ("sync", config.sync_interval_seconds, self._sync_round),
            ("heartbeat", config.heartbeat_seconds, self.sync.heartbeat),
            ("lease", config.lease_seconds / 3, self.sync.renew_lease),
            ("discover", min(1.0, config.retry_interval_seconds), self.controller.aliases.discover),
            ("controller", min(1.0, config.sync_interval_seconds * 2), self.controller.lead),
            ("events", EVENT_FLUSH_SECONDS, self.events.flush),
            ("trim", 3600.0, self._trim_events),
        ]
        for name, seconds, step in every:
            self._tasks.append(
                asyncio.create_task(self._forever(name, seconds, step), name=f"serving-{name}")
            )

    async def step(self) -> None:
        """One round of every loop, in order (tests drive replicas with this and a fake clock)."""
        await self.sync.renew_lease()
        await self._sync_round()
        await self.controller.aliases.discover()
        await self.controller.lead()
        await self.sync.heartbeat()
        await self.events.flush()

    async def _sync_round(self) -> None:
        """The runtime models first (they add or drop records), then the records."""
        await self.catalog.poll()
        await self.sync.poll()

    async def stop(self) -> None:
        """Stop the loops, flush events, hand the lease over and release the store."""
        self._stopping = True
        # cancel until every loop has ended: a cancel can get lost in a library call that finishes just then
        while pending := [task for task in self._tasks if not task.done()]:
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=STOP_POLL_SECONDS)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
        for runtime in self.models.values():
            if runtime.shadow is not None:
                runtime.shadow.stop()
        with contextlib.suppress(Exception):
            await self.events.flush()
        await self.sync.leave()
        await self.slack.drain()
        self.store.close()

    async def _forever(self, name: str, seconds: float, step: Callable[[], Awaitable[None]]) -> None:
        while not self._stopping:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.exception("{} loop failed: {}", name, error)
            await asyncio.sleep(seconds)

    async def _trim_events(self) -> None:
        if self.sync.leads(self.catalog.git.models[0].name):  # one replica trims
            with contextlib.suppress(Exception):
                await self.store.run(self.store.trim_events, EVENTS_KEPT)

    def _load_failed(self, slot: AliasSlot, version: str, error: ServingError, explicit: bool) -> None:
        """A load failed: the admin reload reports it itself; background failures are told once."""
        failure = slot.failure
        if explicit or failure is None or failure.attempts > 1:
            logger.debug(
                "load of {}/{} v{} failed again: {}",
                slot.runtime.name,
                slot.alias,
                version,
                error.detail or error.message,
            )
            return
        logger.warning(
            "load of {}/{} v{} failed: {}",
            slot.runtime.name,
            slot.alias,
            version,
            error.detail or error.message,
        )
        self.events.publish(
            "reload_failed",
            slot.runtime.name,
            alias=slot.alias,
            version=version,
            actor="sync",
            reason=error.message,
            serving=slot.served or "nothing",
        )

    # -- what the routes use -----------------------------------------------------------------------------
    def model(self, name: str) -> ModelRuntime:
        """The runtime of a configured model, or 404."""
        runtime = self.models.get(name)
        if runtime is None:
            raise NotFound(f"model {name!r} is not served here; known: {', '.join(self.models)}")
        return runtime

    def check_admin(self, key: str | None) -> None:
        """Constant-time check of the admin key; 503 when the gateway has none configured."""
        expected = self.settings.api_key
        if expected is None:
            raise Unavailable("admin API disabled: INTERNAL_API_KEY is not set")
        if not key or not hmac.compare_digest(key.encode(), expected.encode()):
            raise Unauthorized("missing or wrong X-API-Key")

    def ready(self) -> list[str]:
        """Empty when this replica is ready, else what keeps it from being ready."""
        return self.view.blocking()[0]

    def missing(self, model: str) -> list[str]:
        """What keeps one model from being ready on this replica (empty: ready)."""
        return self.view.blocking(model)[0]
