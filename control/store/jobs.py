"""Training job rows."""

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from control.store.tables import idempotency, jobs

TERMINAL = ("succeeded", "failed", "rolled_back")


def insert_job(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(jobs).values(**row))


def get(conn: Connection, job_id: str, *, lock: bool = False) -> RowMapping | None:
    query = select(jobs).where(jobs.c.id == job_id)
    if lock:
        query = query.with_for_update()
    return conn.execute(query).mappings().first()


def page(
    conn: Connection, *, model: str | None, state: str | None, before: str | None, limit: int
) -> list[RowMapping]:
    """Newest first; `before` is the id of the last job of the previous page (ids sort by creation)."""
    query = select(jobs).order_by(jobs.c.id.desc()).limit(limit)
    if model is not None:
        query = query.where(jobs.c.model == model)
    if state is not None:
        query = query.where(jobs.c.state == state)
    if before is not None:
        query = query.where(jobs.c.id < before)
    return list(conn.execute(query).mappings())


def unfinished(conn: Connection, limit: int = 500) -> list[RowMapping]:
    """Jobs the follower still follows, oldest first."""
    query = select(jobs).where(jobs.c.state.not_in(TERMINAL)).order_by(jobs.c.id).limit(limit)
    return list(conn.execute(query).mappings())


def set_values(conn: Connection, job_id: str, **values: Any) -> None:
    conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


def mark_triggered(conn: Connection, job_id: str, at: float) -> bool:
    """Record the trigger once (False when it was recorded already)."""
    result = conn.execute(
        update(jobs).where(jobs.c.id == job_id, jobs.c.triggered_at.is_(None)).values(triggered_at=at)
    )
    return result.rowcount == 1


def idempotent_job(conn: Connection, key: str) -> RowMapping | None:
    """The job an Idempotency-Key already names, with the hash of the request that created it."""
    query = select(idempotency).where(idempotency.c.key == key).with_for_update()
    return conn.execute(query).mappings().first()


def remember_key(conn: Connection, key: str, request_hash: str, job_id: str, at: float) -> None:
    conn.execute(insert(idempotency).values(key=key, request_hash=request_hash, job_id=job_id, created_at=at))
