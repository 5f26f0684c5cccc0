"""An in-process fleet: real gateway replicas on one in-memory store, an in-memory registry, a fake clock.

Replicas are the production `Gateway` objects with their loops not started; `Fleet.step` runs one
round of every loop of every live replica, so a test decides exactly when time passes and in which
order replicas act. "kill" drops a replica without any cleanup (its lease and row stay behind, as
after kill -9); the store and MLflow can be taken down and brought back.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool

from serving.clock import Clock
from serving.config import ServingConfig, parse_config
from serving.errors import NotFound, Unavailable
from serving.gateway import Gateway
from serving.settings import Settings
from serving.store import Store


class FakeClock(Clock):
    """Time that moves only when a test says so."""

    def __init__(self) -> None:
        self.wall = 1_000_000.0
        self.mono = 1_000.0

    def now(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


@dataclass
class FakeModel:
    """What the gateway needs of a loaded version."""

    version: str
    registered_model: str = "m"
    load_seconds: float = 0.01
    loaded_at: float = field(default_factory=time.time)
    fast_path: bool = True
    fast_reason: str | None = None


class MemoryRegistry:
    """MLflow's registry in memory: aliases, versions that fail to load, an outage switch."""

    def __init__(self) -> None:
        self.aliases: dict[tuple[str, str], str] = {}
        self.broken: set[tuple[str, str]] = set()
        self.down = False
        self.loads: list[tuple[str, str]] = []

    def _check(self) -> None:
        if self.down:
            raise Unavailable("MLflow at memory:// failed: connection refused")

    def resolve(self, registered_model: str, alias: str) -> str:
        self._check()
        version = self.aliases.get((registered_model, alias))
        if version is None:
            raise NotFound(
                f"alias {alias!r} of registered model {registered_model!r} does not exist in MLflow"
            )
        return version

    def set_alias(self, registered_model: str, alias: str, version: str) -> None:
        self._check()
        self.aliases[(registered_model, alias)] = version

    def delete_alias(self, registered_model: str, alias: str) -> None:
        self._check()
        self.aliases.pop((registered_model, alias), None)

    def load(self, registered_model: str, version: str) -> FakeModel:
        self._check()
        self.loads.append((registered_model, version))
        if (registered_model, version) in self.broken:
            raise Unavailable(f"cannot load {registered_model} version {version}: artifacts unreadable")
        return FakeModel(version, registered_model)


class FlakyStore(Store):
    """The real store, with an outage switch shared by the fleet."""

    def __init__(self, fleet: Fleet, replica: str, engine: Any) -> None:
        super().__init__("sqlite://", replica, engine=engine)
        self.fleet = fleet

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self.fleet.store_down:
            raise OperationalError("state store", {}, ConnectionRefusedError("connection refused"))
        return await super().run(fn, *args, **kwargs)

    def close(self) -> None:
        self._pool.shutdown(wait=True)  # the engine belongs to the fleet


class Fleet:
    """Replicas of one config on one store and one registry."""

    def __init__(self, config: dict[str, Any], folder: Path) -> None:
        self.config: ServingConfig = parse_config(config)
        self.folder = folder
        self.clock = FakeClock()
        self.registry = MemoryRegistry()
        self.engine = create_engine(
            "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
        )
        self.store_down = False
        self.replicas: dict[str, Gateway] = {}
        self.dead: list[Gateway] = []
        self._ids = itertools.count(1)

    async def start(self, name: str | None = None) -> Gateway:
        """A new replica (a new pod: new id, empty memory)."""
        replica = name or f"pod-{next(self._ids)}"
        settings = Settings(
            config="unused",
            state_url="sqlite://",
            replica_id=replica,
            internal_api_key="key",
            cache_dir=str(self.folder / replica),
        )
        store = FlakyStore(self, replica, self.engine)
        gateway = Gateway(settings, self.config, registry=self.registry, clock=self.clock, store=store)
        gateway.admin.wait_seconds = 0  # admin calls start operations; `step` carries them out
        await gateway.start(loops=False)
        self.replicas[replica] = gateway
        return gateway

    def kill(self, replica: str) -> None:
        """kill -9: the replica vanishes; its lease and heartbeat row stay until they expire."""
        self.dead.append(self.replicas.pop(replica))

    async def stop(self, replica: str) -> None:
        """A clean shutdown (SIGTERM)."""
        gateway = self.replicas.pop(replica)
        await gateway.repository.idle()
        await gateway.stop()

    async def step(self, seconds: float = 0.0) -> None:
        """Let `seconds` pass, then run one round of every replica's loops and let loads finish."""
        self.clock.advance(seconds)
        for gateway in list(self.replicas.values()):
            await gateway.step()
            await gateway.repository.idle()

    async def close(self) -> None:
        for gateway in [*self.replicas.values(), *self.dead]:
            await gateway.repository.idle()
            gateway.store.close()
        self.replicas.clear()
        self.engine.dispose()

    def record(self, model: str) -> Any:
        """The stored rollout record (read directly, whatever the outage switch says)."""
        return Store("sqlite://", "reader", engine=self.engine).read(model)

    def events(self) -> list[dict[str, Any]]:
        """Every stored event, oldest first."""
        return Store("sqlite://", "reader", engine=self.engine).events_after(0, 100_000)

    def leaders(self, model: str) -> list[str]:
        """Live replicas that believe they lead `model`."""
        return [name for name, g in self.replicas.items() if g.sync.leads(model)]


def run(coro: Any) -> Any:
    """Run a coroutine on a fresh event loop (sync tests)."""
    return asyncio.run(coro)
