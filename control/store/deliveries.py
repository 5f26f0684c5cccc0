"""Callback deliveries: an outbox row per (event, URL), written in the transaction of the event, then
sent until the receiver answers 2xx or the retry time runs out."""

from typing import Any

from sqlalchemy import exists, insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from control.store.tables import deliveries

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
HISTORY_KEPT = 20


def enqueue(conn: Connection, event_id: int, job_id: str | None, url: str, at: float, deadline: float) -> int:
    result = conn.execute(
        insert(deliveries).values(
            event_id=event_id,
            job_id=job_id,
            url=url,
            state=PENDING,
            attempts=0,
            history=[],
            next_attempt_at=at,
            deadline_at=deadline,
            created_at=at,
        )
    )
    return result.inserted_primary_key[0]


def due(conn: Connection, at: float, limit: int) -> list[RowMapping]:
    """Pending deliveries whose next attempt is due, oldest event first; a job's callbacks to one URL
    go in event order: one waits while an earlier one of the same job and URL is still pending."""
    earlier = deliveries.alias("earlier")
    waits = exists().where(
        earlier.c.job_id == deliveries.c.job_id,
        earlier.c.url == deliveries.c.url,
        earlier.c.state == PENDING,
        earlier.c.event_id < deliveries.c.event_id,
    )
    query = (
        select(deliveries)
        .where(deliveries.c.state == PENDING, deliveries.c.next_attempt_at <= at, ~waits)
        .order_by(deliveries.c.event_id, deliveries.c.id)
        .limit(limit)
    )
    return list(conn.execute(query).mappings())


def next_due_at(conn: Connection) -> float | None:
    query = select(deliveries.c.next_attempt_at).where(deliveries.c.state == PENDING)
    return conn.execute(query.order_by(deliveries.c.next_attempt_at).limit(1)).scalar()


def get(conn: Connection, delivery_id: int, *, lock: bool = False) -> RowMapping | None:
    query = select(deliveries).where(deliveries.c.id == delivery_id)
    return conn.execute(query.with_for_update() if lock else query).mappings().first()


def for_job(conn: Connection, job_id: str) -> list[RowMapping]:
    query = select(deliveries).where(deliveries.c.job_id == job_id).order_by(deliveries.c.id)
    return list(conn.execute(query).mappings())


def pending_for_job(conn: Connection, job_id: str) -> int:
    query = select(deliveries.c.id).where(deliveries.c.job_id == job_id, deliveries.c.state == PENDING)
    return len(conn.execute(query).all())


def record(
    conn: Connection,
    row: RowMapping,
    attempt: dict[str, Any],
    state: str,
    next_attempt_at: float,
    delivered_at: float | None = None,
) -> None:
    """Store one attempt's outcome (the last HISTORY_KEPT attempts are kept)."""
    history = [*list(row["history"]), attempt][-HISTORY_KEPT:]
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id == row["id"])
        .values(
            attempts=row["attempts"] + 1,
            history=history,
            state=state,
            next_attempt_at=next_attempt_at,
            delivered_at=delivered_at,
        )
    )
