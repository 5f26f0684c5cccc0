"""Runtime models: declare, read and delete models served beside the Git-declared ones (X-API-Key).

The control API's deployments use these routes; see `serving.catalog` and docs/serving.md."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Response

from serving.api.deps import AdminDep, GatewayDep
from serving.api.schemas import ERRORS

router = APIRouter(tags=["fleet"], responses=ERRORS)

SPEC_EXAMPLE = {
    "registered_model": "churn",
    "strategy": "ab",
    "variants": [
        {"name": "a", "alias": "champion", "weight": 80},
        {"name": "b", "alias": "challenger", "weight": 20},
    ],
}


@router.get("/v1/fleet/models", summary="Every served model and who declares it")
async def list_models(gateway: GatewayDep, actor: AdminDep) -> dict[str, Any]:
    """Git-declared models (`managed_by: git`) and runtime models (`managed_by: api`, with generation)."""
    return {"models": [gateway.catalog.describe(name) for name in gateway.models]}


@router.get("/v1/fleet/models/{model}", summary="The declaration of one model")
async def get_model(model: str, gateway: GatewayDep, actor: AdminDep) -> dict[str, Any]:
    """404 for a model this fleet does not serve."""
    return gateway.catalog.describe(model)


@router.put(
    "/v1/fleet/models/{model}",
    summary="Create or update a runtime model",
    responses={201: {"description": "created: every replica loads it within a sync round"}},
)
async def put_model(
    model: str,
    gateway: GatewayDep,
    actor: AdminDep,
    spec: Annotated[dict[str, Any], Body(examples=[SPEC_EXAMPLE])],
) -> Response:
    """One model of the gateway config (same rules, 422 naming the first bad field); 409 for a model
    declared in Git. Identical spec: 200 `changed: false`. Only weights changed: the rollout record's
    weights move (like a traffic call). Anything else: every replica rebuilds the model."""
    status, body = await gateway.catalog.declare(model, spec, actor)
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


@router.delete("/v1/fleet/models/{model}", summary="Stop serving a runtime model")
async def delete_model(model: str, gateway: GatewayDep, actor: AdminDep) -> dict[str, Any]:
    """Every replica drops it and its rollout record; 409 for a Git model, 404 for an unknown one."""
    return await gateway.catalog.withdraw(model, actor)
