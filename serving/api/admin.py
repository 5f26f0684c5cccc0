"""Admin routes: reload, traffic, promote, rollback, switch (X-API-Key, audited)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter, Query

from serving.api.deps import AdminDep, GatewayDep
from serving.api.schemas import ERRORS, PromoteRequest, ReloadResponse, RollbackRequest, TrafficRequest
from serving.errors import ServingError
from serving.gateway import Gateway

router = APIRouter(tags=["admin"], responses=ERRORS)


async def _audited(
    gateway: Gateway,
    action: str,
    model: str | None,
    actor: str,
    work: Awaitable[dict[str, Any]],
    **detail: Any,
) -> dict[str, Any]:
    try:
        result = await work
    except ServingError as error:
        await gateway.audit(action, model, False, actor, error=error.message, status=error.status, **detail)
        raise
    if action == "reload":  # the other actions audit themselves with their details
        await gateway.audit(action, model, True, actor, **{k: v for k, v in result.items() if k != "model"})
    return result


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
    """Resolve the alias in MLflow, load and warm up the version, swap atomically.

    Same version: `changed: false`. MLflow or load failure: 503 and the old version keeps serving.
    Concurrent reloads of one alias share one load."""
    runtime = gateway.models_with_alias(alias, model)
    work = gateway.reload(runtime.name, alias, actor=actor)
    return await _audited(gateway, "reload", runtime.name, actor, work, alias=alias)


@router.put("/v1/models/{model}/traffic", summary="Set the traffic weights")
async def traffic(model: str, body: TrafficRequest, gateway: GatewayDep, actor: AdminDep) -> dict[str, Any]:
    """Weights of the non-shadow variants; 422 unless they sum to 100. Pauses a running canary."""
    return await _audited(gateway, "traffic", model, actor, gateway.set_traffic(model, body.weights, actor))


@router.post("/v1/models/{model}/promote", summary="Promote the challenger to champion")
async def promote(
    model: str, gateway: GatewayDep, actor: AdminDep, body: PromoteRequest | None = None
) -> dict[str, Any]:
    """Move the champion alias in MLflow to the challenger's version, reload, reset the weights."""
    variant = body.variant if body else None
    return await _audited(gateway, "promote", model, actor, gateway.promote(model, actor, variant))


@router.post("/v1/models/{model}/rollback", summary="Undo the last alias move")
async def rollback(
    model: str, gateway: GatewayDep, actor: AdminDep, body: RollbackRequest | None = None
) -> dict[str, Any]:
    """Point the alias back to the version recorded before its last move, reload."""
    alias = body.alias if body else None
    return await _audited(gateway, "rollback", model, actor, gateway.rollback(model, actor, alias))


@router.post("/v1/models/{model}/switch", summary="Blue-green: swap active and preview")
async def switch(model: str, gateway: GatewayDep, actor: AdminDep) -> dict[str, Any]:
    """Instant: both slots stay loaded."""
    return await _audited(gateway, "switch", model, actor, gateway.switch(model, actor))


@router.get("/v1/audit", summary="Latest admin actions")
async def audit_log(
    gateway: GatewayDep,
    actor: AdminDep,
    model: str | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    """Newest first."""
    return {"entries": await gateway.store.run(gateway.store.audit_log, model, limit)}
