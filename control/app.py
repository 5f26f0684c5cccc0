"""The ASGI application: routers, errors as JSON (never a traceback), body limit, lifespan."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from loguru import logger
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from control.access import RequestIds
from control.api import deployments, events, health, jobs
from control.errors import ControlError, error_body
from control.limits import BodyLimit
from control.plane import ControlPlane
from control.settings import ControlSettings

DESCRIPTION = """The MLOps control API for backends: start training jobs, deploy models, follow both to
completion with Server-Sent Events and signed callbacks. It drives Airflow, MLflow and the serving
gateway over their HTTP APIs. Every route but /healthz and /readyz needs `X-API-Key`. See docs/control.md."""


def _error(status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None) -> Any:
    return JSONResponse(error_body(status, message, field), status_code=status, headers=headers)


def _validation_message(error: RequestValidationError) -> tuple[str, str | None]:
    parts, first_field = [], None
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "query", "header", "path"))
        first_field = first_field or where or None
        parts.append(f"{where or 'body'}: {str(item.get('msg')).removeprefix('Value error, ')}")
    return "; ".join(parts), first_field


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route takes at this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def build_app(
    settings: ControlSettings, plane: ControlPlane | None = None, background: bool = True
) -> FastAPI:
    """The app; `plane` lets tests pass one in, `background=False` leaves the loops to the caller."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        current = plane or ControlPlane(settings)
        app.state.plane = current
        await anyio.to_thread.run_sync(lambda: current.start(background))
        logger.info("control API {} on {}:{}", settings.replica_id, settings.host, settings.port)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(current.stop)

    app = FastAPI(title="MLOps control API", version="1.0", description=DESCRIPTION, lifespan=lifespan)
    app.include_router(jobs.router)
    app.include_router(deployments.router)
    app.include_router(events.router)
    app.include_router(health.router)

    @app.exception_handler(ControlError)
    async def _control_error(_: Request, error: ControlError) -> Any:
        return _error(error.status, error.message, error.field)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> Any:
        message, field = _validation_message(error)
        return _error(422, message, field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Any:
        headers = getattr(error, "headers", None)
        if error.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(app, request))}
        return _error(error.status_code, str(error.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Any:
        logger.opt(exception=error).error("unhandled error on {} {}", request.method, request.url.path)
        return _error(500, f"internal error: {type(error).__name__}")

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestIds)  # outermost: a refused body's answer carries the request id too
    return app
