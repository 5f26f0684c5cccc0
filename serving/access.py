"""The access log: one JSON line per predict request, with the ids Grafana filters on.

Fields: `request_id` (the caller's X-Request-Id or a new one, also sent back in the response header),
`model`, `variant` and `version` (left out when no variant answered), `status`, `duration_ms` (arrival to
answer, in the gateway) and `protocol` (v1, mlflow, v2), beside the fields of every line (`time`, `level`,
`logger`, `message`, `replica`). `event` is `access`, so a Loki query keeps only these lines:
`{namespace="mlops-prod"} | json | event="access" | status >= 500`.

The line is on the hot path: once `serving.logs.setup` has named the stream (stdout, no LOG_DIR file
sink) it is written there directly, one `orjson.dumps` and one write, in the shape loguru's JSON lines
have; otherwise (a LOG_DIR file sink, or no setup: tests, embedding) it goes through loguru.
`python -m bench.access_log` measures what it costs a request.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
from loguru import logger

EVENT = "access"
LOGGER = "serving.access"
LEVELS = {"INFO": 20, "WARNING": 30}  # loguru's numbers of the two levels access lines use
_direct: dict[str, Any] = {"stream": None, "replica": None, "min_level": 0}


def write_directly(stream: TextIO | None, replica: str | None = None, min_level: int = 0) -> None:
    """Write access lines at `min_level` (a loguru level number) or above straight to `stream` (None:
    through loguru, which applies its own sinks' levels)."""
    _direct.update(stream=stream, replica=replica, min_level=min_level)


def log_request(
    request_id: str,
    protocol: str,
    model: str | None,
    status: int,
    reply_headers: Iterable[tuple[str, str]],
    seconds: float,
) -> None:
    """Write the access line of one answered predict request (variant and version from its headers)."""
    found = dict(reply_headers)
    level = "WARNING" if status >= 500 else "INFO"
    message = f"predict {model or '-'} {status}"
    fields = {
        "event": EVENT,
        "request_id": request_id,
        "protocol": protocol,
        "model": model,
        "variant": found.get("x-model-variant"),
        "version": found.get("x-model-version"),
        "status": status,
        "duration_ms": round(seconds * 1000.0, 3),
    }
    stream = _direct["stream"]
    if stream is None:
        logger.bind(**fields).log(level, message)
        return
    if LEVELS[level] < _direct["min_level"]:
        return
    line = {
        "time": datetime.now(UTC).isoformat(),
        "level": level,
        "logger": LOGGER,
        "message": message,
        "replica": _direct["replica"],
        **fields,
    }
    stream.write(orjson.dumps({k: v for k, v in line.items() if v is not None}).decode() + "\n")
    stream.flush()
