"""The rollout controller under random interleavings (hypothesis stateful test).

Real gateway replicas (store, lease, sync, controller, admin) on one in-memory store and an in-memory
MLflow registry, driven by a fake clock: reloads, alias moves made directly in MLflow, promotions,
rollbacks, blue-green switches, traffic, requests good and bad, replicas started, killed (-9) and
stopped, leases expiring, versions that fail to load, MLflow and the store going down. Invariants:
weights sum to 100; at most one replica leads; every recorded move undoes to the version served
before it; at most one canary start per rollout; after convergence every replica serves each alias's
target, no operation hangs, and the store and MLflow agree; a rollback then restores the version that
served before the last move.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from serving.errors import ServingError
from tests.unit.serving.fleet import Fleet

CONFIG = {
    "resolve_interval_seconds": 10,
    "retry_interval_seconds": 1,
    "retry_max_seconds": 8,
    "lease_seconds": 6,
    "heartbeat_seconds": 1,
    "sync_interval_seconds": 0.5,
    "operation_timeout_seconds": 40,
    "models": [
        {
            "name": "c",
            "registered_model": "reg-c",
            "strategy": "canary",
            "variants": [
                {"name": "champion", "alias": "champion", "weight": 90},
                {"name": "challenger", "alias": "challenger", "weight": 10},
            ],
            "canary": {
                "steps": [50, 100],
                "interval_seconds": 3,
                "gates": {"min_requests": 6, "max_error_rate": 0.2, "window_seconds": 30},
            },
        },
        {
            "name": "b",
            "registered_model": "reg-b",
            "strategy": "bluegreen",
            "variants": [{"name": "blue", "alias": "blue"}, {"name": "green", "alias": "green"}],
            "bluegreen": {"active": "blue", "preview": "green"},
        },
    ],
}
ALIASES = {"c": ("champion", "challenger"), "b": ("blue", "green")}
REGISTERED = {"c": "reg-c", "b": "reg-b"}
VERSIONS = st.sampled_from(["1", "2", "3", "4"])
MODELS = st.sampled_from(["c", "b"])


class FleetMachine(RuleBasedStateMachine):
    """A fleet of gateway replicas and everything that can happen to it."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = Path(tempfile.mkdtemp(prefix="fleet-"))
        self.fleet = Fleet(CONFIG, self.folder)
        self.bad: set[str] = set()  # versions of reg-c whose answers are 500s

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.fleet.close())
        self.loop.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def replica(self, data: st.DataObject):
        return self.fleet.replicas[data.draw(st.sampled_from(sorted(self.fleet.replicas)), label="replica")]

    @initialize(replicas=st.integers(1, 3))
    def start_fleet(self, replicas: int) -> None:
        for model, aliases in ALIASES.items():
            for alias in aliases:
                self.fleet.registry.aliases[(REGISTERED[model], alias)] = "1"
        for _ in range(replicas):
            self.run(self.fleet.start())
        self.run(self.fleet.step(1.0))

    # -- replicas and time ---------------------------------------------------------------------------
    @precondition(lambda self: len(self.fleet.replicas) < 4)
    @rule()
    def start_replica(self) -> None:
        self.run(self.fleet.start())

    @precondition(lambda self: len(self.fleet.replicas) > 1)
    @rule(data=st.data(), leader_first=st.booleans())
    def kill_replica(self, data: st.DataObject, leader_first: bool) -> None:
        leaders = self.fleet.leaders("c")
        name = leaders[0] if leader_first and leaders else self.replica(data).replica
        self.fleet.kill(name)

    @precondition(lambda self: len(self.fleet.replicas) > 1)
    @rule(data=st.data())
    def stop_replica(self, data: st.DataObject) -> None:
        self.run(self.fleet.stop(self.replica(data).replica))

    @rule(seconds=st.sampled_from([0.5, 1.0, 3.0, 7.0]))
    def tick(self, seconds: float) -> None:
        self.run(self.fleet.step(seconds))

    @rule()
    def lease_expires(self) -> None:
        self.run(self.fleet.step(CONFIG["lease_seconds"] + 1))

    @rule(down=st.booleans())
    def mlflow_outage(self, down: bool) -> None:
        self.fleet.registry.down = down

    @rule(down=st.booleans())
    def store_outage(self, down: bool) -> None:
        self.fleet.store_down = down

    @rule(model=MODELS, version=VERSIONS, broken=st.booleans())
    def version_loads(self, model: str, version: str, broken: bool) -> None:
        key = (REGISTERED[model], version)
        (self.fleet.registry.broken.add if broken else self.fleet.registry.broken.discard)(key)

    @rule(version=VERSIONS, bad=st.booleans())
    def version_answers(self, version: str, bad: bool) -> None:
        (self.bad.add if bad else self.bad.discard)(version)

    # -- traffic and admin calls ----------------------------------------------------------------------
    @rule(data=st.data(), requests=st.integers(1, 20))
    def serve(self, data: st.DataObject, requests: int) -> None:
        gateway = self.replica(data)
        runtime = gateway.models["c"]
        for i in range(requests):
            variant = runtime.choose(f"user-{i}", None)
            if variant is not None and variant.model is not None:
                variant.record(0.002, 500 if variant.version in self.bad else 200)

    def _admin(self, call) -> None:
        with contextlib.suppress(ServingError):  # refused (409, 404, 503): the invariants judge the rest
            self.run(call)

    @rule(data=st.data(), model=MODELS, version=VERSIONS, alias_index=st.integers(0, 1))
    def move_and_reload(self, data: st.DataObject, model: str, version: str, alias_index: int) -> None:
        alias = ALIASES[model][alias_index]
        if not self.fleet.registry.down:
            self.fleet.registry.aliases[(REGISTERED[model], alias)] = version
        self._admin(self.replica(data).admin.reload(alias, model, "hypothesis"))

    @rule(model=MODELS, version=VERSIONS, alias_index=st.integers(0, 1))
    def move_in_mlflow_only(self, model: str, version: str, alias_index: int) -> None:
        self.fleet.registry.aliases[(REGISTERED[model], ALIASES[model][alias_index])] = version

    @rule(data=st.data(), model=MODELS)
    def promote(self, data: st.DataObject, model: str) -> None:
        self._admin(self.replica(data).admin.promote(model, "hypothesis"))

    @rule(data=st.data(), model=MODELS)
    def rollback(self, data: st.DataObject, model: str) -> None:
        self._admin(self.replica(data).admin.rollback(model, "hypothesis"))

    @rule(data=st.data())
    def switch(self, data: st.DataObject) -> None:
        self._admin(self.replica(data).admin.switch("b", "hypothesis"))

    @rule(data=st.data(), weight=st.integers(0, 100))
    def traffic(self, data: st.DataObject, weight: int) -> None:
        weights = {"champion": 100 - weight, "challenger": weight}
        self._admin(self.replica(data).admin.set_traffic("c", weights, "hypothesis"))

    # -- convergence ------------------------------------------------------------------------------------
    def _heal_and_converge(self) -> None:
        fleet = self.fleet
        fleet.registry.down = False
        fleet.store_down = False
        fleet.registry.broken.clear()
        for _ in range(200):
            self.run(fleet.step(1.0))
            if self._converged():
                break
        for model in ALIASES:
            record = fleet.record(model)
            assert record.operation is None, f"{model}: operation stuck: {record.operation}"
            for alias in ALIASES[model]:
                mlflow = fleet.registry.aliases.get((REGISTERED[model], alias))
                assert record.aliases.get(alias) == mlflow, f"{model}/{alias}: store and MLflow disagree"
                for name, gateway in fleet.replicas.items():
                    served = gateway.repository.slots[(model, alias)].served
                    assert served == mlflow, f"{name} serves {model}/{alias} v{served}, target v{mlflow}"

    def _converged(self) -> bool:
        for model in ALIASES:
            record = self.fleet.record(model)
            if record.operation is not None:
                return False
            for alias in ALIASES[model]:
                target = self.fleet.registry.aliases.get((REGISTERED[model], alias))
                if record.aliases.get(alias) != target:
                    return False
                if any(
                    g.repository.slots[(model, alias)].served != target for g in self.fleet.replicas.values()
                ):
                    return False
        return True

    @rule()
    def converge(self) -> None:
        self._heal_and_converge()

    @rule(data=st.data(), model=MODELS)
    def converge_then_roll_back(self, data: st.DataObject, model: str) -> None:
        self._heal_and_converge()
        record = self.fleet.record(model)
        if not record.moves:
            return
        last = record.moves[-1]
        self._admin(self.replica(data).admin.rollback(model, "hypothesis"))
        self._heal_and_converge()
        after = self.fleet.record(model)
        assert after.last_operation is not None and after.last_operation.kind == "rollback"
        assert after.aliases[last.alias] == last.from_version, "rollback did not restore the previous version"

    # -- invariants --------------------------------------------------------------------------------------
    @invariant()
    def weights_sum_to_100(self) -> None:
        for name, gateway in self.fleet.replicas.items():
            for model, runtime in gateway.models.items():
                assert sum(runtime.weights.values()) == 100, f"{name} {model} routes by {runtime.weights}"
        record = self.fleet.record("c")
        if record is not None:
            assert sum(record.weights.values()) == 100, record.weights

    @invariant()
    def at_most_one_leader(self) -> None:
        for model in ALIASES:
            assert len(self.fleet.leaders(model)) <= 1, self.fleet.leaders(model)

    @invariant()
    def every_move_undoes_to_what_served_before(self) -> None:
        for model in ALIASES:
            record = self.fleet.record(model)
            if record is None:
                continue
            last: dict[str, str] = {}
            for move in record.moves:
                assert move.from_version is not None and move.from_version != move.to_version, move
                if move.alias in last:
                    assert move.from_version == last[move.alias], f"move {move} does not follow {last}"
                last[move.alias] = move.to_version
            for alias, version in last.items():
                assert record.aliases.get(alias) == version, f"{alias}: record v{record.aliases.get(alias)}"

    @invariant()
    def at_most_one_canary_start_per_rollout(self) -> None:
        starts = [e["data"]["rollout"] for e in self.fleet.events() if e["type"] == "canary_start"]
        assert len(starts) == len(set(starts)), f"canary restarted: rollouts {starts}"
        assert starts == sorted(starts)


FleetMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestRolloutController = FleetMachine.TestCase
