"""Request bodies: read within a size limit and a deadline, and decompressed within the same limit.

`read_body` counts bytes as they arrive (chunked or not) and stops at the first byte past the limit
(413); a body that has not fully arrived `timeout` seconds after the request started is a 408, so a
client trickling one byte a second holds a connection for that long at most. `decode` undoes a
`Content-Encoding` of gzip or deflate (as `tritonclient` sends with `request_compression_algorithm`)
and stops at the first decompressed byte past the limit, so a small bomb cannot fill the memory.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from serving.errors import BadInput, PayloadTooLarge, RequestTimeout, UnsupportedMediaType

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
# zlib's wbits: gzip header, zlib header (HTTP's "deflate"), and raw deflate as some clients send it
WBITS = {"gzip": (16 + zlib.MAX_WBITS,), "x-gzip": (16 + zlib.MAX_WBITS,), "deflate": (zlib.MAX_WBITS, -15)}


async def _receive_all(receive: Receive, limit: int) -> bytes:
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


async def read_body(
    receive: Receive, limit: int, declared: int | None, timeout: float | None = None
) -> bytes:
    """The whole request body; PayloadTooLarge past `limit` bytes, RequestTimeout after `timeout` s."""
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    try:
        async with asyncio.timeout(timeout):
            return await _receive_all(receive, limit)
    except TimeoutError:
        raise RequestTimeout(f"the body did not arrive within {timeout:g} seconds") from None


def _inflate(body: bytes, wbits: int, limit: int) -> bytes:
    out = bytearray()
    data = body
    while data:  # a gzip body may hold several members, one after the other
        inflater = zlib.decompressobj(wbits)
        out += inflater.decompress(data, limit + 1 - len(out))
        if len(out) > limit:
            raise PayloadTooLarge(f"decompressed body exceeds the limit of {limit} bytes")
        if not inflater.eof:
            raise zlib.error("truncated stream")
        data = inflater.unused_data
    return bytes(out)


def decode(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body without its Content-Encoding (gzip, deflate or identity); 415 for other encodings."""
    name = (encoding or "identity").strip().lower()
    if name in ("", "identity"):
        return body
    if name not in WBITS:
        raise UnsupportedMediaType(
            f"Content-Encoding {name!r} is not supported: send gzip, deflate or an uncompressed body"
        )
    for wbits in WBITS[name]:
        try:
            return _inflate(body, wbits, limit)
        except zlib.error:
            continue
    raise BadInput(f"body is not valid {name} data")
