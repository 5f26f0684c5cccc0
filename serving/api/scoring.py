"""The rest of MLflow's scoring server protocol: `/ping`, `/health` and `/version`."""

from __future__ import annotations

from fastapi import APIRouter, Response

from serving.api.deps import GatewayDep
from serving.errors import Unavailable

router = APIRouter(tags=["mlflow"])


@router.get("/ping", summary="MLflow scoring server health")
@router.get("/health", summary="MLflow scoring server health (alias of /ping)")
async def ping(gateway: GatewayDep) -> Response:
    """200 once the default model (the one `/invocations` serves) has a loaded version, else 503."""
    runtime = gateway.default
    if not any(v.model is not None for v in runtime.primary):
        raise Unavailable(f"model {runtime.name!r} has no loaded version yet")
    return Response("\n", media_type="application/json")


@router.get("/version", summary="MLflow version of the scoring protocol")
async def mlflow_version() -> Response:
    """The MLflow version the gateway loads models with, as `mlflow models serve` answers."""
    from mlflow.version import VERSION

    return Response(VERSION, media_type="application/json")
