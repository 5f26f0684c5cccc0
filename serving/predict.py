"""The predict hot path, shared by the FastAPI routes and the raw ASGI fast path.

`serve` takes the raw body and the few headers it needs and returns (status, body, headers), so the
same code answers whether a request came through FastAPI or the fast path in `serving.fastpath`.
Errors come in each protocol's shape: MLflow's `{"error_code", "message"}` for v1 and `/invocations`,
`{"error"}` for the Open Inference Protocol. Every answer carries `X-Request-Id`; a 5xx message names
the request id, never the exception, which goes to the log with that id.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from loguru import logger
from starlette.concurrency import run_in_threadpool

from serving import access, bodies, oip, scoring
from serving.errors import NotFound, ServingError, Unavailable
from serving.gateway import Gateway
from serving.metrics import CODE_CLASSES, code_class
from serving.model import FAST_ROWS_INLINE, LoadedModel
from serving.runtime import ModelRuntime, VariantRuntime

ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    404: "RESOURCE_DOES_NOT_EXIST",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "INVALID_PARAMETER_VALUE",
    500: "INTERNAL_ERROR",
    503: "TEMPORARILY_UNAVAILABLE",
}
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

Reply = tuple[int, bytes, list[tuple[str, str]]]
CLASS_INDEX = {name: i for i, name in enumerate(CODE_CLASSES)}


class Answered:
    """Who answers one predict request, filled in as it becomes known (for its end-to-end metric)."""

    __slots__ = ("model", "observers")

    def __init__(self, model: str = "") -> None:
        self.model = model
        self.observers: tuple[Any, ...] | None = None  # the variant's histogram children per code class


def model_label(gateway: Gateway, name: str | None) -> str:
    """The `model` label of a request for `name`: empty when no configured model has that name."""
    if name is None:
        return gateway.default.name
    return name if name in gateway.models else ""


def observe(gateway: Gateway, answered: Answered, status: int, seconds: float) -> None:
    """Record one predict request's end-to-end time (arrival to response sent) and status class."""
    cls = code_class(status)
    if answered.observers is not None:
        answered.observers[CLASS_INDEX[cls]].observe(seconds)
    else:
        gateway.metrics.http.labels(answered.model, "", "", cls).observe(seconds)


def error_body(status: int, message: str) -> bytes:
    """JSON error body (MLflow's shape: error_code and message)."""
    return orjson.dumps({"error_code": ERROR_CODES.get(status, "ERROR"), "message": message})


def request_id(headers: Mapping[str, str]) -> str:
    """The caller's X-Request-Id when it is a sane token, else a new one."""
    given = headers.get("x-request-id")
    return given if given and REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]


def error_reply(kind: str, status: int, message: str, rid: str) -> Reply:
    """An error in the shape of the protocol `kind`."""
    if status >= 500 and status != 503:
        message = f"{message} (request id {rid})"
    body = oip.error_body(message) if kind == "v2" else error_body(status, message)
    return status, body, [("x-request-id", rid)]


async def serve(
    gateway: Gateway,
    kind: str,
    model_name: str | None,
    body: bytes,
    headers: Mapping[str, str],
    version: str | None = None,
    answered: Answered | None = None,
) -> Reply:
    """Answer one predict request. kind: `v1` (predict), `mlflow` (invocations) or `v2` (infer).
    `answered` gets the model and variant that answer, as soon as they are known."""
    rid = request_id(headers)
    answered = answered if answered is not None else Answered()
    arrived = time.perf_counter()
    model = model_name if model_name is not None else gateway.default.name
    try:
        status, payload, extra = await _serve(gateway, kind, model_name, version, body, headers, answered)
    except ServingError as error:
        if error.status >= 500:
            cause = error.__cause__  # a model's own exception (ModelFailed): logged with its traceback
            served = dict(
                error.served_by
            )  # the variant and version that failed (Explore links filter on them)
            logger.bind(
                request_id=rid,
                model=model,
                variant=served.get("x-model-variant"),
                version=served.get("x-model-version"),
            ).opt(exception=cause).log(
                "ERROR" if cause is not None else "WARNING",
                "request {} failed: {}",
                rid,
                error.detail or error.message,
            )
        status, payload, extra = error_reply(kind, error.status, error.message, rid)
        extra = [*error.served_by, *extra]
    except Exception as error:
        logger.bind(request_id=rid, model=model).opt(exception=error).error(
            "request {} failed unexpectedly", rid
        )
        status, payload, extra = error_reply(kind, 500, "internal error", rid)
    else:
        extra.append(("x-request-id", rid))
    if gateway.settings.access_log:
        access.log_request(rid, kind, model, status, extra, time.perf_counter() - arrived)
    return status, payload, extra


