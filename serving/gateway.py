"""The gateway core: loads variants, routes predictions, applies admin actions and keeps replicas in step.

Background loops (all on the event loop, blocking work in threads):
- resolve: re-resolves every alias in MLflow (fast retry while something is missing, then the safety-net
  interval) and reloads what moved;
- sync: polls the store's revisions and applies weights, slots, canary state and alias versions that
  another replica changed;
- heartbeat: records which versions this replica has loaded;
- canary: walks canary steps, aborts on failed gates, promotes at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger

from serving import canary as canary_logic
from serving.config import ModelConfig, ServingConfig
from serving.errors import Conflict, Invalid, NotFound, ServingError, Unauthorized, Unavailable
from serving.events import EventBus
from serving.metrics import Metrics
from serving.registry import Registry
from serving.runtime import ModelRuntime, VariantRuntime
from serving.settings import Settings
from serving.slack import Slack
from serving.store import ModelState, Store


class Gateway:
    """Everything one replica knows and does."""

    def __init__(self, settings: Settings, config: ServingConfig, registry: Registry | None = None) -> None:
        self.settings = settings
        self.config = config
        self.replica = settings.replica_id
        self.metrics = Metrics()
        self.events = EventBus(self.replica)
        self.slack = Slack(settings.slack_webhook_url)
        self.store = Store(settings.state_url, self.replica)
        self.registry = registry or Registry(settings.mlflow_tracking_uri)
        self.models = {m.name: ModelRuntime(m, self.metrics) for m in config.models}
        self.default = self.models[config.default.name]
        self.started_at = time.time()
        self._inflight: dict[tuple[str, str], asyncio.Future[dict[str, Any]]] = {}
        self._failed_at: dict[tuple[str, str], float] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Create the store tables, take the stored state and start the background loops."""
        await self.store.run(self.store.create)
        for runtime in self.models.values():
            config = runtime.config
            slot = config.bluegreen.active if config.bluegreen else None
            state = await self.store.run(
                self.store.ensure_model, runtime.name, config.initial_weights(), slot
            )
            runtime.apply(state)
        loops: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("resolve", self._resolve_loop),
            ("sync", self._sync_loop),
            ("heartbeat", self._heartbeat_loop),
        ]
        if any(m.config.strategy == "canary" for m in self.models.values()):
            loops.append(("canary", self._canary_loop))
        for name, loop in loops:
            self._tasks.append(asyncio.create_task(self._forever(name, loop), name=f"serving-{name}"))

    async def stop(self) -> None:
        """Stop the loops, the shadow workers and the store."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for runtime in self.models.values():
            if runtime.shadow is not None:
                runtime.shadow.stop()
        await self.slack.drain()
        with contextlib.suppress(Exception):
            await self.store.run(self.store.forget_replica)
        self.store.close()

    async def _forever(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await loop()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.exception("{} loop failed: {}", name, error)
                await asyncio.sleep(1)

    # -- lookups and auth --------------------------------------------------------------------------------
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
        """Empty when every configured variant is loaded, else what is missing."""
        return [line for runtime in self.models.values() for line in runtime.missing()]

    # -- reload --------------------------------------------------------------------------------------------
    def models_with_alias(self, alias: str, model: str | None) -> ModelRuntime:
        """The model a reload of `alias` targets (the `model` parameter is needed when several match)."""
        if model is not None:
            runtime = self.model(model)
            if alias not in runtime.aliases:
                raise NotFound(f"model {model!r} has no variant with alias {alias!r}")
            return runtime
        matches = [m for m in self.models.values() if alias in m.aliases]
        if not matches:
            raise NotFound(f"no served model has a variant with alias {alias!r}")
        if len(matches) > 1:
            raise Conflict(f"alias {alias!r} is used by {', '.join(m.name for m in matches)}: pass ?model=")
        return matches[0]

    async def reload(
        self,
        model: str,
        alias: str,
        *,
        actor: str,
        version: str | None = None,
        record: bool = True,
        move_kind: str | None = "reload",
    ) -> dict[str, Any]:
        """Resolve, load, warm up and swap one alias; concurrent calls share one load."""
        runtime = self.model(model)
        if alias not in runtime.aliases:
            raise NotFound(f"model {model!r} has no variant with alias {alias!r}")
        key = (model, alias)
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(self._reload(runtime, alias, actor, version, record, move_kind))
            self._inflight[key] = future

            def _done(done: asyncio.Future[dict[str, Any]]) -> None:
                if self._inflight.get(key) is done:
                    del self._inflight[key]
                if not done.cancelled():
                    done.exception()

            future.add_done_callback(_done)
        return await asyncio.shield(future)

    async def _reload(
        self,
        runtime: ModelRuntime,
        alias: str,
        actor: str,
        version: str | None,
        record: bool,
        move_kind: str | None,
    ) -> dict[str, Any]:
        variants = runtime.aliases[alias]
        registered = runtime.config.registered_model
        previous = variants[0].model.version if variants[0].model else None
        stage = "resolve"
        try:
            target = version or await asyncio.to_thread(self.registry.resolve, registered, alias)
            result = {"model": runtime.name, "alias": alias, "previous_version": previous, "version": target}
            if all(v.model is not None and v.model.version == target for v in variants):
                return {**result, "changed": False}
            stage = "load"
            loaded = await asyncio.to_thread(self.registry.load, registered, target)
        except ServingError as error:
            self._reload_failed(runtime, variants, alias, actor, stage, error)
            raise
        for variant in variants:
            variant.swap(loaded)
            variant.reset_window()
        runtime.desired[alias] = target
        self._failed_at.pop((runtime.name, alias), None)
        self.metrics.reloads.labels(runtime.name, alias, "changed").inc()
        self.metrics.load_seconds.labels(runtime.name).observe(loaded.load_seconds)
        if record:
            try:
                await self.store.run(
                    self.store.set_alias_version, runtime.name, alias, target, previous, move_kind
                )
            except Exception as error:
                logger.warning("cannot record {}/{} v{} in the store: {}", runtime.name, alias, target, error)
        logger.info(
            "{} alias {} now serves version {} (was {}; by {})", runtime.name, alias, target, previous, actor
        )
        result = {**result, "changed": True, "load_seconds": round(loaded.load_seconds, 3)}
        self.events.publish("reload", actor=actor, **result)
        return result

    def _reload_failed(
        self,
        runtime: ModelRuntime,
        variants: list[VariantRuntime],
        alias: str,
        actor: str,
        stage: str,
        error: ServingError,
    ) -> None:
        repeated = all(v.last_error == error.message for v in variants)
        for variant in variants:
            variant.last_error = error.message
        self._failed_at[(runtime.name, alias)] = time.monotonic()
        self.metrics.reloads.labels(runtime.name, alias, "failure").inc()
        self.events.publish(
            "reload_failed", model=runtime.name, alias=alias, actor=actor, reason=error.message
        )
        # the resolver retries every few seconds while something is missing: say the same thing once
        level = "DEBUG" if repeated and actor in ("resolver", "sync") else "WARNING"
        reason = error.detail or error.message
        logger.log(level, "reload of {}/{} failed ({}): {}", runtime.name, alias, stage, reason)
        background = actor in ("resolver", "sync")
        if (not background or stage == "load") and not (background and repeated):
            self.slack.notify(
                "reload_failed",
                f"Reload failed: {runtime.name} alias {alias}",
                model=runtime.name,
                alias=alias,
                serving=variants[0].model.version if variants[0].model else "nothing",
                reason=error.detail or error.message,
                replica=self.replica,
            )

    # -- admin actions -----------------------------------------------------------------------------------
    async def audit(self, action: str, model: str | None, ok: bool, actor: str | None, **detail: Any) -> None:
        """Append to the audit log; a store outage is logged, never raised."""
        try:
            await self.store.run(self.store.audit, action, model, ok, actor, detail)
        except Exception as error:
            logger.warning("cannot write audit entry {}: {}", action, error)

    async def _write_state(self, runtime: ModelRuntime, **values: Any) -> None:
        await self.store.run(self.store.update, runtime.name, **values)
        self._apply(runtime, await self.store.run(self.store.read, runtime.name))

    async def set_traffic(self, model: str, weights: dict[str, int], actor: str) -> dict[str, Any]:
        """Store new weights (they must cover only non-shadow variants and sum to 100)."""
        runtime = self.model(model)
        if runtime.config.strategy == "bluegreen":
            raise Conflict("blue-green models take all traffic on the active slot: use /switch")
        unknown = [name for name in weights if name not in runtime.order]
        if unknown:
            raise Invalid(
                f"unknown or shadow variant {unknown[0]!r}; weights go to: {', '.join(runtime.order)}"
            )
        if any(w < 0 or w > 100 for w in weights.values()):
            raise Invalid("every weight must be between 0 and 100")
        if sum(weights.values()) != 100:
            raise Invalid(f"weights must sum to 100, got {sum(weights.values())}")
        full = {name: int(weights.get(name, 0)) for name in runtime.order}
        values: dict[str, Any] = {"weights": full}
        if runtime.config.strategy == "canary" and runtime.state.canary_status == "running":
            values.update(canary_status="manual", canary_reason=f"weights set by {actor}")
        previous = dict(runtime.state.weights)
        await self._write_state(runtime, **values)
        self.events.publish("traffic", model=model, weights=full, previous=previous, actor=actor)
        await self.audit("traffic", model, True, actor, weights=full, previous=previous)
        return {"model": model, "weights": full, "previous": previous}

    def _promotion_target(
        self, runtime: ModelRuntime, variant: str | None
    ) -> tuple[VariantRuntime, VariantRuntime]:
        config = runtime.config
        if variant is not None:
            if variant not in runtime.variants:
                raise NotFound(f"model {runtime.name!r} has no variant {variant!r}")
            target = runtime.variants[variant]
        elif config.strategy == "canary":
            target = runtime.variants[config.canary_variant]
        else:
            by_alias = [v for v in runtime.variants.values() if v.alias == "challenger"]
            target = by_alias[0] if by_alias else runtime.variants[runtime.order[-1]]
        champions = [v for v in runtime.primary if v.alias == "champion" and v is not target]
        champion = (
            runtime.variants[config.baseline_variant]
            if config.strategy == "canary"
            else (champions[0] if champions else runtime.primary[0])
        )
        if champion is target:
            raise Conflict(f"variant {target.name!r} already is the champion")
        return target, champion

    async def promote(self, model: str, actor: str, variant: str | None = None) -> dict[str, Any]:
        """Move the champion's alias to the target variant's version, reload and reset the weights."""
        runtime = self.model(model)
        target, champion = self._promotion_target(runtime, variant)
        if target.model is None:
            raise Conflict(f"variant {target.name!r} has no loaded version to promote")
        version = target.model.version
        before = champion.model.version if champion.model else None
        stats = target.stats(runtime.config.canary.gates.window_seconds if runtime.config.canary else 300)
        await asyncio.to_thread(
            self.registry.set_alias, runtime.config.registered_model, champion.alias, version
        )
        result = await self.reload(model, champion.alias, actor=actor, move_kind="promote")
        values: dict[str, Any] = {"weights": runtime.config.initial_weights()}
        if runtime.config.strategy == "canary":
            values.update(
                canary_status="promoted", canary_version=version, canary_reason=f"promoted by {actor}"
            )
        await self._write_state(runtime, **values)
        detail = {
            "alias": champion.alias,
            "from_version": before,
            "to_version": version,
            "variant": target.name,
        }
        self.events.publish("promotion", model=model, actor=actor, **detail)
        await self.audit("promote", model, True, actor, **detail)
        self.slack.notify(
            "promotion",
            f"Promoted {model} version {version} to {champion.alias}",
            model=model,
            alias=champion.alias,
            versions=f"{before} → {version}",
            requests=stats.requests,
            error_rate=f"{stats.error_rate:.3%}",
            p99_ms=f"{stats.p99_ms:.1f}" if stats.p99_ms is not None else "n/a",
            by=actor,
        )
        return {**result, **detail, "weights": runtime.state.weights}

    async def rollback(self, model: str, actor: str, alias: str | None = None) -> dict[str, Any]:
        """Point the last moved alias back to its version before the move and reload it."""
        runtime = self.model(model)
        move = await self.store.run(self.store.last_move, model, alias)
        if move is None:
            raise Conflict(f"nothing to roll back for {model}" + (f" alias {alias}" if alias else ""))
        if move.from_version is None:
            raise Conflict(f"alias {move.alias} had no version before version {move.to_version}")
        await asyncio.to_thread(
            self.registry.set_alias, runtime.config.registered_model, move.alias, move.from_version
        )
        result = await self.reload(model, move.alias, actor=actor, move_kind=None)
        await self.store.run(self.store.mark_rolled_back, move.id)
        config = runtime.config
        if config.strategy == "canary":
            canary = runtime.variants[config.canary_variant]
            await self._write_state(
                runtime,
                weights={config.baseline_variant: 100, config.canary_variant: 0},
                canary_status="rolled_back",
                canary_version=canary.model.version if canary.model else None,
                canary_reason=f"rolled back by {actor}",
            )
        detail = {"alias": move.alias, "from_version": move.to_version, "to_version": move.from_version}
        self.events.publish("rollback", model=model, actor=actor, **detail)
        await self.audit("rollback", model, True, actor, **detail)
        self.slack.notify(
            "rollback",
            f"Rolled back {model} alias {move.alias} to version {move.from_version}",
            model=model,
            alias=move.alias,
            versions=f"{move.to_version} → {move.from_version}",
            by=actor,
        )
        return {**result, **detail}

    async def switch(self, model: str, actor: str) -> dict[str, Any]:
        """Blue-green: swap the active and preview slots (both stay loaded)."""
        runtime = self.model(model)
        config = runtime.config
        if config.strategy != "bluegreen" or config.bluegreen is None:
            raise Conflict(f"model {model!r} uses strategy {config.strategy}, not bluegreen")
        active = runtime.state.active_slot or config.bluegreen.active
        slots = (config.bluegreen.active, config.bluegreen.preview)
        new_active = slots[1] if active == slots[0] else slots[0]
        if runtime.variants[new_active].model is None:
            raise Conflict(f"slot {new_active!r} has no loaded version yet")
        weights = {name: 100 if name == new_active else 0 for name in runtime.order}
        await self._write_state(runtime, active_slot=new_active, weights=weights)
        detail = {"active": new_active, "preview": active}
        self.events.publish("switch", model=model, actor=actor, **detail)
        await self.audit("switch", model, True, actor, **detail)
        return {"model": model, **detail}

    # -- status ------------------------------------------------------------------------------------------
    async def status(self, model: str) -> dict[str, Any]:
        """Everything an operator or a DAG needs to know about one model."""
        runtime = self.model(model)
        config = runtime.config
        try:
            replicas = await self.store.run(self.store.replicas, model)
        except Exception as error:
            logger.warning("cannot read replicas: {}", error)
            replicas = []
        now = time.time()
        window = config.canary.gates.window_seconds if config.canary else 60.0
        variants = []
        for variant in runtime.variants.values():
            loaded = variant.model
            stats = variant.stats(window)
            variants.append(
                {
                    "name": variant.name,
                    "alias": variant.alias,
                    "shadow": variant.shadow,
                    "version": loaded.version if loaded else None,
                    "weight": runtime.state.weights.get(variant.name, 0),
                    "loaded_at": loaded.loaded_at if loaded else None,
                    "load_seconds": round(loaded.load_seconds, 3) if loaded else None,
                    "fast_path": loaded.fast_path if loaded else None,
                    "fast_path_off_because": loaded.fast_reason if loaded else None,
                    "requests": variant.requests,
                    "errors": variant.errors,
                    "window": {
                        "seconds": window,
                        "requests": stats.requests,
                        "errors": stats.errors,
                        "p99_ms": None if stats.p99_ms is None else round(stats.p99_ms, 3),
                    },
                    "last_error": variant.last_error,
                }
            )
        status: dict[str, Any] = {
            "name": model,
            "registered_model": config.registered_model,
            "strategy": config.strategy,
            "ready": not runtime.missing(),
            "weights": dict(runtime.state.weights),
            "aliases": {
                alias: vs[0].model.version if vs[0].model else None for alias, vs in runtime.aliases.items()
            },
            "variants": variants,
            "replica_id": self.replica,
            "replicas": [
                {
                    "replica_id": r["replica"],
                    "versions": r["versions"],
                    "last_seen": r["last_seen"],
                    "alive": now - r["last_seen"] < max(10.0, 5 * self.config.heartbeat_seconds),
                    "started_at": r["started_at"],
                }
                for r in replicas
            ],
        }
        state = runtime.state
        if config.strategy == "canary" and config.canary:
            status["canary"] = {
                "variant": config.canary_variant,
                "baseline": config.baseline_variant,
                "status": state.canary_status,
                "step": state.canary_step,
                "steps": config.canary.steps,
                "weight": state.weights.get(config.canary_variant, 0),
                "step_started_at": state.canary_step_started,
                "version": state.canary_version,
                "reason": state.canary_reason,
                "interval_seconds": config.canary.interval_seconds,
                "gates": config.canary.gates.model_dump(),
            }
        if config.bluegreen:
            active = state.active_slot or config.bluegreen.active
            other = config.bluegreen.preview if active == config.bluegreen.active else config.bluegreen.active
            status["bluegreen"] = {"active": active, "preview": other}
        if runtime.shadow is not None:
            status["shadow"] = {name: stats.as_dict() for name, stats in runtime.shadow.stats.items()}
        return status

    # -- loops -------------------------------------------------------------------------------------------
    def _apply(self, runtime: ModelRuntime, state: ModelState) -> None:
        before = dict(runtime.state.weights)
        runtime.apply(state)
        runtime.desired = dict(state.aliases)
        if runtime.state.weights != before:
            logger.info("{} weights now {}", runtime.name, runtime.state.weights)

    async def _resolve_loop(self) -> None:
        while True:
            for runtime in self.models.values():
                for alias in runtime.aliases:
                    with contextlib.suppress(ServingError):
                        await self.reload(runtime.name, alias, actor="resolver")
            missing = bool(self.ready())
            await asyncio.sleep(
                self.config.retry_interval_seconds if missing else self.config.resolve_interval_seconds
            )

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.sync_interval_seconds)
            try:
                revisions = await self.store.run(self.store.revisions)
                for name, revision in revisions.items():
                    runtime = self.models.get(name)
                    if runtime is not None and revision != runtime.state.revision:
                        self._apply(runtime, await self.store.run(self.store.read, name))
            except Exception as error:
                logger.warning("state store unreachable: {}", error)
            for runtime in self.models.values():
                self._converge(runtime)

    def _converge(self, runtime: ModelRuntime) -> None:
        aliases = runtime.aliases
        for alias, version in runtime.desired.items():
            variants = aliases.get(alias)
            if not variants or all(v.model is not None and v.model.version == version for v in variants):
                continue
            key = (runtime.name, alias)
            failed = self._failed_at.get(key)
            if key in self._inflight or (
                failed and time.monotonic() - failed < self.config.retry_interval_seconds
            ):
                continue
            task = asyncio.ensure_future(
                self.reload(runtime.name, alias, actor="sync", version=version, record=False)
            )
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _heartbeat_loop(self) -> None:
        while True:
            versions = {
                runtime.name: {
                    v.name: (v.model.version if v.model else None) for v in runtime.variants.values()
                }
                for runtime in self.models.values()
            }
            try:
                await self.store.run(self.store.heartbeat, self.started_at, versions)
            except Exception as error:
                logger.warning("heartbeat failed: {}", error)
            await asyncio.sleep(self.config.heartbeat_seconds)

    async def _canary_loop(self) -> None:
        while True:
            for runtime in self.models.values():
                if runtime.config.strategy == "canary":
                    await self._canary_tick(runtime)
            await asyncio.sleep(min(1.0, self.config.sync_interval_seconds * 2))

    async def _canary_tick(self, runtime: ModelRuntime) -> None:
        config: ModelConfig = runtime.config
        assert config.canary is not None
        canary = runtime.variants[config.canary_variant]
        baseline = runtime.variants[config.baseline_variant]
        state = runtime.state
        stats = canary.stats(config.canary.gates.window_seconds)
        now = time.time()
        decision = canary_logic.decide(
            state.canary_status,
            state.canary_step,
            state.canary_step_started,
            now,
            state.canary_version,
            canary.model.version if canary.model else None,
            baseline.model.version if baseline.model else None,
            stats,
            config.canary,
        )
        if decision.action == "wait":
            return
        expected = {
            "canary_status": state.canary_status,
            "canary_step": state.canary_step,
            "canary_version": state.canary_version,
        }
        if decision.action == "promote":
            # one replica wins the right to promote; the others see `promoting` and wait
            if (
                await self.store.run(self.store.update_if, runtime.name, expected, canary_status="promoting")
                is None
            ):
                return
            try:
                await self.promote(runtime.name, actor="canary")
            except ServingError as error:
                logger.warning("canary promotion of {} failed: {}", runtime.name, error.message)
                await self._write_state(runtime, canary_status="running", canary_reason=error.message)
            return
        steps = config.canary.steps
        step = {"start": 0, "advance": state.canary_step + 1}.get(decision.action, state.canary_step)
        weight = 0 if decision.action == "abort" else steps[step]
        values: dict[str, Any] = {
            "weights": {config.baseline_variant: 100 - weight, config.canary_variant: weight},
            "canary_status": "aborted" if decision.action == "abort" else "running",
            "canary_step": step,
            "canary_step_started": now,
            "canary_reason": decision.reason,
        }
        if decision.action == "start":
            values["canary_version"] = canary.model.version if canary.model else None
        revision = await self.store.run(self.store.update_if, runtime.name, expected, **values)
        if revision is None:
            return  # another replica moved first; the sync loop brings its decision here
        self._apply(runtime, await self.store.run(self.store.read, runtime.name))
        detail = {
            "step": step,
            "weight": weight,
            "reason": decision.reason,
            "version": runtime.state.canary_version,
            "variant": config.canary_variant,
        }
        self.events.publish(f"canary_{decision.action}", model=runtime.name, **detail)
        await self.audit(f"canary_{decision.action}", runtime.name, True, "canary", **detail)
        logger.info("canary {} of {}: {}", decision.action, runtime.name, decision.reason)
        if decision.action == "abort":
            self.slack.notify(
                "canary_abort",
                f"Canary aborted: {runtime.name} version {runtime.state.canary_version}",
                model=runtime.name,
                variant=config.canary_variant,
                version=runtime.state.canary_version,
                baseline=baseline.model.version if baseline.model else None,
                reason=decision.reason,
                requests=stats.requests,
                error_rate=f"{stats.error_rate:.3%}",
                p99_ms=f"{stats.p99_ms:.1f}" if stats.p99_ms is not None else "n/a",
            )
