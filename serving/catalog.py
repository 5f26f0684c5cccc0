"""The model catalog of one replica: the Git-declared models plus the runtime models of the store.

`bootstrap` (before the state sync starts) and `poll` (each sync round, before the records) read
`serving_runtime_model` and add, replace or remove runtimes so this replica serves what the fleet
declares: a new model gets its runtime, alias slots, controller lease and rollout record; a model
whose structure changed (a new generation) is rebuilt; a deleted one is dropped. The rows are cached
on disk next to the state cache, so a replica restarted while the store is down still serves them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any, Protocol

from loguru import logger
from pydantic import ValidationError

from serving import runtime_models
from serving.admin import AdminService
from serving.clock import Clock
from serving.config import ModelConfig, ServingConfig
from serving.controller import RolloutController
from serving.errors import Conflict, NotFound, Unavailable
from serving.events import EventLog
from serving.metrics import Metrics
from serving.repository import AliasSlot, ModelRepository
from serving.rollout import initial_record
from serving.runtime import ModelRuntime
from serving.runtime_models import RuntimeModel
from serving.status_view import StatusView
from serving.store import STORE_ERRORS, Store, store_reason
from serving.sync import Lease, StateSync


class GatewayParts(Protocol):
    """The parts of one replica the catalog adds models to (`serving.gateway.Gateway`)."""

    config: ServingConfig
    store: Store
    metrics: Metrics
    clock: Clock
    models: dict[str, ModelRuntime]
    repository: ModelRepository
    sync: StateSync
    controller: RolloutController
    admin: AdminService
    view: StatusView
    events: EventLog


def _store_down(error: BaseException) -> Unavailable:
    return Unavailable(
        "state store unavailable: admin changes need it; retry later",
        detail=f"state store unavailable ({store_reason(error)}): admin changes need it; retry later",
    )


def _same_runtime(current: RuntimeModel, wanted: RuntimeModel) -> bool:
    """Whether the installed runtime serves `wanted` as it is: same generation and structure (a model
    deleted and declared again between two polls starts again at generation 1 with another shape)."""
    return current.generation == wanted.generation and runtime_models.structure(
        current.config
    ) == runtime_models.structure(wanted.config)


class CatalogCache:
    """The last runtime models read from the store, in one JSON file next to the state cache."""

    def __init__(self, state_cache: Path) -> None:
        self.path = state_cache.with_name(state_cache.name.replace("state-", "runtime-models-"))

    def load(self) -> dict[str, RuntimeModel]:
        """Cached models (empty when there is no readable cache)."""
        try:
            data = json.loads(self.path.read_text())
            return {
                name: RuntimeModel(
                    ModelConfig.model_validate(item["spec"]),
                    item["generation"],
                    item["actor"],
                    item["updated_at"],
                )
                for name, item in data.items()
            }
        except (OSError, ValueError, KeyError, TypeError, ValidationError) as error:
            logger.info("no usable runtime-model cache at {}: {}", self.path, error)
            return {}

    def save(self, models: dict[str, RuntimeModel]) -> None:
        """Replace the cache with `models`."""
        body = {name: model.as_json() for name, model in models.items()}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            scratch = self.path.with_suffix(f".{os.getpid()}.tmp")
            scratch.write_text(json.dumps(body))
            os.replace(scratch, self.path)
        except OSError as error:
            logger.warning("cannot write the runtime-model cache {}: {}", self.path, error)


class ModelCatalog:
    """Keeps the gateway's parts serving the Git models plus the stored runtime models."""

    def __init__(self, gateway: GatewayParts) -> None:
        self.gateway = gateway
        self.git = gateway.config
        self.installed: dict[str, RuntimeModel] = {}
        self.cache = CatalogCache(gateway.sync.cache.path)
        self._booted = False
        self._pending: set[str] = set()
        self._applying = asyncio.Lock()

    def source(self, name: str) -> str:
        """`git`, `runtime`, or 404."""
        if self.git.model(name) is not None:
            return "git"
        if name in self.installed:
            return "runtime"
        raise NotFound(f"model {name!r} is not served here; known: {', '.join(self.gateway.models)}")

    # -- reading the store ---------------------------------------------------------------------------------
    async def bootstrap(self) -> None:
        """Install the stored runtime models (the cached ones when the store is down)."""
        store = self.gateway.store
        try:
            await store.run(store.create)
            wanted = await store.run(runtime_models.read_all, store.engine)
        except STORE_ERRORS as error:
            logger.warning("runtime models from the cache: the store is unreachable ({})", error)
            wanted = self.cache.load()
        await self._apply(wanted)
        self._booted = True

    async def poll(self) -> None:
        """Follow the store's runtime models (nothing changes while it is unreachable)."""
        store = self.gateway.store
        try:
            wanted = await store.run(runtime_models.read_all, store.engine)
        except STORE_ERRORS:
            return  # the state sync reports the outage
        await self._apply(wanted)

    async def _apply(self, wanted: dict[str, RuntimeModel]) -> None:
        async with self._applying:  # the sync loop and an admin call may apply at the same time
            self._apply_now(wanted)
            for model in [m for n, m in wanted.items() if n in self._pending]:
                await self._take_record(model.config)
            self._pending.clear()
        self.cache.save(self.installed)

    def _apply_now(self, wanted: dict[str, RuntimeModel]) -> None:
        for name in [n for n in self.installed if n not in wanted]:
            self._uninstall(name)
            logger.info("runtime model {} removed", name)
        for name, model in wanted.items():
            if self.git.model(name) is not None:
                logger.warning("runtime model {} ignored: Git declares a model of that name", name)
                continue
            current = self.installed.get(name)
            if current is not None and _same_runtime(current, model):
                self.installed[name] = model  # weights only: the record routes them
                continue
            if current is not None:
                self._uninstall(name)
            self._install(model)
            logger.info("runtime model {} served (generation {})", name, model.generation)

    # -- changing this replica's parts ---------------------------------------------------------------------
    def _install(self, model: RuntimeModel) -> None:
        gateway, config = self.gateway, model.config
        runtime = ModelRuntime(config, gateway.metrics, gateway.clock)
        gateway.models[config.name] = runtime
        for alias, variants in runtime.aliases.items():
            gateway.repository.slots[(config.name, alias)] = AliasSlot(runtime, alias, variants)
        gateway.sync.leases[config.name] = Lease()
        gateway.controller.models[config.name] = config
        gateway.controller.aliases.models[config.name] = config
        self.installed[config.name] = model
        self._publish_config()
        if self._booted:  # at bootstrap the state sync reads the records itself
            gateway.sync.records[config.name] = initial_record(config)  # revision 0: the next poll reads it
            self._pending.add(config.name)

    async def _take_record(self, config: ModelConfig) -> None:
        store, sync = self.gateway.store, self.gateway.sync
        try:
            record = await store.run(store.read, config.name)
            if record is None:
                record = await store.run(store.init, initial_record(config))
        except STORE_ERRORS:
            record = initial_record(config)
        sync.apply(record, force=True)

    def _uninstall(self, name: str) -> None:
        gateway = self.gateway
        runtime = gateway.models.pop(name, None)
        if runtime is not None and runtime.shadow is not None:
            runtime.shadow.stop()
        for key in [k for k in gateway.repository.slots if k[0] == name]:
            slot = gateway.repository.slots.pop(key)
            if slot.task is not None:
                slot.task.cancel()
        lease = gateway.sync.leases.pop(name, None)
        if lease is not None and lease.held:
            store = gateway.store
            with contextlib.suppress(Exception):
                store.release_lease(store.replica, f"rollout:{name}")
        gateway.metrics.forget_model(name)
        gateway.metrics.leader.labels(name).set(0)
        gateway.sync.records.pop(name, None)
        for table in (gateway.sync.absent, gateway.sync.unresolved):
            for key in [k for k in table if k[0] == name]:
                del table[key]
        gateway.controller.models.pop(name, None)
        gateway.controller.aliases.models.pop(name, None)
        self.installed.pop(name, None)
        self._publish_config()

    def _publish_config(self) -> None:
        """Give every part the config of the Git models plus the installed runtime models."""
        models = [*self.git.models, *(m.config for m in self.installed.values())]
        config = self.git.model_copy(update={"models": models})
        gateway = self.gateway
        gateway.config = config
        for part in (
            gateway.sync,
            gateway.controller,
            gateway.controller.aliases,
            gateway.admin,
            gateway.view,
        ):
            part.config = config

    def describe(self, name: str) -> dict[str, Any]:
        """What the admin API answers about one model: its declaration and how far the fleet serves it."""
        if self.source(name) == "git":
            config = self.git.model(name)
            assert config is not None
            body = {"name": name, "managed_by": "git", "spec": runtime_models.spec_of(config)}
        else:
            body = {"name": name, "managed_by": "api", **self.installed[name].as_json()}
        return {**body, "fleet": self.convergence(name)}

    def convergence(self, name: str) -> dict[str, Any]:
        """Alive replicas, the ones serving every alias's target version of `name` with the record's
        weights, and `converged` when that is all of them (as of the last heartbeats)."""
        sync, runtime = self.gateway.sync, self.gateway.models[name]
        record = sync.records.get(name)
        targets = dict(record.aliases) if record else {}
        wanted = {v.name: targets.get(v.alias) for v in runtime.variants.values()}
        rows = {row["replica"]: row["state"] for row in sync.alive()}
        rows[sync.replica] = sync.replica_state()
        serving = sorted(
            replica
            for replica, state in rows.items()
            if state.get("models", {}).get(name, {}).get("versions") == wanted
        )
        known = all(version is not None for version in wanted.values())
        return {
            "replicas": sorted(rows),
            "serving": serving,
            "targets": wanted,
            "weights": dict(runtime.weights),
            "converged": known and len(serving) == len(rows),
        }

    # -- admin actions ---------------------------------------------------------------------------------------
    async def declare(self, name: str, spec: object, actor: str) -> tuple[int, dict[str, Any]]:
        """Create or update a runtime model: 201 new, 200 changed, 200 `changed: false` when identical.

        The spec is checked like the config file; a Git model is 409. Weights-only changes go through
        the rollout record (like a traffic call); any other change rebuilds the model on every replica."""
        gateway = self.gateway
        gateway.sync.require_store()
        config = runtime_models.validate(spec, name, self.git)
        weights = {v.name: v.weight for v in config.primary_variants}
        routed = config.strategy != "bluegreen" and self._weights_only(name, config)
        if routed:  # the record first: when its write fails, the row keeps the old spec and a retry redoes it
            await gateway.admin.set_traffic(name, weights, actor)
        store = gateway.store
        try:
            stored, changed, reshaped = await store.run(runtime_models.put, store.engine, config, actor)
        except STORE_ERRORS as error:
            raise _store_down(error) from None
        created = name not in self.installed
        if changed:
            await self._apply({**self.installed, name: stored})
            if not reshaped and not routed and config.strategy != "bluegreen":
                await gateway.admin.set_traffic(name, weights, actor)
            gateway.events.publish(
                "model_declared", name, actor=actor, generation=stored.generation, created=created
            )
            await gateway.events.flush()
        body = {**self.describe(name), "changed": changed, "created": created and changed}
        return (201 if created and changed else 200), body

    def _weights_only(self, name: str, config: ModelConfig) -> bool:
        """Whether `config` differs from the installed runtime model `name` in its weights alone."""
        current = self.installed.get(name)
        return (
            current is not None
            and runtime_models.spec_of(current.config) != runtime_models.spec_of(config)
            and runtime_models.structure(current.config) == runtime_models.structure(config)
        )

    async def withdraw(self, name: str, actor: str) -> dict[str, Any]:
        """Delete a runtime model from the fleet (409 for a Git model, 404 for an unknown one)."""
        gateway = self.gateway
        if self.git.model(name) is not None:
            raise Conflict(f"model {name!r} is managed by Git: remove it from the gateway config")
        gateway.sync.require_store()
        store = gateway.store
        try:  # the store decides (this replica may not have seen a model declared a moment ago)
            removed = await store.run(runtime_models.remove, store.engine, name)
        except STORE_ERRORS as error:
            raise _store_down(error) from None
        if not removed:
            raise NotFound(f"model {name!r} is not a runtime model of this fleet")
        await self._apply({n: m for n, m in self.installed.items() if n != name})
        gateway.events.publish("model_deleted", name, actor=actor)
        await gateway.events.flush()
        return {"name": name, "deleted": True}
