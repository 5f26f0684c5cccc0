"""Runtime models under random interleavings (hypothesis stateful test).

Real gateway replicas on one in-memory store and an in-memory registry, driven by a fake clock:
runtime models declared (new, weights only, new shape), deleted, declared again, through any replica,
while replicas start, are killed (-9) or stopped and the store goes down and comes back. Invariants:
a declaration or deletion that was answered is what the store holds; after convergence (store up,
a few rounds) every live replica serves exactly the Git model plus the stored runtime models, each
with the stored spec's variants, the stored record's weights and every alias's version loaded, and a
deleted model is neither served nor has a record.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from serving import runtime_models
from serving.errors import ServingError
from tests.unit.serving.fleet import Fleet

GIT = {
    "heartbeat_seconds": 1,
    "sync_interval_seconds": 0.5,
    "lease_seconds": 6,
    "retry_interval_seconds": 1,
    "retry_max_seconds": 4,
    "models": [
        {
            "name": "git",
            "registered_model": "reg-git",
            "variants": [{"name": "main", "alias": "champion", "weight": 100}],
        }
    ],
}
SHAPES = {
    "single": {"strategy": "single", "variants": [{"name": "main", "alias": "champion", "weight": 100}]},
    "ab": {
        "strategy": "ab",
        "variants": [
            {"name": "a", "alias": "champion", "weight": 50},
            {"name": "b", "alias": "challenger", "weight": 50},
        ],
    },
    "bluegreen": {
        "strategy": "bluegreen",
        "variants": [{"name": "blue", "alias": "champion"}, {"name": "green", "alias": "challenger"}],
        "bluegreen": {"active": "blue", "preview": "green"},
    },
}
NAMES = st.sampled_from(["r1", "r2"])


def _spec(shape: str, split: int) -> dict[str, Any]:
    spec = {"registered_model": "reg-rt", **SHAPES[shape]}
    if shape == "ab":
        spec["variants"] = [
            {"name": "a", "alias": "champion", "weight": split},
            {"name": "b", "alias": "challenger", "weight": 100 - split},
        ]
    return spec


class CatalogMachine(RuleBasedStateMachine):
    """A fleet of replicas and the runtime models declared on it."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = Path(tempfile.mkdtemp(prefix="catalog-"))
        self.fleet = Fleet(GIT, self.folder)
        self.declared: dict[str, dict[str, Any]] = {}  # what answered declarations and deletions left

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.fleet.close())
        self.loop.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def replica(self, data: st.DataObject) -> Any:
        return self.fleet.replicas[data.draw(st.sampled_from(sorted(self.fleet.replicas)), label="replica")]

    @initialize(replicas=st.integers(1, 3))
    def start_fleet(self, replicas: int) -> None:
        for registered, alias, version in [
            ("reg-git", "champion", "1"),
            ("reg-rt", "champion", "5"),
            ("reg-rt", "challenger", "6"),
        ]:
            self.fleet.registry.aliases[(registered, alias)] = version
        for _ in range(replicas):
            self.run(self.fleet.start())
        self.run(self.fleet.step(1.0))

    # -- admin calls ---------------------------------------------------------------------------------
    @rule(
        data=st.data(), name=NAMES, shape=st.sampled_from(sorted(SHAPES)), split=st.sampled_from([10, 50, 90])
    )
    def declare(self, data: st.DataObject, name: str, shape: str, split: int) -> None:
        spec = _spec(shape, split)
        try:
            self.run(self.replica(data).catalog.declare(name, spec, "test"))
        except ServingError as error:
            assert error.status == 503 and self.fleet.store_down, error.message
            return
        self.declared[name] = spec

    @rule(data=st.data(), name=NAMES)
    def withdraw(self, data: st.DataObject, name: str) -> None:
        try:
            self.run(self.replica(data).catalog.withdraw(name, "test"))
        except ServingError as error:
            if error.status == 404:
                assert name not in self.declared, error.message
            else:
                assert error.status == 503 and self.fleet.store_down, error.message
            return
        assert name in self.declared
        del self.declared[name]

    # -- replicas, time, the store -------------------------------------------------------------------
    @precondition(lambda self: len(self.fleet.replicas) < 3)
    @rule()
    def start_replica(self) -> None:
        self.run(self.fleet.start())

    @precondition(lambda self: len(self.fleet.replicas) > 1)
    @rule(data=st.data(), clean=st.booleans())
    def remove_replica(self, data: st.DataObject, clean: bool) -> None:
        name = self.replica(data).replica
        if clean:
            self.run(self.fleet.stop(name))
        else:
            self.fleet.kill(name)

    @rule(seconds=st.sampled_from([0.5, 1.0, 7.0]))
    def tick(self, seconds: float) -> None:
        self.run(self.fleet.step(seconds))

    @rule(down=st.booleans())
    def store(self, down: bool) -> None:
        self.fleet.store_down = down

    # -- invariants -----------------------------------------------------------------------------------
    @invariant()
    def the_store_holds_what_was_answered(self) -> None:
        stored = runtime_models.read_all(self.fleet.engine)
        assert sorted(stored) == sorted(self.declared)
        for name, spec in self.declared.items():
            assert [v.name for v in stored[name].config.variants] == [v["name"] for v in spec["variants"]]

    @invariant()
    def after_convergence_every_replica_serves_the_catalog(self) -> None:
        if self.fleet.store_down or not self.fleet.replicas:
            return
        for _ in range(4):
            self.run(self.fleet.step(1.0))
        stored = runtime_models.read_all(self.fleet.engine)
        for gateway in self.fleet.replicas.values():
            assert sorted(gateway.models) == sorted(["git", *stored])
            assert [m.name for m in gateway.config.models] == ["git", *gateway.catalog.installed]
            for name, model in stored.items():
                runtime = gateway.models[name]
                assert [v.name for v in runtime.config.variants] == [v.name for v in model.config.variants]
                record = self.fleet.record(name)
                assert record is not None
                if model.config.strategy != "bluegreen":
                    assert runtime.weights == record.weights
                assert all(v.model is not None for v in runtime.variants.values()), gateway.ready()
        for name in {"r1", "r2"} - set(stored):
            assert self.fleet.record(name) is None


CatalogMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=20, deadline=None, suppress_health_check=list(HealthCheck)
)
test_runtime_models_under_random_interleavings = CatalogMachine.TestCase
