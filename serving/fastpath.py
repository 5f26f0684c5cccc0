"""Raw ASGI front for the predict routes: skips Starlette's middleware and router on the hot path.

It answers `POST /v1/models/{model}/predict`, `POST /invocations` and `POST /v2/models/{model}/infer`
with exactly the code the FastAPI routes call (`serving.predict.serve`); everything else goes to FastAPI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from serving.errors import PayloadTooLarge
from serving.predict import error_body, serve

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
WANTED = {b"x-routing-key", b"x-variant", b"x-api-key", b"content-type", b"content-length"}
JSON_TYPE = (b"content-type", b"application/json")


def route(method: str, path: str) -> tuple[str, str | None] | None:
    """(kind, model) for a predict route, else None."""
    if method != "POST":
        return None
    if path == "/invocations":
        return "mlflow", None
    parts = path.split("/")
    # ['', 'v1', 'models', '{model}', 'predict'] / ['', 'v2', 'models', '{model}', 'infer']
    if len(parts) == 5 and parts[2] == "models" and parts[3]:
        if parts[1] == "v1" and parts[4] == "predict":
            return "v1", parts[3]
        if parts[1] == "v2" and parts[4] == "infer":
            return "v2", parts[3]
    return None


async def read_body(receive: Receive, limit: int, declared: int | None) -> bytes:
    """The whole request body, or PayloadTooLarge past `limit` bytes."""
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class FastPath:
    """ASGI app: predict routes here, the rest to `app`."""

    def __init__(self, app: Any, get_gateway: Callable[[], Any], limit: int) -> None:
        self.app = app
        self.get_gateway = get_gateway
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = route(scope.get("method", ""), scope["path"]) if scope["type"] == "http" else None
        if target is None:
            declared = _declared_length(scope) if scope["type"] == "http" else None
            if declared is not None and declared > self.limit:
                message = f"body of {declared} bytes exceeds the limit of {self.limit} bytes"
                await self._send(send, 413, error_body(413, message), [])
                return
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in WANTED}
        length = headers.get("content-length")
        try:
            body = await read_body(receive, self.limit, int(length) if length and length.isdigit() else None)
        except PayloadTooLarge as error:
            await self._send(send, error.status, error_body(error.status, error.message), [])
            return
        status, payload, extra = await serve(self.get_gateway(), target[0], target[1], body, headers)
        await self._send(send, status, payload, extra)

    @staticmethod
    async def _send(send: Send, status: int, payload: bytes, extra: list[tuple[str, str]]) -> None:
        headers = [JSON_TYPE, (b"content-length", str(len(payload)).encode())]
        headers.extend((k.encode(), v.encode("latin-1")) for k, v in extra)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
