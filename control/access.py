"""Request ids and the access log: one JSON line per request, and the id on every line logged meanwhile.

The id is the caller's `X-Request-ID` when it is a sane token (letters, digits, `._:-`, up to 64), else a
new one; it goes back in the `X-Request-ID` response header and is bound (loguru `contextualize`) to every
line the request logs: a job's `job_id` and Airflow `run_id` lines then carry the request that made them.
"""

import re
import time
import uuid

from loguru import logger
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
HEADER = b"x-request-id"


def request_id(given: bytes | None) -> str:
    """The caller's id when it is a sane token, else a new one."""
    text = given.decode("latin-1") if given else ""
    return text if REQUEST_ID.fullmatch(text) else uuid.uuid4().hex[:16]


class RequestIds:
    """ASGI middleware: request id in, on every log line and out in the response; an access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(dict(scope["headers"]).get(HEADER))
        started = time.perf_counter()
        status = 500  # what the caller gets when the app fails before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, rid.encode())]}
            await send(message)

        with logger.contextualize(request_id=rid):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                method, path = scope["method"], scope["path"]
                logger.bind(
                    event="access",
                    method=method,
                    path=path,
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000.0, 3),
                ).log("WARNING" if status >= 500 else "INFO", "{} {} {}", method, path, status)
