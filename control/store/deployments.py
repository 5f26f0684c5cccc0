"""Deployment rows: one per model the API deployed (or touched), with the last requested spec."""

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from control.store.tables import deployments

APPLYING = "applying"


def get(conn: Connection, model: str) -> RowMapping | None:
    return conn.execute(select(deployments).where(deployments.c.model == model)).mappings().first()


def upsert(conn: Connection, model: str, **values: Any) -> None:
    """Insert the row or update it (the caller's write transaction serializes writers)."""
    if conn.execute(update(deployments).where(deployments.c.model == model).values(**values)).rowcount == 0:
        conn.execute(insert(deployments).values(model=model, **values))


def applying(conn: Connection, limit: int = 200) -> list[RowMapping]:
    query = select(deployments).where(deployments.c.state == APPLYING).limit(limit)
    return list(conn.execute(query).mappings())
