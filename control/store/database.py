"""Read and write transactions, optionally fenced by the follower's lease."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.engine import Connection

from control.store.tables import create_tables, leases, make_engine
from control.timeutil import now


class LeaseLost(Exception):
    """This replica no longer holds the lease it tried to write under: nothing was written."""


@dataclass(frozen=True)
class Fence:
    """The lease a write must still hold: name, holder and the token it was granted with."""

    name: str
    holder: str
    token: int
    ttl: float


class Database:
    """One database shared by every replica."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._writer = self.engine.execution_options(writer=True)
        self.dialect = self.engine.dialect.name

    def create(self) -> None:
        create_tables(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self, fence: Fence | None = None) -> Iterator[Connection]:
        """A write transaction; with a fence it first renews the lease and raises LeaseLost if gone."""
        with self._writer.begin() as conn:
            if fence is not None:
                renewed = conn.execute(
                    update(leases)
                    .where(
                        leases.c.name == fence.name,
                        leases.c.holder == fence.holder,
                        leases.c.token == fence.token,
                    )
                    .values(expires_at=now() + fence.ttl)
                )
                if renewed.rowcount != 1:
                    raise LeaseLost(f"lease {fence.name} is no longer held by {fence.holder}")
            yield conn
