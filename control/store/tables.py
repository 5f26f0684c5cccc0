"""The control API's tables and database engine (SQLAlchemy Core; SQLite embedded, PostgreSQL in the
full stack and the cluster). Several processes share one database: SQLite in WAL mode with write
transactions that take the write lock up front (`BEGIN IMMEDIATE`), PostgreSQL with row locks."""

import time
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

metadata = MetaData()

jobs = Table(
    "control_jobs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("state", String(16), nullable=False, index=True),
    Column("model", String(128), nullable=False, index=True),
    Column("request", JSON, nullable=False),
    Column("dag_id", String(250), nullable=False),
    Column("dag_run_id", String(250), nullable=False, unique=True),
    Column("triggered_at", Float),
    Column("airflow_state", String(32)),
    Column("tasks", JSON, nullable=False),
    Column("results", JSON, nullable=False),
    Column("error", Text),
    Column("callback_url", Text),
    Column("callback_events", String(16), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
)
idempotency = Table(
    "control_idempotency",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("job_id", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
)
events = Table(
    "control_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("type", String(64), nullable=False),
    Column("job_id", String(64), index=True),
    Column("deployment", String(128), index=True),
    Column("data", JSON, nullable=False),
)
deliveries = Table(
    "control_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Integer, nullable=False, index=True),
    Column("job_id", String(64), index=True),
    Column("url", Text, nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False),
    Column("history", JSON, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("deadline_at", Float, nullable=False),
    Column("delivered_at", Float),
    Column("created_at", Float, nullable=False),
)
deployments = Table(
    "control_deployments",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("managed_by", String(8), nullable=False),
    Column("state", String(16), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("generation", Integer, nullable=False),
    Column("status", JSON, nullable=False),
    Column("error", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("finished_at", Float),
)
leases = Table(
    "control_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("token", Integer, nullable=False),
    Column("expires_at", Float, nullable=False),
)


def make_engine(url: str) -> Engine:
    """An engine for the URL; SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE` for writers."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun below, not by the driver
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        writer = connection.get_execution_options().get("writer", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


def create_tables(engine: Engine) -> None:
    """Create missing tables (tolerates another replica creating them at the same moment)."""
    for attempt in range(5):
        try:
            metadata.create_all(engine)
            return
        except (IntegrityError, ProgrammingError, OperationalError):
            if attempt == 4:
                raise
            time.sleep(0.5)
