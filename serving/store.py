"""The fleet's shared state (SQLAlchemy Core; SQLite by default, PostgreSQL in production).

Tables: one rollout record per model (compare-and-set on `revision`), the controller lease, one
state row per replica (loaded versions, load failures, window summaries), the event log and the
audit log. All methods block: the gateway calls them through `Store.run` on one dedicated thread.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
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
    case,
    create_engine,
    delete,
    event,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from serving.record import RolloutRecord

T = TypeVar("T")
metadata = MetaData()
STORE_ERRORS = (SQLAlchemyError, OSError)  # what an unreachable or failing store raises (TimeoutError too)
CALL_TIMEOUT_SECONDS = 10.0
# PostgreSQL: fail fast on connect, and notice a peer that vanished without closing (TCP keepalives)
POSTGRES_CONNECT = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
}
REPLICA_RETENTION_SECONDS = 3600

rollout = Table(
    "serving_rollout",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("record", JSON, nullable=False),
    Column("updated_at", Float, nullable=False),
)
lease = Table(
    "serving_lease",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("term", Integer, nullable=False),
    Column("expires_at", Float, nullable=False),
)
replica_state = Table(
    "serving_replica_state",
    metadata,
    Column("replica", String(255), primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("state", JSON, nullable=False),
)
events = Table(
    "serving_event",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("replica", String(255), nullable=False),
    Column("type", String(64), nullable=False, index=True),
    Column("model", String(128)),
    Column("data", JSON, nullable=False),
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


def store_reason(error: BaseException) -> str:
    """One line saying why a store call failed (for logs and admin callers: it may name the host)."""
    return str(error).splitlines()[0][:300] if str(error) else type(error).__name__


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        connect_args = POSTGRES_CONNECT if parsed.get_backend_name() == "postgresql" else {}
        return create_engine(
            url, pool_pre_ping=True, pool_size=2, max_overflow=2, pool_timeout=10, connect_args=connect_args
        )
    database = parsed.database or ""
    memory = database in ("", ":memory:") or "mode=memory" in str(parsed.query.get("mode", ""))
    engine = create_engine(
        url,
        connect_args={"timeout": 30, "check_same_thread": False},
        **({"poolclass": StaticPool} if memory else {}),
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


class Store:
    """Blocking accessors of the state tables, plus `run` to call them off the event loop."""

    def __init__(self, url: str, replica: str, engine: Engine | None = None) -> None:
        self.url = url
        self.replica = replica
        self.engine = engine or _engine(url)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="serving-store")

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking store method on the store thread; TimeoutError (a store error) past
        CALL_TIMEOUT_SECONDS, so a store that stops answering degrades the replica instead of hanging it."""
        call = asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that arrives as the call
        # finishes, and a loop that ignores its cancel keeps the gateway from stopping
        async with asyncio.timeout(CALL_TIMEOUT_SECONDS):
            return await call

    def close(self) -> None:
        """Stop the store thread and release connections."""
        self._pool.shutdown(wait=True)
        self.engine.dispose()

    def create(self) -> None:
        """Create the tables when missing (tolerates another replica creating them at the same time)."""
        url = make_url(self.url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        try:
            metadata.create_all(self.engine)
        except (IntegrityError, ProgrammingError, OperationalError):
            time.sleep(0.5)
            metadata.create_all(self.engine)

    # -- rollout records -----------------------------------------------------------------------------
    def read(self, model: str) -> RolloutRecord | None:
        """The model's record, or None when the store has none yet."""
        with self.engine.connect() as conn:
            row = conn.execute(select(rollout).where(rollout.c.model == model)).mappings().first()
        return None if row is None else RolloutRecord.from_json(dict(row["record"]), row["revision"])

    def revisions(self) -> dict[str, int]:
        """Revision of every model's record."""
        with self.engine.connect() as conn:
            return {r.model: r.revision for r in conn.execute(select(rollout.c.model, rollout.c.revision))}

    def init(self, record: RolloutRecord) -> RolloutRecord:
        """Store `record` as revision 1 unless the model has one already; return the stored record."""
        values = {"revision": 1, "record": _jsonable(record.as_json()), "updated_at": time.time()}
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(rollout).values(model=record.model, **values))
        except IntegrityError:
            pass  # it exists (another replica may have created it a moment ago)
        stored = self.read(record.model)
        assert stored is not None
        return stored

    def write(self, record: RolloutRecord) -> int | None:
        """Compare-and-set: store `record` if the stored revision is still `record.revision`.

        Returns the new revision, or None when another writer came first."""
        statement = (
            update(rollout)
            .where(rollout.c.model == record.model, rollout.c.revision == record.revision)
            .values(
                revision=record.revision + 1,
                record=_jsonable(record.as_json()),
                updated_at=time.time(),
            )
        )
        with self.engine.begin() as conn:
            changed = conn.execute(statement).rowcount
        return record.revision + 1 if changed == 1 else None

    # -- controller lease -----------------------------------------------------------------------------
    def acquire_lease(self, holder: str, seconds: float, now: float, name: str = "controller") -> int | None:
        """Take or renew the lease; the term (it grows with every new holder), or None if another holds it."""
        mine = lease.c.holder == holder
        statement = (
            update(lease)
            .where(lease.c.name == name, or_(mine, lease.c.expires_at < now))
            .values(
                holder=holder,
                term=case((mine, lease.c.term), else_=lease.c.term + 1),
                expires_at=now + seconds,
            )
        )
        with self.engine.begin() as conn:
            if conn.execute(statement).rowcount == 1:
                return int(conn.execute(select(lease.c.term).where(lease.c.name == name)).scalar_one())
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(lease).values(name=name, holder=holder, term=1, expires_at=now + seconds))
        except IntegrityError:
            return None  # held by another replica
        return 1

    def release_lease(self, holder: str, name: str = "controller") -> None:
        """Give the lease up (clean shutdown): the next replica takes it at once."""
        with self.engine.begin() as conn:
            conn.execute(
                update(lease).where(lease.c.name == name, lease.c.holder == holder).values(expires_at=0.0)
            )

    def lease_holders(self) -> dict[str, dict[str, Any]]:
        """Every lease: name -> holder, term, expires_at."""
        with self.engine.connect() as conn:
            return {r["name"]: dict(r) for r in conn.execute(select(lease)).mappings()}

    # -- replicas -----------------------------------------------------------------------------------
    def heartbeat(self, started_at: float, state: dict[str, Any], now: float) -> list[dict[str, Any]]:
        """Write this replica's state; return every replica's row (rows older than an hour are dropped)."""
        values = {"started_at": started_at, "last_seen": now, "state": _jsonable(state)}
        with self.engine.begin() as conn:
            key = replica_state.c.replica == self.replica
            if conn.execute(update(replica_state).where(key).values(**values)).rowcount == 0:
                conn.execute(insert(replica_state).values(replica=self.replica, **values))
            conn.execute(
                delete(replica_state).where(replica_state.c.last_seen < now - REPLICA_RETENTION_SECONDS)
            )
            rows = conn.execute(select(replica_state).order_by(replica_state.c.replica)).mappings()
            return [dict(r) for r in rows]

    def forget_replica(self) -> None:
        """Remove this replica's row (clean shutdown)."""
        with self.engine.begin() as conn:
            conn.execute(delete(replica_state).where(replica_state.c.replica == self.replica))

    # -- event and audit logs -------------------------------------------------------------------------
    def append(self, items: Iterable[dict[str, Any]]) -> list[int]:
        """Append events (and their audit entries) in one transaction; their ids in order."""
        ids: list[int] = []
        with self.engine.begin() as conn:
            for item in items:
                data = _jsonable(item["data"])
                result = conn.execute(
                    insert(events).values(
                        at=item["at"],
                        replica=item["replica"],
                        type=item["type"],
                        model=item.get("model"),
                        data=data,
                    )
                )
                ids.append(int(result.inserted_primary_key[0]))
                if item.get("audit") is not None:
                    entry = item["audit"]
                    conn.execute(
                        insert(audit).values(
                            at=item["at"],
                            replica=item["replica"],
                            actor=entry.get("actor"),
                            action=entry["action"],
                            model=item.get("model"),
                            ok=bool(entry.get("ok", True)),
                            detail=_jsonable(entry.get("detail", {})),
                        )
                    )
        return ids

    def events_after(self, last_id: int, limit: int = 500) -> list[dict[str, Any]]:
        """Events with an id above `last_id`, oldest first."""
        query = select(events).where(events.c.id > last_id).order_by(events.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def recent_events(self, count: int) -> list[dict[str, Any]]:
        """The newest `count` events, oldest first."""
        query = select(events).order_by(events.c.id.desc()).limit(count)
        with self.engine.connect() as conn:
            return [dict(r) for r in reversed(list(conn.execute(query).mappings()))]

    def last_event_id(self) -> int:
        """Id of the newest event (0 when the log is empty)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(events.c.id).order_by(events.c.id.desc()).limit(1)).first()
        return int(rows[0]) if rows else 0

    def trim_events(self, keep: int) -> None:
        """Drop all but the newest `keep` events."""
        newest = self.last_event_id()
        with self.engine.begin() as conn:
            conn.execute(delete(events).where(events.c.id <= newest - keep))

    def audit_log(self, model: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Latest audit entries, newest first."""
        query = select(audit).order_by(audit.c.id.desc()).limit(limit)
        if model is not None:
            query = query.where(audit.c.model == model)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]
