"""Request bodies before any model sees them: deadline, compression, JSON numbers, content types."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from typing import Any

import pytest

from serving import bodies, jsonbody, scoring
from serving.errors import BadInput, PayloadTooLarge, RequestTimeout, UnsupportedMediaType


def _trickle(chunks: list[bytes], every: float):
    """An ASGI receive that hands out one chunk every `every` seconds."""
    queue = list(chunks)

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(every)
        chunk = queue.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(queue)}

    return receive


def test_a_body_trickling_in_is_cut_at_the_deadline():
    """Before: no deadline, so a client sending a byte a second held its connection for ever."""
    slow = _trickle([b"{"] * 100, every=0.05)
    with pytest.raises(RequestTimeout, match=r"within 0\.3 seconds"):
        asyncio.run(bodies.read_body(slow, limit=1024, declared=None, timeout=0.3))
    fast = _trickle([b"{", b"}"], every=0.01)
    assert asyncio.run(bodies.read_body(fast, limit=1024, declared=None, timeout=5)) == b"{}"


def test_gzip_and_deflate_bodies_are_decoded_within_the_limit():
    body = json.dumps({"inputs": {"x": [1.5] * 100}}).encode()
    assert bodies.decode(gzip.compress(body), "gzip", 10_000) == body
    assert bodies.decode(gzip.compress(body[:50]) + gzip.compress(body[50:]), "gzip", 10_000) == body
    assert bodies.decode(zlib.compress(body), "deflate", 10_000) == body
    raw = zlib.compressobj(wbits=-15)
    assert bodies.decode(raw.compress(body) + raw.flush(), "Deflate", 10_000) == body
    assert bodies.decode(body, None, 10_000) == bodies.decode(body, "identity", 10_000) == body
    bomb = gzip.compress(b" " * 5_000_000)  # 5 kB that would inflate to 5 MB
    with pytest.raises(PayloadTooLarge, match="decompressed body exceeds the limit of 10000 bytes"):
        bodies.decode(bomb, "gzip", 10_000)
    with pytest.raises(BadInput, match="not valid gzip"):
        bodies.decode(b"not gzip", "gzip", 10_000)
    with pytest.raises(BadInput, match="not valid gzip"):
        bodies.decode(gzip.compress(body)[:-12], "gzip", 10_000)  # truncated
    with pytest.raises(UnsupportedMediaType, match="'br'"):
        bodies.decode(body, "br", 10_000)


def test_json_integers_beyond_64_bits_stay_exact():
    """orjson reads 99999999999999999999 as the float 1e20; MLflow's parser keeps the integer."""
    assert jsonbody.loads(b'{"a": [99999999999999999999, 1.5]}') == {"a": [99999999999999999999, 1.5]}
    assert jsonbody.loads(b'{"a": [-18446744073709551617]}', strict=True) == {"a": [-18446744073709551617]}
    assert jsonbody.loads(b'{"a": [9007199254740993]}') == {"a": [9007199254740993]}


def test_nan_is_mlflow_json_but_not_open_inference_protocol_json():
    assert str(jsonbody.loads(b'{"a": [NaN]}')["a"][0]) == "nan"
    for body in (b'{"a": [NaN]}', b'{"a": [NaN], "b": 12345678901234567890}'):
        with pytest.raises(BadInput, match="not valid JSON"):
            jsonbody.loads(body, strict=True)


@pytest.mark.parametrize("strict", [False, True])
def test_json_nested_too_deeply_is_a_400(strict):
    """Before: orjson stopped at 1024 levels, the json module fallback raised RecursionError: a 500."""
    for depth in (2_000, 100_000):
        with pytest.raises(BadInput, match="not valid JSON"):
            jsonbody.loads(b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}", strict=strict)


def test_content_type_parameters_other_than_a_utf8_charset_are_415_naming_them():
    """Before: any parameter was read as the charset (`format=pandas-split` was "charset 'format=...'")."""
    body = b'{"inputs": {"x": [1.0]}}'
    for content_type in (
        "application/json; charset=UTF-8",
        'application/json;charset="utf-8"',
        "APPLICATION/JSON",
    ):
        assert scoring.parse(body, content_type).key == "inputs"
    with pytest.raises(UnsupportedMediaType, match="parameter 'format' is not supported"):
        scoring.parse(body, "application/json; format=pandas-split")
    with pytest.raises(UnsupportedMediaType, match="charset 'latin-1'"):
        scoring.parse(body, "application/json; charset=latin-1")
