"""Leadership of the follower: a lease in the control database, renewed well before it expires. Only
the holder follows Airflow and the gateway, writes their events and sends callbacks."""

import threading
from collections.abc import Callable

from loguru import logger

from control.store import Database, Fence, leases

LEASE_NAME = "control-follower"


class Leadership:
    """This replica's claim on the lease; `fence` is None while another replica holds it."""

    def __init__(self, db: Database, holder: str, ttl: float, name: str = LEASE_NAME) -> None:
        self.db = db
        self.holder = holder
        self.ttl = ttl
        self.name = name
        self._fence: Fence | None = None
        self._lock = threading.Lock()

    @property
    def fence(self) -> Fence | None:
        with self._lock:
            return self._fence

    def tick(self) -> Fence | None:
        """Acquire or renew the lease."""
        current = self.fence
        with self.db.write() as conn:
            token = leases.acquire(conn, self.name, self.holder, current.token if current else None, self.ttl)
        fence = Fence(self.name, self.holder, token, self.ttl) if token is not None else None
        with self._lock:
            if (fence is None) != (self._fence is None):
                logger.info("{} {} the follower lease", self.holder, "holds" if fence else "does not hold")
            self._fence = fence
        return fence

    def lost(self) -> None:
        with self._lock:
            self._fence = None

    def release(self) -> None:
        fence = self.fence
        if fence is None:
            return
        with self.db.write() as conn:
            leases.release(conn, fence.name, fence.holder, fence.token)
        self.lost()


class Loop(threading.Thread):
    """Runs `step` every `interval` seconds until stopped; an exception is logged, never fatal."""

    def __init__(self, name: str, interval: float, step: Callable[[], object]) -> None:
        super().__init__(name=name, daemon=True)
        self.interval = interval
        self.step = step
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.step()
            except Exception as error:
                logger.opt(exception=error).error("{} failed: {}", self.name, error)
            self.stopping.wait(self.interval)

    def stop(self) -> None:
        self.stopping.set()
