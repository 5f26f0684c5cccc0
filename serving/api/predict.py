"""Predict routes (also answered by the ASGI fast path with the same code)."""

from __future__ import annotations

import time

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
from serving.errors import ServingError
from serving.fastpath import WANTED
from serving.predict import Answered, model_label, observe, serve

router = APIRouter(tags=["predict"])


async def _answer(
    gateway: GatewayDep, request: Request, kind: str, model: str | None, version: str | None = None
) -> Response:
    arrived = time.perf_counter()
    answered = Answered()
    try:
        body = await body_bytes(request)
    except ServingError as error:  # 413/408: answered by the app's error handler
        answered.model = model_label(gateway, model)
        observe(gateway, answered, error.status, time.perf_counter() - arrived)
        raise
    wanted = {name.decode() for name in WANTED}
    headers = {k: v for k, v in request.headers.items() if k in wanted}
    status, payload, extra = await serve(gateway, kind, model, body, headers, version, answered)
    media = dict(extra).pop("content-type", "application/json")
    observe(gateway, answered, status, time.perf_counter() - arrived)  # Starlette sends it after this
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
