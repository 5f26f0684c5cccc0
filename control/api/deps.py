"""Shared route dependencies: the control plane of this process and who is calling."""

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from control.auth import Caller
from control.errors import Forbidden, Unauthorized
from control.plane import ControlPlane

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="a key from CONTROL_API_KEYS (or CONTROL_READ_API_KEYS to read)",
)


def get_plane(request: Request) -> ControlPlane:
    return request.app.state.plane


PlaneDep = Annotated[ControlPlane, Depends(get_plane)]


def _caller(plane: ControlPlane, key: str | None) -> Caller:
    if not key:
        raise Unauthorized("missing X-API-Key header", field="X-API-Key")
    caller = plane.keys.identify(key)
    if caller is None:
        raise Unauthorized("X-API-Key is not a valid key", field="X-API-Key")
    return caller


def reader(plane: PlaneDep, key: Annotated[str | None, Security(api_key_header)] = None) -> Caller:
    """Any valid key may read."""
    return _caller(plane, key)


def writer(plane: PlaneDep, key: Annotated[str | None, Security(api_key_header)] = None) -> Caller:
    """Only a key from CONTROL_API_KEYS may change anything."""
    caller = _caller(plane, key)
    if caller.scope != "write":
        raise Forbidden(f"key {caller.name!r} may only read (it is in CONTROL_READ_API_KEYS)")
    return caller


ReaderDep = Annotated[Caller, Depends(reader)]
WriterDep = Annotated[Caller, Depends(writer)]
