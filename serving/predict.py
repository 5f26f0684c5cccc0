"""The predict hot path, shared by the FastAPI routes and the raw ASGI fast path.

`serve` takes the raw body and the few headers it needs and returns (status, body, headers), so the
same code answers whether a request came through FastAPI or the fast path in `serving.fastpath`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
from starlette.concurrency import run_in_threadpool

from serving import inputs
from serving.errors import BadInput, NotFound, ServingError, Unavailable
from serving.gateway import Gateway
from serving.model import FAST_ROWS_INLINE, jsonable

JSON = orjson.OPT_SERIALIZE_NUMPY
ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    404: "RESOURCE_DOES_NOT_EXIST",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    422: "INVALID_PARAMETER_VALUE",
    500: "INTERNAL_ERROR",
    503: "TEMPORARILY_UNAVAILABLE",
}
V2_OUT = {"b": "BOOL", "i": "INT", "u": "UINT", "f": "FP"}

Reply = tuple[int, bytes, list[tuple[str, str]]]


def error_body(status: int, message: str) -> bytes:
    """JSON error body (MLflow's shape: error_code and message)."""
    return orjson.dumps({"error_code": ERROR_CODES.get(status, "ERROR"), "message": message})


def _v2_output(predictions: Any) -> dict[str, Any]:
    array = np.asarray(predictions)
    kind = V2_OUT.get(array.dtype.kind)
    datatype = f"{kind}{array.dtype.itemsize * 8}" if kind and kind != "BOOL" else (kind or "BYTES")
    data = array.ravel()
    return {
        "name": "predictions",
        "datatype": datatype,
        "shape": list(array.shape),
        "data": data if kind else data.tolist(),
    }


def _csv_payload(body: bytes) -> tuple[str, Any]:
    import io

    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(body))
    except Exception as error:
        raise BadInput(f"body is not valid CSV: {error}") from None
    return "dataframe_split", frame.to_dict(orient="split", index=False)


async def serve(
    gateway: Gateway, kind: str, model_name: str | None, body: bytes, headers: Mapping[str, str]
) -> Reply:
    """Answer one predict request. kind: `v1` (predict), `mlflow` (invocations) or `v2` (infer)."""
    try:
        return await _serve(gateway, kind, model_name, body, headers)
    except ServingError as error:
        return error.status, error_body(error.status, error.message), []


async def _serve(
    gateway: Gateway, kind: str, model_name: str | None, body: bytes, headers: Mapping[str, str]
) -> Reply:
    arrived = time.perf_counter()
    runtime = gateway.default if model_name is None else gateway.model(model_name)
    pinned = headers.get("x-variant")
    if pinned is not None:
        gateway.check_admin(headers.get("x-api-key"))
        if pinned not in runtime.variants:
            raise NotFound(f"model {runtime.name!r} has no variant {pinned!r}")
    if kind == "mlflow" and headers.get("content-type", "").startswith("text/csv"):
        payload: Any = _csv_payload(body)
    else:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise BadInput(f"body is not valid JSON: {error}") from None
        payload = ("v2", inputs.v2_tensors(parsed)) if kind == "v2" else inputs.scoring_payload(parsed)
    variant = runtime.choose(headers.get("x-routing-key"), pinned)
    model = variant.model if variant is not None else None
    if variant is None or model is None:
        raise Unavailable(f"model {runtime.name!r} has no loaded variant yet: {'; '.join(runtime.missing())}")
    try:  # the variant's window counts every answer it caused: 4xx (decode) and 5xx (model) too
        data = model.decode_v2(payload[1]) if kind == "v2" else model.decode(*payload)
        started = time.perf_counter()
        if model.fast is not None and len(data) <= FAST_ROWS_INLINE:
            predictions = model.predict(data)
        else:
            predictions = await run_in_threadpool(model.predict, data)
    except ServingError as error:
        variant.record(time.perf_counter() - arrived, error.status)
        raise
    elapsed = time.perf_counter() - started
    variant.record(time.perf_counter() - arrived, 200)
    if runtime.shadow is not None and pinned is None:
        runtime.shadow.submit(
            payload[0] if kind == "v2" else "mlflow",
            payload[1] if kind == "v2" else payload,
            predictions,
            elapsed,
        )
    reply_headers = [("x-model-variant", variant.name), ("x-model-version", model.version)]
    if kind == "v1":
        out: dict[str, Any] = {
            "model": runtime.name,
            "variant": variant.name,
            "version": model.version,
            "predictions": jsonable(predictions),
        }
    elif kind == "mlflow":
        out = {"predictions": jsonable(predictions)}
    else:
        out = {
            "model_name": runtime.name,
            "model_version": model.version,
            "id": str(uuid.uuid4()),
            "outputs": [_v2_output(predictions)],
        }
    try:
        return 200, orjson.dumps(out, option=JSON), reply_headers
    except TypeError:
        return 200, orjson.dumps(out, option=JSON, default=lambda o: np.asarray(o).tolist()), reply_headers
