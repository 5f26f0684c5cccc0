"""Open Inference Protocol (KServe v2) metadata and health routes; errors are `{"error": "..."}`."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

import orjson
from fastapi import APIRouter, Response

from serving.api.deps import GatewayDep
from serving.errors import NotFound, Unavailable
from serving.gateway import Gateway
from serving.model import LoadedModel

router = APIRouter(tags=["v2"])
EXTENSIONS = ["binary_tensor_data"]


def _json(body: dict[str, Any], status_code: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


def _server_version() -> str:
    try:
        return version("gitops-mlops")
    except PackageNotFoundError:
        return "0"


@router.get("/v2", summary="Server metadata")
async def server_metadata() -> dict[str, Any]:
    """Name, version and the protocol extensions the gateway supports."""
    return {"name": "mlops-serving-gateway", "version": _server_version(), "extensions": EXTENSIONS}


@router.get("/v2/health/live", summary="Server live")
async def live() -> dict[str, bool]:
    """200 while the process runs."""
    return {"live": True}


@router.get("/v2/health/ready", summary="Server ready")
async def ready(gateway: GatewayDep) -> Response:
    """200 when every variant is loaded, else 503."""
    missing = gateway.ready()
    return _json({"ready": not missing}, status_code=503 if missing else 200)


def _loaded(gateway: Gateway, model: str, version: str | None) -> list[LoadedModel]:
    runtime = gateway.model(model)
    loaded = [v.model for v in runtime.primary if v.model is not None]
    if version is not None:
        loaded = [m for m in loaded if m.version == version]
        if not loaded:
            raise NotFound(f"model {model!r} version {version!r} is not loaded here")
    if not loaded:
        raise Unavailable(f"model {model!r} has no loaded version yet")
    return loaded


def _metadata(gateway: Gateway, model: str, version: str | None) -> dict[str, Any]:
    loaded = _loaded(gateway, model, version)
    return {
        "name": model,
        "versions": sorted({m.version for m in loaded}, key=lambda v: (len(v), v)),
        "platform": "mlflow",
        "inputs": loaded[0].input_meta,
        "outputs": loaded[0].output_meta,
    }


@router.get("/v2/models/{model}", summary="Model metadata")
async def model_metadata(model: str, gateway: GatewayDep) -> dict[str, Any]:
    """Inputs and outputs (names, datatypes, shapes) from the signature, and the loaded versions."""
    return _metadata(gateway, model, None)


@router.get("/v2/models/{model}/versions/{version}", summary="Model version metadata")
async def version_metadata(model: str, version: str, gateway: GatewayDep) -> dict[str, Any]:
    """Like the model metadata, for one loaded version (404 when it is not loaded)."""
    return _metadata(gateway, model, version)


@router.get("/v2/models/{model}/ready", summary="Model ready")
async def model_ready(model: str, gateway: GatewayDep) -> Response:
    """200 when every alias of the model that exists is loaded here, else 503 (see /readyz)."""
    gateway.model(model)
    missing = gateway.missing(model)
    return _json({"name": model, "ready": not missing}, status_code=503 if missing else 200)


@router.get("/v2/models/{model}/versions/{version}/ready", summary="Model version ready")
async def version_ready(model: str, version: str, gateway: GatewayDep) -> Response:
    """200 when that version is loaded, else 404."""
    _loaded(gateway, model, version)
    return _json({"name": model, "version": version, "ready": True})
