"""Health, readiness, metrics, status and the event stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving.api.deps import GatewayDep
from serving.api.schemas import ERRORS
from serving.errors import Invalid
from serving.events import EventLog
from serving.store import STORE_ERRORS

router = APIRouter(responses=ERRORS)
KEEPALIVE_SECONDS = 15.0
MAX_EVENT_ID = 2**63 - 1  # the largest id SQLite and PostgreSQL (bigint) can hold


def _json(body: dict[str, Any], status_code: int) -> Response:
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


@router.get("/healthz", tags=["health"], summary="The process is up")
async def healthz() -> dict[str, str]:
    """Always 200 while the event loop runs."""
    return {"status": "ok"}


@router.get("/readyz", tags=["health"], summary="This replica serves every alias that exists")
async def readyz(gateway: GatewayDep) -> Response:
    """200 when every alias with a version (in the store or MLflow) is loaded, else 503 with what is
    missing. Aliases MLflow does not have yet are listed in `waiting` and do not block; `degraded`
    says the state store is unreachable (the replica serves its last known state and stays ready)."""
    body = gateway.view.readiness()
    return _json(body, status_code=200 if body["ready"] else 503)


@router.get("/metrics", tags=["health"], summary="Prometheus metrics")
async def metrics(gateway: GatewayDep) -> Response:
    """Requests, latency, errors per model/variant/version; reloads; shadow agreement."""
    return Response(generate_latest(gateway.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/models", tags=["status"], summary="Status of every served model")
async def models(gateway: GatewayDep) -> dict[str, Any]:
    """See `GET /v1/models/{model}`."""
    return {"models": [gateway.view.status(name) for name in gateway.models]}


@router.get("/v1/models/{model}", tags=["status"], summary="Status of one model")
async def model_status(model: str, gateway: GatewayDep) -> dict[str, Any]:
    """Registered model, strategy, variants (version served here and targeted by the fleet, weight,
    counts, windows), canary state with the fleet's gate figures, the rollout record (phase, operation,
    leader), and every replica with the versions it serves and when it was last seen."""
    gateway.model(model)
    return gateway.view.status(model)


def _resume_point(last_event_id: str | None) -> int | None:
    """The event id a stream resumes after (None: no header), or 422 for anything but an event id."""
    if last_event_id is None or not last_event_id.strip():
        return None
    value = last_event_id.strip()
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_EVENT_ID:
        raise Invalid(f"Last-Event-ID must be an event id (an integer from 0 to {MAX_EVENT_ID})")
    return int(value)


@router.get("/v1/events", tags=["status"], summary="Server-Sent Events of the whole fleet")
async def events(
    gateway: GatewayDep,
    types: str | None = Query(default=None, description="comma-separated event types to keep"),
    replay: int = Query(default=0, ge=0, le=1000, description="send this many recent events first"),
    last_event_id: str | None = Header(default=None, description="resume after this event id"),
) -> StreamingResponse:
    """Every replica's events from the store's event log: reload, reload_failed, traffic, switch,
    canary_start/advance/abort/promote, promotion_started, promotion, rollback_started, rollback,
    *_failed, *_compensated, alias_moved, admin_refused. `Last-Event-ID` resumes a stream (422 unless an
    event id)."""
    wanted = set(types.split(",")) if types else None
    resume = _resume_point(last_event_id)
    log = gateway.events
    poll = gateway.config.sync_interval_seconds

    async def stream() -> AsyncIterator[bytes]:
        yield b": connected\n\n"
        cursor = -1  # unknown until the store answers
        if resume is not None:
            cursor = resume
        elif replay:
            with contextlib.suppress(*STORE_ERRORS):
                backlog = await log.recent(replay)
                cursor = backlog[-1]["id"] if backlog else 0  # empty log: all that comes is newer
                for item in backlog:
                    if wanted is None or item["type"] in wanted:
                        yield EventLog.format(item)
        quiet = 0.0
        while True:
            items = []
            with contextlib.suppress(*STORE_ERRORS):
                if cursor < 0:
                    cursor = await gateway.store.run(gateway.store.last_event_id)
                items = await log.after(cursor)
            for item in items:
                cursor = item["id"]
                if wanted is None or item["type"] in wanted:
                    yield EventLog.format(item)
            if items:
                quiet = 0.0
                continue
            await asyncio.sleep(poll)
            quiet += poll
            if quiet >= KEEPALIVE_SECONDS:
                quiet = 0.0
                yield b": ping\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