def _variant(
    gateway: Gateway, runtime: ModelRuntime, headers: Mapping[str, str], version: str | None
) -> tuple[VariantRuntime, LoadedModel, bool]:
    """The variant that answers, its model, and whether it was pinned (not routed)."""
    pinned = headers.get("x-variant")
    if pinned is not None:
        gateway.check_admin(headers.get("x-api-key"))
        if pinned not in runtime.variants:
            raise NotFound(f"model {runtime.name!r} has no variant {pinned!r}")
    if version is not None and pinned is None:
        variant = runtime.serving_version(version)
        if variant is None:
            served = sorted({v.model.version for v in runtime.primary if v.model is not None})
            raise NotFound(
                f"model {runtime.name!r} version {version!r} takes no traffic here; "
                f"versions served: {', '.join(served) or 'none'}"
            )
    else:
        variant = runtime.choose(headers.get("x-routing-key"), pinned)
    model = variant.model if variant is not None else None
    if variant is None or model is None:
        raise Unavailable(f"model {runtime.name!r} has no loaded version yet")
    if version is not None and model.version != version:
        raise NotFound(f"variant {variant.name!r} serves version {model.version}, not {version}")
    return variant, model, pinned is not None


async def _serve(
    gateway: Gateway,
    kind: str,
    model_name: str | None,
    version: str | None,
    body: bytes,
    headers: Mapping[str, str],
    answered: Answered,
) -> Reply:
    arrived = time.perf_counter()
    runtime = gateway.default if model_name is None else gateway.model(model_name)
    answered.model = runtime.name
    body = bodies.decode(body, headers.get("content-encoding"), gateway.config.max_body_bytes)
    request: scoring.ScoringRequest | oip.InferRequest
    if kind == "v2":
        request = oip.parse_infer(body, headers.get(oip.HEADER_LENGTH))
    else:
        request = scoring.parse(body, headers.get("content-type"))
    variant, model, pinned = _variant(gateway, runtime, headers, version)
    answered.observers = variant.http
    try:  # the variant's window counts every answer it caused: 4xx (its input check) and 5xx too
        prepared = model.prepare(request)
        started = time.perf_counter()
        if prepared.fast and prepared.rows <= FAST_ROWS_INLINE:
            predictions = model.predict(prepared)
        else:
            predictions = await run_in_threadpool(model.predict, prepared)
    except ServingError as error:
        variant.record(time.perf_counter() - arrived, error.status)
        error.served_by = [("x-model-variant", variant.name), ("x-model-version", model.version)]
        raise
    elapsed = time.perf_counter() - started
    variant.record(time.perf_counter() - arrived, 200)
    if runtime.shadow is not None and not pinned:
        runtime.shadow.submit(request, predictions, elapsed)
    reply_headers = [("x-model-variant", variant.name), ("x-model-version", model.version)]
    if kind == "v2":
        assert isinstance(request, oip.InferRequest)
        name = model.output_name
        payload, extra = oip.encode_response(request, runtime.name, model.version, predictions, name)
        if extra:
            reply_headers.append(("content-type", "application/octet-stream"))
        return 200, payload, reply_headers + extra
    out: dict[str, Any] = {"predictions": scoring.jsonable(predictions)}
    if kind == "v1":
        out = {"model": runtime.name, "variant": variant.name, "version": model.version, **out}
    return 200, scoring.dumps(out), reply_headers
