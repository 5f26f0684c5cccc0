"""Status view: what one model looks like from this replica and across the fleet; readiness.

Built from memory only (the records and fleet rows the sync loop keeps): a status call never waits
for the store and never walks request windows.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from serving.clock import Clock
from serving.config import ModelConfig, ServingConfig
from serving.record import RolloutRecord
from serving.repository import ModelRepository
from serving.rollout import alias_of, initial_record
from serving.runtime import ModelRuntime, VariantRuntime
from serving.sync import StateSync


class StatusView:
    """Status documents and readiness of one replica."""

    def __init__(
        self,
        config: ServingConfig,
        runtimes: dict[str, ModelRuntime],
        repository: ModelRepository,
        sync: StateSync,
        clock: Clock,
    ) -> None:
        self.config = config
        self.runtimes = runtimes
        self.repository = repository
        self.sync = sync
        self.clock = clock

    # -- readiness ---------------------------------------------------------------------------------------
    def blocking(self, model: str | None = None) -> tuple[list[str], list[str]]:
        """(what keeps this replica from being ready, aliases that do not exist in MLflow yet).

        Ready = every alias with a known version serves one; an alias MLflow does not have yet
        does not block (its variant gets no traffic)."""
        missing: list[str] = []
        waiting: list[str] = []
        for (name, alias), slot in self.repository.slots.items():
            if (model is not None and name != model) or slot.served is not None:
                continue
            record = self.sync.records.get(name)
            target = record.aliases.get(alias) if record else None
            for variant in slot.variants:
                where = f"{name}/{variant.name} (alias {alias})"
                if target is not None:
                    why = slot.failure.reason if slot.failure else f"loading version {target}"
                    missing.append(f"{where}: {why}")
                elif (name, alias) in self.sync.absent:
                    waiting.append(f"{where}: {self.sync.absent[(name, alias)]}; no traffic until it exists")
                else:
                    why = self.sync.unresolved.get((name, alias), "not resolved in MLflow yet")
                    missing.append(f"{where}: {why}")
        return missing, waiting

    def readiness(self) -> dict[str, Any]:
        """Body of /readyz."""
        missing, waiting = self.blocking()
        body: dict[str, Any] = {"ready": not missing, "missing": missing, "waiting": waiting}
        body["degraded"] = self.sync.degraded is not None
        if self.sync.degraded is not None:
            body["degraded_reason"] = "state store unreachable: serving the last known state"
        return body

    # -- status --------------------------------------------------------------------------------------------
    def status(self, model: str) -> dict[str, Any]:
        """Everything an operator or a DAG needs to know about one model."""
        runtime = self.runtimes[model]
        config = runtime.config
        record = self.sync.records.get(model) or initial_record(config)
        status: dict[str, Any] = {
            "name": model,
            "registered_model": config.registered_model,
            "strategy": config.strategy,
            "ready": not self.blocking(model)[0],
            "weights": dict(runtime.weights),
            "aliases": {alias: variants[0].version for alias, variants in runtime.aliases.items()},
            "targets": {alias: record.aliases.get(alias) for alias in runtime.aliases},
            "previous": {alias: record.previous(alias) for alias in runtime.aliases},
            "variants": [self._variant(config, record, v) for v in runtime.variants.values()],
            "rollout": self._rollout(record),
            "replica_id": self.sync.replica,
            "degraded": self.sync.degraded is not None,
            "replicas": self._replicas(model),
        }
        if config.strategy == "canary" and config.canary:
            status["canary"] = self._canary(config, record, runtime)
        if config.bluegreen:
            active = record.active or config.bluegreen.active
            other = config.bluegreen.preview if active == config.bluegreen.active else config.bluegreen.active
            status["bluegreen"] = {"active": active, "preview": other}
        if runtime.shadow is not None:
            status["shadow"] = {name: stats.as_dict() for name, stats in runtime.shadow.stats.items()}
        return status

    def _variant(self, config: ModelConfig, record: RolloutRecord, variant: VariantRuntime) -> dict[str, Any]:
        loaded = variant.model
        slot = self.repository.slots[(config.name, variant.alias)]
        window = variant.summary().brief()
        fleet = self.sync.fleet_summary(config.name, variant.name, variant.version).brief()
        return {
            "name": variant.name,
            "alias": variant.alias,
            "shadow": variant.shadow,
            "version": loaded.version if loaded else None,
            "target_version": record.aliases.get(variant.alias),
            "weight": 0 if variant.shadow else self.runtimes[config.name].weights.get(variant.name, 0),
            "loaded_at": loaded.loaded_at if loaded else None,
            "load_seconds": round(loaded.load_seconds, 3) if loaded else None,
            "fast_path": loaded.fast_path if loaded else None,
            "fast_path_off_because": loaded.fast_reason if loaded else None,
            "requests": variant.requests,
            "errors": variant.errors,
            "client_errors": variant.client_errors,
            "window": {"seconds": variant.window_seconds, **window},
            "fleet_window": {"seconds": variant.window_seconds, **fleet},
            "last_error": variant.last_error or self._why_not_loaded(config.name, variant),
            "load_failure": slot.failure.as_json(self.clock.monotonic()) if slot.failure else None,
        }

    def _why_not_loaded(self, model: str, variant: VariantRuntime) -> str | None:
        if variant.model is not None:
            return None
        key = (model, variant.alias)
        return self.sync.unresolved.get(key) or self.sync.absent.get(key)

    def _rollout(self, record: RolloutRecord) -> dict[str, Any]:
        return {
            "revision": record.revision,
            "phase": record.phase,
            "operation": asdict(record.operation) if record.operation else None,
            "last_operation": asdict(record.last_operation) if record.last_operation else None,
            "moves": [asdict(m) for m in record.moves[-5:]],
            "leader": self.sync.leader_of(record.model),
            "term": record.term,
        }

    def _canary(self, config: ModelConfig, record: RolloutRecord, runtime: ModelRuntime) -> dict[str, Any]:
        assert config.canary is not None
        state = record.canary
        baseline_version = record.aliases.get(alias_of(config, config.baseline_variant))
        return {
            "variant": config.canary_variant,
            "baseline": config.baseline_variant,
            "status": state.status,
            "step": state.step,
            "steps": config.canary.steps,
            "weight": runtime.weights.get(config.canary_variant, 0),
            "step_started_at": state.step_started,
            "version": state.version,
            "baseline_version": baseline_version,
            "reason": state.reason,
            "rollout": state.rollout,
            "interval_seconds": config.canary.interval_seconds,
            "gates": config.canary.gates.model_dump(),
            "fleet": {
                "canary": self.sync.fleet_summary(config.name, config.canary_variant, state.version).brief(),
                "baseline": self.sync.fleet_summary(
                    config.name, config.baseline_variant, baseline_version
                ).brief(),
            },
        }

    def _replicas(self, model: str) -> list[dict[str, Any]]:
        now = self.clock.now()
        own = {"replica": self.sync.replica, "started_at": self.sync.started_at, "last_seen": now}
        own["state"] = self.sync.replica_state()  # this replica: its live state, not its last heartbeat
        fleet = [row for row in self.sync.fleet if row["replica"] != self.sync.replica]
        rows = []
        for row in sorted([*fleet, own], key=lambda r: str(r["replica"])):
            state = row["state"].get("models", {}).get(model)
            if state is None:
                continue
            rows.append(
                {
                    "replica_id": row["replica"],
                    "versions": state.get("versions", {}),
                    "failures": state.get("failures", {}),
                    "last_seen": row["last_seen"],
                    "alive": now - row["last_seen"] < self.sync.liveness_seconds,
                    "started_at": row["started_at"],
                    "leader": model in (row["state"].get("leader") or []),
                    "degraded": row["state"].get("degraded"),
                }
            )
        return rows
