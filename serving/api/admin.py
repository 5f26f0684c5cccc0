"""Admin routes: reload, traffic, promote, rollback, switch, audit (X-API-Key; the admin service audits)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Query, Response

from serving.api.deps import AdminDep, GatewayDep
from serving.api.schemas import ERRORS, PromoteRequest, ReloadResponse, RollbackRequest, TrafficRequest

router = APIRouter(tags=["admin"], responses=ERRORS)


def _answer(status: int, body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


@router.post(
    "/variant/{alias}/reload", response_model=ReloadResponse, summary="Reload the version an alias points to"
)
async def reload(
    alias: str,
    gateway: GatewayDep,
    actor: AdminDep,
    model: str | None = Query(
        default=None, description="model name; needed when several models use the alias"
    ),
) -> dict[str, Any]:
    """Resolve the alias in MLflow, record the version for the whole fleet, load and warm it up here,
    swap atomically. Same version: `changed: false`. MLflow, store or load failure: 503 and the old
    version keeps serving. Concurrent reloads of one version share one load."""
    return await gateway.admin.reload(alias, model, actor)


@router.put("/v1/models/{model}/traffic", summary="Set the traffic weights")
async def traffic(model: str, body: TrafficRequest, gateway: GatewayDep, actor: AdminDep) -> dict[str, Any]:
    """Weights of the non-shadow variants; 422 unless they sum to 100. Pauses a running canary."""
    return await gateway.admin.set_traffic(model, body.weights, actor)


@router.post(
    "/v1/models/{model}/promote",
    summary="Promote the challenger to champion",
    responses={202: {"description": "still running; follow GET /v1/models/{model} (`rollout.operation`)"}},
)
async def promote(
    model: str, gateway: GatewayDep, actor: AdminDep, body: PromoteRequest | None = None
) -> Response:
    """The leader moves the champion alias in MLflow to the challenger's version and waits until every
    replica serves it; if the fleet cannot load it, the alias is moved back (503 with the reason)."""
    return _answer(*await gateway.admin.promote(model, actor, body.variant if body else None))


@router.post(
    "/v1/models/{model}/rollback",
    summary="Undo the last alias move",
    responses={202: {"description": "still running; follow GET /v1/models/{model} (`rollout.operation`)"}},
)
async def rollback(
    model: str, gateway: GatewayDep, actor: AdminDep, body: RollbackRequest | None = None
) -> Response:
    """Point the alias back to the version recorded before its last move, across the fleet."""
    return _answer(*await gateway.admin.rollback(model, actor, body.alias if body else None))


@router.post("/v1/models/{model}/switch", summary="Blue-green: swap active and preview")
async def switch(model: str, gateway: GatewayDep, actor: AdminDep) -> dict[str, Any]:
    """Instant: both slots stay loaded. Compare-and-set: two switches swap twice."""
    return await gateway.admin.switch(model, actor)


@router.get("/v1/audit", summary="Latest admin actions and controller decisions")
async def audit_log(
    gateway: GatewayDep,
    actor: AdminDep,
    model: str | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    """Newest first."""
    gateway.sync.require_store()
    return {"entries": await gateway.store.run(gateway.store.audit_log, model, limit)}
