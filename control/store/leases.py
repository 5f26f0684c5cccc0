"""Leases: at most one holder per name until it expires (the follower's single-writer guarantee)."""

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from control.store.tables import leases
from control.timeutil import now


def acquire(conn: Connection, name: str, holder: str, token: int | None, ttl: float) -> int | None:
    """Renew the lease (same holder and token), take it over (expired, or held by this holder's earlier
    process) with a new token, or return None while someone else holds it."""
    at = now()
    row = conn.execute(select(leases).where(leases.c.name == name).with_for_update()).first()
    if row is None:
        try:
            with conn.begin_nested():
                conn.execute(insert(leases).values(name=name, holder=holder, token=1, expires_at=at + ttl))
        except IntegrityError:
            return None  # another replica created it a moment ago
        return 1
    if row.holder == holder and row.token == token and row.expires_at >= at:
        conn.execute(update(leases).where(leases.c.name == name).values(expires_at=at + ttl))
        return token
    if row.holder == holder or row.expires_at < at:
        granted = row.token + 1
        conn.execute(
            update(leases)
            .where(leases.c.name == name, leases.c.token == row.token)
            .values(holder=holder, token=granted, expires_at=at + ttl)
        )
        return granted
    return None


def release(conn: Connection, name: str, holder: str, token: int) -> None:
    """Give the lease up at once (a clean shutdown), so another replica need not wait for it to expire."""
    conn.execute(
        update(leases)
        .where(leases.c.name == name, leases.c.holder == holder, leases.c.token == token)
        .values(expires_at=0.0)
    )


def holder(conn: Connection, name: str) -> tuple[str, float] | None:
    """Who holds the lease and until when (None when never taken)."""
    row = conn.execute(select(leases.c.holder, leases.c.expires_at).where(leases.c.name == name)).first()
    return (row.holder, row.expires_at) if row else None
