"""Raw ASGI front: the body limit for every route, and the predict routes without Starlette.

Predict routes (`POST /v1/models/{m}/predict`, `/invocations`, `/v2/models/{m}[/versions/{v}]/infer`)
are answered here with exactly the code the FastAPI routes call (`serving.predict.serve`). Every other
request with a body has it read here first, counting bytes as they arrive (chunked or not), and gets
413 past the limit before any auth or parsing; FastAPI then reads the buffered body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from serving import oip
from serving.errors import PayloadTooLarge
from serving.predict import error_body, request_id, serve

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
WANTED = {
    b"x-routing-key",
    b"x-variant",
    b"x-api-key",
    b"content-type",
    b"content-length",
    b"x-request-id",
    oip.HEADER_LENGTH.encode(),
}
JSON_TYPE = "application/json"


def route(method: str, path: str) -> tuple[str, str | None, str | None] | None:
    """(kind, model, version) for a predict route, else None."""
    if method != "POST":
        return None
    if path == "/invocations":
        return "mlflow", None, None
    parts = path.split("/")
    # ['', 'v1', 'models', m, 'predict'] / ['', 'v2', 'models', m, 'infer'] / [..., 'versions', v, 'infer']
    if len(parts) == 5 and parts[2] == "models" and parts[3]:
        if parts[1] == "v1" and parts[4] == "predict":
            return "v1", parts[3], None
        if parts[1] == "v2" and parts[4] == "infer":
            return "v2", parts[3], None
    versioned = len(parts) == 7 and parts[1:3] == ["v2", "models"] and parts[4:7:2] == ["versions", "infer"]
    if versioned and parts[3] and parts[5]:
        return "v2", parts[3], parts[5]
    return None


async def read_body(receive: Receive, limit: int, declared: int | None) -> bytes:
    """The whole request body, or PayloadTooLarge as soon as more than `limit` bytes arrived."""
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _has_body(headers: dict[bytes, bytes]) -> bool:
    length = headers.get(b"content-length")
    return b"transfer-encoding" in headers or (length is not None and length not in (b"", b"0"))


def _declared(value: str | bytes | None) -> int | None:
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    return int(text) if text.isdigit() else None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> MutableMapping[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class FastPath:
    """ASGI app: predict routes here, the rest to `app` (with the body read and limited here)."""

    def __init__(self, app: Any, get_gateway: Callable[[], Any], limit: int) -> None:
        self.app = app
        self.get_gateway = get_gateway
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        target = route(scope.get("method", ""), scope["path"])
        if target is None:
            await self._other(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in WANTED}
        kind, model, version = target
        try:
            body = await read_body(receive, self.limit, _declared(headers.get("content-length")))
        except PayloadTooLarge as error:
            body_bytes = oip.error_body(error.message) if kind == "v2" else error_body(413, error.message)
            await self._send(send, 413, body_bytes, [("x-request-id", request_id(headers))])
            return
        status, payload, extra = await serve(self.get_gateway(), kind, model, body, headers, version)
        await self._send(send, status, payload, extra)

    async def _other(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        if not _has_body(headers):
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body(receive, self.limit, _declared(headers.get(b"content-length")))
        except PayloadTooLarge as error:
            rid = request_id({"x-request-id": headers.get(b"x-request-id", b"").decode("latin-1")})
            await self._send(send, 413, error_body(413, error.message), [("x-request-id", rid)])
            return
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    async def _send(send: Send, status: int, payload: bytes, extra: list[tuple[str, str]]) -> None:
        content_type = next((v for k, v in extra if k == "content-type"), JSON_TYPE)
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(payload)).encode())]
        headers.extend((k.encode(), v.encode("latin-1")) for k, v in extra if k != "content-type")
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
