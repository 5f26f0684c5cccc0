"""Shared route dependencies: the gateway, the admin key check and the caller's name for the audit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from serving.fastpath import read_body
from serving.gateway import Gateway

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="INTERNAL_API_KEY")


def get_gateway(request: Request) -> Gateway:
    """The gateway of this app."""
    return request.app.state.gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


def require_admin(request: Request, key: Annotated[str | None, Security(api_key_header)] = None) -> str:
    """Check X-API-Key; answer the actor name recorded in the audit log."""
    get_gateway(request).check_admin(key)
    request.state.admin = True  # errors may now carry their detail (URIs, reasons)
    actor = request.headers.get("x-actor")
    client = request.client.host if request.client else "unknown"
    return f"{actor} ({client})" if actor else client


AdminDep = Annotated[str, Depends(require_admin)]


async def body_bytes(request: Request) -> bytes:
    """The request body within the configured size limit (413 past it)."""
    limit = get_gateway(request).config.max_body_bytes
    length = request.headers.get("content-length")
    return await read_body(request.receive, limit, int(length) if length and length.isdigit() else None)
