"""MLflow scoring protocol (`mlflow models serve`): request bodies in, predictions out.

The reference for every answer is `mlflow.pyfunc.load_model(...).predict` on the input the body
denotes: the body is parsed by MLflow's own parser without the schema (`infer_and_parse_data`), so the
types are the ones the client sent, and pyfunc's schema enforcement accepts or rejects them (MLflow's
scoring server casts to the schema first, so it accepts `1.5` for a `long` column as `1`; pyfunc
refuses it, and so does the gateway).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from serving.errors import BadInput, UnsupportedMediaType

SCORING_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


@dataclass
class ScoringRequest:
    """One decoded request: the scoring key and its value, params, or a CSV frame."""

    key: str
    value: Any
    params: dict[str, Any] | None = None
    frame: Any = None


def reason_of(error: Exception) -> str:
    """The part of an MLflow error that says what is wrong with the input (no data dump)."""
    text = str(getattr(error, "message", error))
    reason = text.rsplit("Error: ", 1)[-1] if "Error: " in text else text
    return " ".join(reason.split())[:500]


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        try:  # MLflow's parser (the json module) also takes NaN and Infinity
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise BadInput(f"body is not valid JSON: {error}") from None


def parse(body: bytes, content_type: str | None) -> ScoringRequest:
    """Decode a scoring request body (JSON, or CSV with `text/csv`)."""
    mime, _, options = (content_type or "application/json").partition(";")
    mime = mime.strip().lower()
    charset = options.strip().lower().removeprefix("charset=").strip() if options.strip() else "utf-8"
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"only UTF-8 bodies are supported, got charset {charset!r}")
    if mime == "text/csv":
        return ScoringRequest("dataframe_split", None, frame=_csv(body))
    if mime not in ("application/json", "*/*", ""):
        raise UnsupportedMediaType(
            f"content type {mime!r} is not supported: send application/json or text/csv"
        )
    parsed = _json(body)
    if not isinstance(parsed, dict):
        raise BadInput("body must be a JSON object with exactly one of: " + ", ".join(SCORING_KEYS))
    keys = [key for key in SCORING_KEYS if key in parsed]
    if len(keys) != 1:
        raise BadInput("body must have exactly one of: " + ", ".join(SCORING_KEYS))
    params = parsed.get("params")
    if params is not None and not isinstance(params, dict):
        raise BadInput("params must be a JSON object")
    return ScoringRequest(keys[0], parsed[keys[0]], params)


def _csv(body: bytes) -> Any:
    import pandas as pd

    try:
        return pd.read_csv(io.BytesIO(body))
    except Exception as error:
        raise BadInput(f"body is not valid CSV: {reason_of(error)}") from None


def model_input(request: ScoringRequest) -> Any:
    """The input pyfunc gets for this request, parsed by MLflow without the schema."""
    if request.frame is not None:
        return request.frame
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc.scoring_server import infer_and_parse_data

    try:
        return infer_and_parse_data({request.key: request.value}, None)
    except MlflowException as error:
        raise BadInput(f"{request.key}: {reason_of(error)}") from None


def jsonable(predictions: Any) -> Any:
    """Predictions as MLflow's scoring server writes them (numeric arrays stay arrays for orjson)."""
    if isinstance(predictions, np.ndarray):
        kind = predictions.dtype.kind
        if kind in "biu" or (kind == "f" and predictions.dtype.itemsize == 8):
            return predictions
        if kind == "f":  # MLflow widens to Python floats: the float64 value, not float32's shortest text
            return predictions.astype(np.float64)
        return predictions.tolist()
    from mlflow.utils.proto_json_utils import _get_jsonable_obj

    return _get_jsonable_obj(predictions, pandas_orient="records")


def _default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(payload: dict[str, Any]) -> bytes:
    """orjson with numpy arrays and MLflow's fallbacks."""
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY, default=_default)
