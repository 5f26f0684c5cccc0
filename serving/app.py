"""The ASGI application: FastAPI routers behind the predict fast path, errors as JSON, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from loguru import logger
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.api import admin, fleet_models, predict, scoring, status, v2
from serving.config import ServingConfig, load_config
from serving.errors import ServingError
from serving.fastpath import FastPath
from serving.gateway import Gateway
from serving.predict import error_reply, request_id
from serving.settings import Settings


def _error(
    request: Request,
    status_code: int,
    message: str,
    headers: dict[str, str] | None = None,
    detail: str | None = None,
) -> Response:
    """An error in the protocol's shape; `detail` (URIs, reasons) only for callers with the admin key."""
    rid = request_id(request.headers)
    if detail and getattr(request.state, "admin", False):
        message = detail
    kind = "v2" if request.url.path.startswith("/v2") else "mlflow"
    status, body, extra = error_reply(kind, status_code, message, rid)
    return Response(
        body, status_code=status, media_type="application/json", headers={**(headers or {}), **dict(extra)}
    )


def _validation_message(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {item.get('msg')}")
    return "; ".join(parts)


def build_api(settings: Settings, config: ServingConfig) -> FastAPI:
    """FastAPI app with all routers, error handlers and the gateway's lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gateway = Gateway(settings, config)
        app.state.gateway = gateway
        await gateway.start()
        logger.info("gateway {} serving {}", settings.replica_id, ", ".join(gateway.models))
        try:
            yield
        finally:
            await gateway.stop()

    app = FastAPI(
        title="MLOps serving gateway",
        version="1.0",
        description="Loads MLflow models by alias and routes traffic between variants "
        "(single, A/B, canary, blue-green, shadow). See docs/serving.md.",
        lifespan=lifespan,
    )
    for router in (
        predict.router,
        admin.router,
        fleet_models.router,
        status.router,
        v2.router,
        scoring.router,
    ):
        app.include_router(router)

    @app.exception_handler(ServingError)
    async def _serving_error(request: Request, error: ServingError) -> Response:
        if error.status >= 500 and error.detail:
            logger.warning("{} {} failed: {}", request.method, request.url.path, error.detail)
        return _error(request, error.status, error.message, detail=error.detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        return _error(request, 422, _validation_message(error))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        return _error(request, error.status_code, str(error.detail), getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        rid = request_id(request.headers)
        logger.opt(exception=error).error(
            "request {} ({} {}) failed unexpectedly", rid, request.method, request.url.path
        )
        return _error(request, 500, "internal error")

    return app


def create_app(settings: Settings | None = None, config: ServingConfig | None = None) -> Any:
    """The ASGI app `python -m serving` runs (uvicorn factory)."""
    settings = settings or Settings()
    config = config or load_config(settings.config)
    api = build_api(settings, config)
    return FastPath(api, lambda: api.state.gateway, config.max_body_bytes, config.body_timeout_seconds)
