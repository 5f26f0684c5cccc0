"""JSON request bodies: orjson's speed, the values Python's json module (MLflow's parser) reads.

orjson reads an integer beyond 64 bits as a float (`99999999999999999999` becomes `1e20`), refuses
`NaN`/`Infinity` and stops at 1024 levels of nesting. A body holding a run of 19 digits (the only
way to write such an integer) goes through the json module, which keeps every integer exact; so does,
outside the Open Inference Protocol, a body orjson refuses, since MLflow's parser takes `NaN`. Nesting
too deep for both is a 400, never a 500.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from serving.errors import BadInput

LONG_DIGITS = re.compile(rb"\d{19}")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _python(body: bytes, strict: bool) -> Any:
    try:
        text = body.decode("utf-8")
        return json.loads(text, parse_constant=_no_constants) if strict else json.loads(text)
    except RecursionError:
        raise BadInput("body is not valid JSON: nested too deeply") from None
    except ValueError as error:  # UnicodeDecodeError and JSONDecodeError included
        raise BadInput(f"body is not valid JSON: {error}") from None


def loads(body: bytes, strict: bool = False) -> Any:
    """The decoded body; strict: no NaN/Infinity (the Open Inference Protocol's JSON)."""
    if LONG_DIGITS.search(body) is None:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as error:
            if strict:
                raise BadInput(f"body is not valid JSON: {error}") from None
    return _python(body, strict)
