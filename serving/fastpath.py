"""Raw ASGI front: the body limit for every route, and the predict routes without Starlette.

Predict routes (`POST /v1/models/{m}/predict`, `/invocations`, `/v2/models/{m}[/versions/{v}]/infer`)
are answered here with exactly the code the FastAPI routes call (`serving.predict.serve`). Every other
request with a body has it read here first, counting bytes as they arrive (chunked or not), and gets
413 past the limit, or 408 when it has not arrived in time, before any auth or parsing (and the
connection is closed: the rest of that body is never read); FastAPI then reads the buffered body.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from serving import oip
from serving.bodies import Receive, read_body
from serving.errors import PayloadTooLarge, RequestTimeout
from serving.predict import Answered, error_body, model_label, observe, request_id, serve

Scope = MutableMapping[str, Any]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
WANTED = {
    b"x-routing-key",
    b"x-variant",
    b"x-api-key",
    b"content-type",
    b"content-length",
    b"content-encoding",
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

    def __init__(
        self, app: Any, get_gateway: Callable[[], Any], limit: int, timeout: float | None = None
    ) -> None:
        self.app = app
        self.get_gateway = get_gateway
        self.limit = limit
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        target = route(scope.get("method", ""), scope["path"])
        if target is None:
            await self._other(scope, receive, send)
            return
        arrived = time.perf_counter()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in WANTED}
        kind, model, version = target
        gateway = self.get_gateway()
        answered = Answered()
        try:
            body = await self._read(receive, headers.get("content-length"))
        except (PayloadTooLarge, RequestTimeout) as error:
            status, message = error.status, error.message
            payload = oip.error_body(message) if kind == "v2" else error_body(status, message)
            await self._refuse(send, status, payload, request_id(headers))
            answered.model = model_label(gateway, model)
        else:
            status, payload, extra = await serve(gateway, kind, model, body, headers, version, answered)
            await self._send(send, status, payload, extra)
        observe(gateway, answered, status, time.perf_counter() - arrived)

    async def _other(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        if not _has_body(headers):
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read(receive, headers.get(b"content-length"))
        except (PayloadTooLarge, RequestTimeout) as error:
            rid = request_id({"x-request-id": headers.get(b"x-request-id", b"").decode("latin-1")})
            await self._refuse(send, error.status, error_body(error.status, error.message), rid)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive, content_length: str | bytes | None) -> bytes:
        return await read_body(receive, self.limit, _declared(content_length), self.timeout)

    async def _refuse(self, send: Send, status: int, payload: bytes, rid: str) -> None:
        """Answer before the body was read whole, and close: the rest of it is never read."""
        await self._send(send, status, payload, [("x-request-id", rid), ("connection", "close")])

    @staticmethod
    async def _send(send: Send, status: int, payload: bytes, extra: list[tuple[str, str]]) -> None:
        content_type = next((v for k, v in extra if k == "content-type"), JSON_TYPE)
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(payload)).encode())]
        headers.extend((k.encode(), v.encode("latin-1")) for k, v in extra if k != "content-type")
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
