"""The access log: one JSON line per predict request, with the ids Grafana filters on.

Fields: `request_id` (the caller's X-Request-Id or a new one, also sent back in the response header),
`model`, `variant` and `version` (null when no variant answered), `status`, `duration_ms` (arrival to
answer, in the gateway) and `protocol` (v1, mlflow, v2). `event` is `access`, so a Loki query can keep
only these lines: `{namespace="mlops-prod"} | json | event="access" | status >= 500`.
"""

from __future__ import annotations

from collections.abc import Iterable

from loguru import logger

EVENT = "access"


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
    logger.bind(
        event=EVENT,
        request_id=request_id,
        protocol=protocol,
        model=model,
        variant=found.get("x-model-variant"),
        version=found.get("x-model-version"),
        status=status,
        duration_ms=round(seconds * 1000.0, 3),
    ).log("WARNING" if status >= 500 else "INFO", "predict {} {}", model or "-", status)
