"""Model repository: one load per (alias, version), newer targets queue behind, failures back off."""

from __future__ import annotations

import asyncio
import itertools
import threading

import pytest

from serving.config import parse_config
from serving.errors import Conflict, Unavailable
from serving.metrics import Metrics
from serving.repository import Backoff, ModelRepository
from serving.runtime import ModelRuntime
from tests.unit.serving.fleet import FakeClock, MemoryRegistry

CONFIG = parse_config(
    {
        "models": [
            {
                "name": "iris",
                "registered_model": "reg",
                "strategy": "single",
                "variants": [{"name": "main", "alias": "champion", "weight": 100}],
            }
        ]
    }
)


class SlowRegistry(MemoryRegistry):
    """Loads of the versions in `gates` wait until their gate opens."""

    def __init__(self) -> None:
        super().__init__()
        self.gates: dict[str, threading.Event] = {}

    def load(self, registered_model: str, version: str):
        gate = self.gates.get(version)
        if gate is not None:
            gate.wait(30)
        return super().load(registered_model, version)


def _repository(registry: MemoryRegistry, clock: FakeClock | None = None) -> ModelRepository:
    metrics = Metrics()
    runtimes = {"iris": ModelRuntime(CONFIG.models[0], metrics)}
    backoff = Backoff(base=1.0, cap=8.0, jitter=0.0)
    return ModelRepository(registry, runtimes, metrics, backoff, clock or FakeClock())


def test_concurrent_loads_of_one_version_share_one_load():
    async def scenario() -> None:
        registry = MemoryRegistry()
        repository = _repository(registry)
        results = await asyncio.gather(*(repository.load("iris", "champion", "2") for _ in range(8)))
        assert registry.loads == [("reg", "2")]
        assert sum(r.changed for r in results) == 8 and {r.version for r in results} == {"2"}
        again = await repository.load("iris", "champion", "2")
        assert not again.changed and registry.loads == [("reg", "2")]

    asyncio.run(scenario())


def test_a_newer_version_queues_behind_the_running_load_and_wins():
    """Defect: flights were keyed by (model, alias) only, so a promote that moved the alias to v2 while a
    slow load of v1 ran joined that flight and answered "version 1, changed false"; v1 stayed served."""

    async def scenario() -> None:
        registry = SlowRegistry()
        registry.gates["1"] = threading.Event()
        repository = _repository(registry)
        first = asyncio.ensure_future(repository.load("iris", "champion", "1"))
        await asyncio.sleep(0.05)  # v1 is loading
        second = asyncio.ensure_future(repository.load("iris", "champion", "2"))
        await asyncio.sleep(0.05)
        registry.gates["1"].set()
        one, two = await first, await second
        assert (one.version, one.changed) == ("1", True)
        assert (two.version, two.changed, two.previous_version) == ("2", True, "1")
        assert repository.slot("iris", "champion").served == "2"
        assert registry.loads == [("reg", "1"), ("reg", "2")]

    asyncio.run(scenario())


def test_a_target_replaced_before_its_load_started_is_answered_as_superseded():
    async def scenario() -> None:
        registry = SlowRegistry()
        registry.gates["1"] = threading.Event()
        repository = _repository(registry)
        first = asyncio.ensure_future(repository.load("iris", "champion", "1"))
        await asyncio.sleep(0.05)
        skipped = asyncio.ensure_future(repository.load("iris", "champion", "2"))
        last = asyncio.ensure_future(repository.load("iris", "champion", "3"))
        await asyncio.sleep(0.05)
        registry.gates["1"].set()
        await first
        with pytest.raises(Conflict, match="moved on to v3"):
            await skipped
        assert (await last).version == "3"
        assert registry.loads == [("reg", "1"), ("reg", "3")]

    asyncio.run(scenario())


def test_failed_loads_back_off_exponentially_up_to_the_cap_and_are_visible():
    """Defect: a version that kept failing was downloaded again every 3 s, without back-off."""

    async def scenario() -> None:
        registry, clock = MemoryRegistry(), FakeClock()
        registry.broken.add(("reg", "9"))
        repository = _repository(registry, clock)
        attempts_at: list[float] = []
        for _ in range(60):  # the sync loop asks every 0.5 s for 30 s
            before = len(registry.loads)
            repository.converge("iris", "champion", "9")
            await repository.idle()
            if len(registry.loads) > before:
                attempts_at.append(clock.mono - 1000.0)
            clock.advance(0.5)
        gaps = [round(b - a, 1) for a, b in itertools.pairwise(attempts_at)]
        assert gaps[:4] == [1.0, 2.0, 4.0, 8.0] and set(gaps[3:]) == {8.0}
        failure = repository.slot("iris", "champion").failure
        assert failure is not None and failure.version == "9" and failure.attempts == len(attempts_at)
        assert "artifacts unreadable" in failure.reason
        # an explicit reload does not wait for the back-off
        with pytest.raises(Unavailable):
            await repository.load("iris", "champion", "9")
        assert len(registry.loads) == len(attempts_at) + 1
        registry.broken.clear()
        assert (await repository.load("iris", "champion", "9")).changed
        assert repository.slot("iris", "champion").failure is None

    asyncio.run(scenario())
