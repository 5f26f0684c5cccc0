"""Wall-clock time as stored (seconds since the epoch) and as shown (ISO 8601, UTC)."""

import time
from datetime import UTC, datetime


def now() -> float:
    return time.time()


def iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: str | None) -> float | None:
    """Airflow's ISO timestamps as epoch seconds."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
