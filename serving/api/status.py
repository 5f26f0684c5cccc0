"""Health, readiness, metrics, status and the event stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving.api.deps import GatewayDep
from serving.api.schemas import ERRORS
from serving.events import EventBus

router = APIRouter(responses=ERRORS)


def _json(body: dict[str, Any], status_code: int) -> Response:
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


@router.get("/healthz", tags=["health"], summary="The process is up")
async def healthz() -> dict[str, str]:
    """Always 200 while the event loop runs."""
    return {"status": "ok"}


@router.get("/readyz", tags=["health"], summary="Every configured variant is loaded")
async def readyz(gateway: GatewayDep) -> Response:
    """200 when ready, else 503 with what is missing."""
    missing = gateway.ready()
    body = {"ready": not missing, "missing": missing}
    return _json(body, status_code=503 if missing else 200)


@router.get("/metrics", tags=["health"], summary="Prometheus metrics")
async def metrics(gateway: GatewayDep) -> Response:
    """Requests, latency, errors per model/variant/version; reloads; shadow agreement."""
    return Response(generate_latest(gateway.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/models", tags=["status"], summary="Status of every served model")
async def models(gateway: GatewayDep) -> dict[str, Any]:
    """See `GET /v1/models/{model}`."""
    return {"models": [await gateway.status(name) for name in gateway.models]}


@router.get("/v1/models/{model}", tags=["status"], summary="Status of one model")
async def model_status(model: str, gateway: GatewayDep) -> dict[str, Any]:
    """Registered model, strategy, variants (alias → version, weight, counts, load time), canary state,
    and the replicas with the versions each has loaded and when each was last seen."""
    return await gateway.status(model)


@router.get("/v1/events", tags=["status"], summary="Server-Sent Events")
async def events(
    gateway: GatewayDep,
    types: str | None = Query(default=None, description="comma-separated event types to keep"),
    replay: int = Query(default=0, ge=0, le=200, description="send this many recent events first"),
) -> StreamingResponse:
    """reload, reload_failed, traffic, canary_start/advance/abort, promotion, rollback, switch."""
    wanted = set(types.split(",")) if types else None
    bus = gateway.events
    queue = bus.subscribe()

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b": connected\n\n"
            for item in list(bus.recent)[-replay:] if replay else []:
                if wanted is None or item["type"] in wanted:
                    yield EventBus.format(item)
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=15)
                except TimeoutError:
                    yield b": ping\n\n"
                    continue
                if wanted is None or item["type"] in wanted:
                    yield EventBus.format(item)
        finally:
            bus.unsubscribe(queue)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
