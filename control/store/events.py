"""The event log: every change of a job or deployment, in commit order (what SSE streams and callbacks
carry). Ids increase in the order events become visible: SQLite has one writer at a time, and on
PostgreSQL every transaction that appends takes the table's lock until it commits."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from control.store.tables import events
from control.timeutil import iso, now


@dataclass(frozen=True)
class Event:
    """One stored event."""

    id: int
    at: float
    type: str
    job_id: str | None
    deployment: str | None
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "at": iso(self.at),
            "job_id": self.job_id,
            "deployment": self.deployment,
            "data": self.data,
        }


def append(
    conn: Connection,
    type_: str,
    data: dict[str, Any],
    *,
    job_id: str | None = None,
    deployment: str | None = None,
) -> Event:
    """Append an event in the caller's transaction."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE control_events IN SHARE ROW EXCLUSIVE MODE")
    at = now()
    result = conn.execute(
        insert(events).values(at=at, type=type_, job_id=job_id, deployment=deployment, data=data)
    )
    return Event(result.inserted_primary_key[0], at, type_, job_id, deployment, data)


def after(
    conn: Connection,
    after_id: int,
    *,
    job_id: str | None = None,
    deployment: str | None = None,
    types: set[str] | None = None,
    limit: int = 200,
) -> list[Event]:
    """Events with an id above `after_id`, oldest first."""
    query = select(events).where(events.c.id > after_id).order_by(events.c.id).limit(limit)
    if job_id is not None:
        query = query.where(events.c.job_id == job_id)
    if deployment is not None:
        query = query.where(events.c.deployment == deployment)
    if types:
        query = query.where(events.c.type.in_(sorted(types)))
    return [Event(r.id, r.at, r.type, r.job_id, r.deployment, dict(r.data)) for r in conn.execute(query)]


def last_id(conn: Connection) -> int:
    """The newest event id (0 when there is none)."""
    return conn.execute(select(events.c.id).order_by(events.c.id.desc()).limit(1)).scalar() or 0


def get(conn: Connection, event_id: int) -> Event | None:
    row = conn.execute(select(events).where(events.c.id == event_id)).first()
    return Event(row.id, row.at, row.type, row.job_id, row.deployment, dict(row.data)) if row else None
