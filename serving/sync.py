"""State sync: this replica converges to the stored rollout records and tells the fleet where it is.

- poll: read the records whose revision moved, route by their weights, and load each alias's target
  version (the model repository does the loading, with back-off);
- heartbeat: publish the versions served, load failures and window summaries; read everyone else's;
- leases: hold or seek each model's controller lease (its leader runs the rollout controller);
- degraded mode: when the store cannot be reached the replica keeps serving from the last records it
  saw (cached on disk, so a restart without the store starts from them too).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from serving import traffic
from serving.clock import Clock
from serving.config import ServingConfig
from serving.errors import Unavailable
from serving.metrics import Metrics
from serving.record import RolloutRecord
from serving.repository import ModelRepository
from serving.rollout import initial_record
from serving.runtime import ModelRuntime
from serving.stats import Summary
from serving.store import STORE_ERRORS, Store, store_reason

LIVENESS_FLOOR_SECONDS = 10.0


@dataclass
class Lease:
    """This replica's view of one model's controller lease."""

    term: int = 0
    until: float = 0.0
    held: bool = False


class StateCache:
    """The last records read from the store, in one JSON file (written atomically)."""

    def __init__(self, folder: str | None, state_url: str) -> None:
        digest = hashlib.sha256(state_url.encode()).hexdigest()[:12]
        base = Path(folder) if folder else Path(tempfile.gettempdir()) / "serving-cache"
        self.path = base / f"state-{digest}.json"

    def load(self) -> dict[str, RolloutRecord]:
        """Cached records by model (empty when there is no readable cache)."""
        try:
            data = json.loads(self.path.read_text())
            return {
                name: RolloutRecord.from_json(item["record"], item["revision"]) for name, item in data.items()
            }
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.info("no usable state cache at {}: {}", self.path, error)
            return {}

    def save(self, records: dict[str, RolloutRecord]) -> None:
        """Replace the cache with `records`."""
        body = {name: {"revision": r.revision, "record": r.as_json()} for name, r in records.items()}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            scratch = self.path.with_suffix(f".{os.getpid()}.tmp")
            scratch.write_text(json.dumps(body, default=str))
            os.replace(scratch, self.path)
        except OSError as error:
            logger.warning("cannot write the state cache {}: {}", self.path, error)


class StateSync:
    """This replica's view of the fleet's state."""

    def __init__(
        self,
        config: ServingConfig,
        store: Store,
        repository: ModelRepository,
        runtimes: dict[str, ModelRuntime],
        metrics: Metrics,
        clock: Clock,
        cache: StateCache,
        started_at: float,
    ) -> None:
        self.config = config
        self.store = store
        self.repository = repository
        self.runtimes = runtimes
        self.metrics = metrics
        self.clock = clock
        self.cache = cache
        self.started_at = started_at
        self.replica = store.replica
        self.records: dict[str, RolloutRecord] = {}
        self.fleet: list[dict[str, Any]] = []
        self.holders: dict[str, dict[str, Any]] = {}
        self.degraded: str | None = None
        self.leases = {m.name: Lease() for m in config.models}
        self.absent: dict[tuple[str, str], str] = {}
        self.unresolved: dict[tuple[str, str], str] = {}
        self._stored = False
        self._local: set[str] = set()

    @property
    def liveness_seconds(self) -> float:
        """A replica unseen for longer is not alive."""
        return max(LIVENESS_FLOOR_SECONDS, 5 * self.config.heartbeat_seconds)

    # -- records ---------------------------------------------------------------------------------------
    async def bootstrap(self) -> None:
        """Records from the store, else from the disk cache, else from the config (aliases: MLflow)."""
        try:
            await self._load_from_store()
        except STORE_ERRORS as error:
            self._down(error)
            cached = self.cache.load()
            for model in self.config.models:
                record = cached.get(model.name) or initial_record(model)
                self.records[model.name] = record
                traffic.apply(self.runtimes[model.name], record)
            logger.warning(
                "serving from {} without the state store",
                "the cached state" if cached else "the config and MLflow's aliases",
            )
        self.converge()

    async def _load_from_store(self) -> None:
        await self.store.run(self.store.create)
        for model in self.config.models:
            record = await self.store.run(self.store.read, model.name)
            if record is None:
                record = await self.store.run(self.store.init, initial_record(model))
            self.apply(record, force=True)
        self._stored = True
        self._up()

    async def poll(self) -> None:
        """Take the records that changed in the store, then converge the loaded versions."""
        try:
            if not self._stored:
                await self._load_from_store()
            else:
                revisions = await self.store.run(self.store.revisions)
                for model in self.config.models:
                    current = self.records[model.name]
                    if model.name in self._local or revisions.get(model.name) != current.revision:
                        record = await self.store.run(self.store.read, model.name)
                        if record is None:
                            record = await self.store.run(self.store.init, initial_record(model))
                        self.apply(record, force=True)
                self._up()
        except STORE_ERRORS as error:
            self._down(error)
        self.converge()

    def apply(self, record: RolloutRecord, force: bool = False) -> None:
        """Serve by `record` (a newer revision than the one held, or any with `force`)."""
        current = self.records.get(record.model)
        if current is not None and not force and record.revision <= current.revision:
            return
        before = current.weights if current else None
        self.records[record.model] = record
        self._local.discard(record.model)
        traffic.apply(self.runtimes[record.model], record)
        if before is not None and before != record.weights:
            logger.info("{} weights now {}", record.model, record.weights)
        self.cache.save(self.records)
        for alias, version in record.aliases.items():
            if (record.model, alias) in self.repository.slots:
                self.repository.converge(record.model, alias, version)

    def adopt_local(self, model: str, alias: str, version: str) -> None:
        """Store down: serve `version` for `alias` as MLflow says, until the store is back."""
        record = self.records[model]
        if record.aliases.get(alias) != version:
            record.aliases[alias] = version
            self._local.add(model)
        self.converge()

    def converge(self) -> None:
        """Ask the repository to serve every alias's target version; report which aliases serve it."""
        for name, record in self.records.items():
            for alias, version in record.aliases.items():
                slot = self.repository.slots.get((name, alias))
                if slot is not None:
                    self.repository.converge(name, alias, version)
                    self.metrics.converged.labels(name, alias).set(1 if slot.served == version else 0)

    def require_store(self) -> None:
        """503 while the store is unreachable: admin changes need it."""
        if self.degraded is not None:
            raise Unavailable(
                "state store unavailable: admin changes need it; retry later",
                detail=f"state store unavailable ({self.degraded}): admin changes need it; retry later",
            )

    def _down(self, error: BaseException) -> None:
        reason = store_reason(error)
        if self.degraded is None:
            logger.warning("state store unreachable, serving the last known state: {}", reason)
        self.degraded = reason  # for the log and admin callers; public answers only say `degraded`
        self.metrics.degraded.set(1)

    def _up(self) -> None:
        if self.degraded is not None:
            logger.info("state store reachable again")
        self.degraded = None
        self.metrics.degraded.set(0)

    # -- heartbeats and the fleet -----------------------------------------------------------------------
    def replica_state(self) -> dict[str, Any]:
        """What this replica tells the fleet: versions, targets, load failures, window summaries."""
        now = self.clock.monotonic()
        models: dict[str, Any] = {}
        for name, runtime in self.runtimes.items():
            failures = {
                alias: slot.failure.as_json(now)
                for (model, alias), slot in self.repository.slots.items()
                if model == name and slot.failure is not None
            }
            windows = {
                v.name: {v.version: v.summary().as_json()}
                for v in runtime.variants.values()
                if v.version is not None
            }
            versions = {v.name: v.version for v in runtime.variants.values()}
            models[name] = {"versions": versions, "failures": failures, "windows": windows}
        led = sorted(name for name in self.leases if self.leads(name))
        return {"models": models, "leader": led, "degraded": self.degraded is not None}

    async def heartbeat(self) -> None:
        """Publish this replica's state and read the fleet's."""
        try:
            rows = await self.store.run(
                self.store.heartbeat, self.started_at, self.replica_state(), self.clock.now()
            )
            holders = await self.store.run(self.store.lease_holders)
        except STORE_ERRORS as error:
            self._down(error)
            return
        self.fleet = rows
        self.holders = holders
        self._up()

    def alive(self) -> list[dict[str, Any]]:
        """Rows of the replicas seen within the liveness period."""
        now = self.clock.now()
        return [row for row in self.fleet if now - row["last_seen"] < self.liveness_seconds]

    def fleet_summary(self, model: str, variant: str, version: str | None) -> Summary:
        """The fleet's merged window of one variant serving one version."""
        merged = Summary()
        if version is None:
            return merged
        for row in self.alive():
            windows = row["state"].get("models", {}).get(model, {}).get("windows", {})
            data = windows.get(variant, {}).get(version)
            if data:
                merged.merge(Summary.from_json(data))
        return merged

    # -- the controller leases (one per model) ------------------------------------------------------------
    async def renew_lease(self) -> None:
        """Take or renew the lease of every model; leadership ends when renewal fails past its expiry."""
        for name in self.leases:
            await self._renew(name)

    async def _renew(self, model: str) -> None:
        lease = self.leases[model]
        started = self.clock.now()
        seconds = self.config.lease_seconds
        try:
            term = await self.store.run(
                self.store.acquire_lease, self.replica, seconds, started, f"rollout:{model}"
            )
        except STORE_ERRORS as error:
            self._down(error)
            term = None
            lost = started >= lease.until
        else:
            lost = term is None
        if term is not None:
            if not lease.held or term != lease.term:
                logger.info("{} leads the rollout of {} (term {})", self.replica, model, term)
            lease.held, lease.term, lease.until = True, term, started + seconds
        elif lease.held and lost:
            logger.warning("{} lost the lease of {}", self.replica, model)
            lease.held = False
        self.metrics.leader.labels(model).set(1 if lease.held else 0)

    def leads(self, model: str) -> bool:
        """True while this replica holds an unexpired lease of `model`."""
        lease = self.leases[model]
        return lease.held and self.clock.now() < lease.until

    def term(self, model: str) -> int:
        """The term of this replica's lease of `model` (0: never held)."""
        return self.leases[model].term

    def step_down(self, model: str) -> None:
        """Stop acting for `model` (a newer term leads)."""
        self.leases[model].held = False
        self.metrics.leader.labels(model).set(0)

    def leader_of(self, model: str) -> str | None:
        """The replica holding `model`'s unexpired lease at the last heartbeat (None: nobody)."""
        if self.leads(model):
            return self.replica
        lease = self.holders.get(f"rollout:{model}")
        if lease is None or lease["expires_at"] <= self.clock.now():
            return None
        return str(lease["holder"])

    async def leave(self) -> None:
        """Clean shutdown: hand the leases over at once and drop this replica's row."""
        try:
            for name, lease in self.leases.items():
                if lease.held:
                    await self.store.run(self.store.release_lease, self.replica, f"rollout:{name}")
            await self.store.run(self.store.forget_replica)
        except STORE_ERRORS as error:
            logger.warning("cannot leave the fleet cleanly: {}", error)
        for lease in self.leases.values():
            lease.held = False
