"""Shared state of all replicas (SQLAlchemy Core; SQLite by default, PostgreSQL in the full stack).

Every change bumps the model's `revision`; replicas poll revisions and apply what changed, so a reload
or traffic change made through one replica reaches the others within one sync interval.
All methods are blocking: the gateway calls them through `Store.run` on one dedicated thread.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

T = TypeVar("T")
metadata = MetaData()

model_state = Table(
    "serving_model_state",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("revision", Integer, nullable=False, default=0),
    Column("weights", JSON, nullable=False),
    Column("active_slot", String(128)),
    Column("canary_status", String(32), nullable=False, default="idle"),
    Column("canary_step", Integer, nullable=False, default=0),
    Column("canary_step_started", Float),
    Column("canary_version", String(64)),
    Column("canary_reason", Text),
    Column("updated_at", Float, nullable=False),
)
alias_version = Table(
    "serving_alias_version",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("alias", String(128), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("previous_version", String(64)),
    Column("updated_at", Float, nullable=False),
)
moves = Table(
    "serving_alias_move",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(128), nullable=False, index=True),
    Column("alias", String(128), nullable=False),
    Column("from_version", String(64)),
    Column("to_version", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("rolled_back", Boolean, nullable=False, default=False),
    Column("at", Float, nullable=False),
)
audit = Table(
    "serving_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("replica", String(255), nullable=False),
    Column("actor", String(255)),
    Column("action", String(64), nullable=False),
    Column("model", String(128)),
    Column("ok", Boolean, nullable=False),
    Column("detail", JSON),
)
replicas = Table(
    "serving_replica",
    metadata,
    Column("replica", String(255), primary_key=True),
    Column("model", String(128), primary_key=True),
    Column("versions", JSON, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
)


@dataclass
class ModelState:
    """What the store holds for one model."""

    revision: int
    weights: dict[str, int]
    active_slot: str | None = None
    canary_status: str = "idle"
    canary_step: int = 0
    canary_step_started: float | None = None
    canary_version: str | None = None
    canary_reason: str | None = None
    aliases: dict[str, str] = field(default_factory=dict)


@dataclass
class Move:
    """One alias move (promotion or reload) that a rollback can undo."""

    id: int
    alias: str
    from_version: str | None
    to_version: str
    kind: str


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


class Store:
    """Blocking accessors of the state tables, plus `run` to call them off the event loop."""

    def __init__(self, url: str, replica: str) -> None:
        self.url = url
        self.replica = replica
        self.engine = _engine(url)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="serving-store")

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking store method on the store thread."""
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, functools.partial(fn, *args, **kwargs)
        )

    def close(self) -> None:
        """Stop the store thread and release connections."""
        self._pool.shutdown(wait=True)
        self.engine.dispose()

    def create(self) -> None:
        """Create the tables when missing (tolerates another replica creating them at the same time)."""
        try:
            metadata.create_all(self.engine)
        except (IntegrityError, ProgrammingError, OperationalError):
            time.sleep(0.5)
            metadata.create_all(self.engine)

    # -- model state -------------------------------------------------------------------------------
    def ensure_model(self, model: str, weights: dict[str, int], active_slot: str | None) -> ModelState:
        """The model's state, created from the config defaults on first start."""
        try:
            with self.engine.begin() as conn:
                row = conn.execute(select(model_state).where(model_state.c.model == model)).mappings().first()
                if row is None:
                    conn.execute(
                        insert(model_state).values(
                            model=model,
                            revision=1,
                            weights=weights,
                            active_slot=active_slot,
                            canary_status="idle",
                            canary_step=0,
                            updated_at=time.time(),
                        )
                    )
        except IntegrityError:
            pass  # another replica created it first
        return self.read(model)

    def revisions(self) -> dict[str, int]:
        """Revision of every model."""
        with self.engine.connect() as conn:
            return {
                r.model: r.revision for r in conn.execute(select(model_state.c.model, model_state.c.revision))
            }

    def read(self, model: str) -> ModelState:
        """Full state of one model."""
        with self.engine.connect() as conn:
            row = conn.execute(select(model_state).where(model_state.c.model == model)).mappings().one()
            aliases = {
                r.alias: r.version
                for r in conn.execute(select(alias_version).where(alias_version.c.model == model))
            }
        return ModelState(
            revision=row["revision"],
            weights={k: int(v) for k, v in dict(row["weights"]).items()},
            active_slot=row["active_slot"],
            canary_status=row["canary_status"],
            canary_step=row["canary_step"],
            canary_step_started=row["canary_step_started"],
            canary_version=row["canary_version"],
            canary_reason=row["canary_reason"],
            aliases=aliases,
        )

    def _bump(self, conn: Connection, model: str, values: dict[str, Any], where: Any = None) -> int | None:
        current = select(model_state.c.revision).where(model_state.c.model == model)
        revision = conn.execute(current).scalar_one()
        statement = update(model_state).where(
            model_state.c.model == model, model_state.c.revision == revision
        )
        if where is not None:
            statement = statement.where(where)
        result = conn.execute(statement.values(revision=revision + 1, updated_at=time.time(), **values))
        return revision + 1 if result.rowcount == 1 else None

    def update(self, model: str, **values: Any) -> int:
        """Set columns of the model state (weights, active_slot, canary_*) and bump the revision."""
        with self.engine.begin() as conn:
            revision = self._bump(conn, model, values)
        if revision is None:
            return self.update(model, **values)
        return revision

    def update_if(self, model: str, expected: dict[str, Any], **values: Any) -> int | None:
        """Like `update`, only when the columns in `expected` still hold those values (None if not)."""
        condition = [model_state.c[key] == value for key, value in expected.items()]
        with self.engine.begin() as conn:
            return self._bump(conn, model, values, and_(*condition) if condition else None)

    def set_alias_version(
        self, model: str, alias: str, version: str, previous: str | None, move_kind: str | None
    ) -> int:
        """Record the version an alias now serves (and the move, for rollback); bump the revision."""
        now = time.time()
        with self.engine.begin() as conn:
            key = (alias_version.c.model == model, alias_version.c.alias == alias)
            exists = conn.execute(select(alias_version.c.version).where(*key)).first()
            values = {"version": version, "previous_version": previous, "updated_at": now}
            if exists is None:
                conn.execute(insert(alias_version).values(model=model, alias=alias, **values))
            elif exists.version != version:
                conn.execute(update(alias_version).where(*key).values(**values))
            if move_kind is not None and previous != version:
                conn.execute(
                    insert(moves).values(
                        model=model,
                        alias=alias,
                        from_version=previous,
                        to_version=version,
                        kind=move_kind,
                        rolled_back=False,
                        at=now,
                    )
                )
            revision = self._bump(conn, model, {})
        return revision if revision is not None else self.update(model)

    def last_move(self, model: str, alias: str | None = None) -> Move | None:
        """The latest move of the model's aliases not rolled back yet."""
        query = select(moves).where(moves.c.model == model, moves.c.rolled_back.is_(False))
        if alias is not None:
            query = query.where(moves.c.alias == alias)
        with self.engine.connect() as conn:
            row = conn.execute(query.order_by(moves.c.id.desc()).limit(1)).mappings().first()
        if row is None:
            return None
        return Move(row["id"], row["alias"], row["from_version"], row["to_version"], row["kind"])

    def mark_rolled_back(self, move_id: int) -> None:
        """Flag a move as undone so the next rollback goes one further back."""
        with self.engine.begin() as conn:
            conn.execute(update(moves).where(moves.c.id == move_id).values(rolled_back=True))

    # -- audit and replicas --------------------------------------------------------------------------
    def audit(
        self, action: str, model: str | None, ok: bool, actor: str | None, detail: dict[str, Any]
    ) -> None:
        """Append one admin action to the audit log."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(audit).values(
                    at=time.time(),
                    replica=self.replica,
                    actor=actor,
                    action=action,
                    model=model,
                    ok=ok,
                    detail=json.loads(json.dumps(detail, default=str)),
                )
            )

    def audit_log(self, model: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Latest audit entries, newest first."""
        query = select(audit).order_by(audit.c.id.desc()).limit(limit)
        if model is not None:
            query = query.where(audit.c.model == model)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def heartbeat(self, started_at: float, versions: dict[str, dict[str, str | None]]) -> None:
        """Record which versions this replica has loaded, per model."""
        now = time.time()
        with self.engine.begin() as conn:
            for model, loaded in versions.items():
                key = (replicas.c.replica == self.replica, replicas.c.model == model)
                values = {"versions": loaded, "last_seen": now, "started_at": started_at}
                if conn.execute(update(replicas).where(*key).values(**values)).rowcount == 0:
                    conn.execute(insert(replicas).values(replica=self.replica, model=model, **values))
            conn.execute(replicas.delete().where(replicas.c.last_seen < now - 3600))

    def replicas(self, model: str) -> list[dict[str, Any]]:
        """Replicas seen in the last hour with the versions each has loaded."""
        query = select(replicas).where(replicas.c.model == model).order_by(replicas.c.replica)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def forget_replica(self) -> None:
        """Remove this replica's heartbeats (clean shutdown)."""
        with self.engine.begin() as conn:
            conn.execute(replicas.delete().where(replicas.c.replica == self.replica))
