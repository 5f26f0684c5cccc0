"""Predict routes (also answered by the ASGI fast path with the same code)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from serving.api.deps import GatewayDep, body_bytes
from serving.api.schemas import (
    ERRORS,
    InvocationsResponse,
    PredictResponse,
    ScoringRequest,
    V2InferRequest,
    V2InferResponse,
    body_doc,
)
from serving.fastpath import WANTED
from serving.predict import serve

router = APIRouter(tags=["predict"])


async def _answer(
    gateway: GatewayDep, request: Request, kind: str, model: str | None, version: str | None = None
) -> Response:
    body = await body_bytes(request)
    wanted = {name.decode() for name in WANTED}
    headers = {k: v for k, v in request.headers.items() if k in wanted}
    status, payload, extra = await serve(gateway, kind, model, body, headers, version)
    media = dict(extra).pop("content-type", "application/json")
    return Response(
        payload,
        status_code=status,
        media_type=media,
        headers={k: v for k, v in extra if k != "content-type"},
    )


@router.post(
    "/v1/models/{model}/predict",
    response_model=PredictResponse,
    responses=ERRORS,
    openapi_extra=body_doc(ScoringRequest),
    summary="Predict with the variant the routing picks",
)
async def predict(model: str, request: Request, gateway: GatewayDep) -> Response:
    """MLflow scoring formats in; predictions with model, variant and version out.

    Headers: `X-Routing-Key` (sticky routing), `X-Variant` + `X-API-Key` (pin a variant)."""
    return await _answer(gateway, request, "v1", model)


@router.post(
    "/invocations",
    response_model=InvocationsResponse,
    responses=ERRORS,
    openapi_extra=body_doc(ScoringRequest),
    summary="MLflow scoring protocol for the default model",
)
async def invocations(request: Request, gateway: GatewayDep) -> Response:
    """Drop-in for `mlflow models serve`: JSON (or CSV) in, `{"predictions": ...}` out."""
    return await _answer(gateway, request, "mlflow", None)


@router.post(
    "/v2/models/{model}/infer",
    response_model=V2InferResponse,
    responses=ERRORS,
    openapi_extra=body_doc(V2InferRequest),
    summary="Open Inference Protocol (KServe v2) inference",
)
async def infer(model: str, request: Request, gateway: GatewayDep) -> Response:
    """One [rows, columns] tensor or one tensor per signature column; JSON or binary tensor data."""
    return await _answer(gateway, request, "v2", model)


@router.post(
    "/v2/models/{model}/versions/{version}/infer",
    response_model=V2InferResponse,
    responses=ERRORS,
    openapi_extra=body_doc(V2InferRequest),
    summary="Open Inference Protocol inference on one version",
)
async def infer_version(model: str, version: str, request: Request, gateway: GatewayDep) -> Response:
    """Answered by the variant that serves `version` and takes traffic (404 when none does)."""
    return await _answer(gateway, request, "v2", model, version)
