"""Decoding of request bodies (MLflow scoring formats and Open Inference Protocol) into model inputs.

Numeric tabular models get a float64 numpy matrix in signature column order, built without pandas;
every other model gets a pandas DataFrame (or ndarray for tensor signatures) like MLflow builds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from serving.errors import BadInput

SCORING_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")

V2_DATATYPES = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}


def scoring_payload(body: Any) -> tuple[str, Any]:
    """The one scoring key of an MLflow request body and its value."""
    if not isinstance(body, dict):
        raise BadInput("body must be a JSON object with one of: " + ", ".join(SCORING_KEYS))
    keys = [key for key in SCORING_KEYS if key in body]
    if len(keys) != 1:
        raise BadInput("body must have exactly one of: " + ", ".join(SCORING_KEYS))
    return keys[0], body[keys[0]]


def _matrix(data: Any, width: int, what: str) -> np.ndarray:
    try:
        matrix = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInput(f"{what} must be rows of {width} numbers") from None
    if matrix.ndim == 1 and width == 1:
        matrix = matrix.reshape(-1, 1)
    if matrix.ndim != 2 or matrix.shape[1] != width or matrix.shape[0] == 0:
        raise BadInput(
            f"{what} must be a non-empty list of rows with {width} values each, got shape {matrix.shape}"
        )
    return matrix


def _from_records(records: Sequence[Any], columns: Sequence[str], what: str) -> np.ndarray:
    if not records or not all(isinstance(r, dict) for r in records):
        raise BadInput(f"{what} must be a non-empty list of objects")
    try:
        rows = [[record[c] for c in columns] for record in records]
    except KeyError as missing:
        raise BadInput(f"{what}: missing column {missing.args[0]!r}") from None
    return _matrix(rows, len(columns), what)


def _from_columns(data: dict[str, Any], columns: Sequence[str], what: str) -> np.ndarray:
    missing = [c for c in columns if c not in data]
    if missing:
        raise BadInput(f"{what}: missing column {missing[0]!r}")
    try:
        matrix = np.column_stack([np.asarray(data[c], dtype=np.float64).reshape(-1) for c in columns])
    except (TypeError, ValueError):
        raise BadInput(f"{what}: every column must be a list of numbers of the same length") from None
    return _matrix(matrix, len(columns), what)


def numeric_matrix(key: str, value: Any, columns: Sequence[str]) -> np.ndarray:
    """Decode one MLflow scoring payload into an (n, len(columns)) float64 matrix."""
    width = len(columns)
    if key == "dataframe_split":
        if not isinstance(value, dict) or "data" not in value:
            raise BadInput("dataframe_split must be an object with 'data' (and optionally 'columns')")
        given = value.get("columns")
        matrix = _matrix(value["data"], len(given) if given else width, "dataframe_split.data")
        if given and list(given) != list(columns):
            try:
                order = [list(given).index(c) for c in columns]
            except ValueError:
                missing = next(c for c in columns if c not in given)
                raise BadInput(f"dataframe_split: missing column {missing!r}") from None
            matrix = matrix[:, order]
        return matrix
    if key == "dataframe_records":
        return _from_records(value, columns, key)
    if isinstance(value, dict):
        return _from_columns(value, columns, key)
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return _from_records(value, columns, key)
    return _matrix(value, width, key)


def frame_input(key: str, value: Any, columns: Sequence[str] | None) -> Any:
    """Decode one MLflow scoring payload the way MLflow's scoring server does (pandas, slow path)."""
    import pandas as pd

    try:
        if key == "dataframe_split":
            if not isinstance(value, dict) or "data" not in value:
                raise BadInput("dataframe_split must be an object with 'data' (and optionally 'columns')")
            return pd.DataFrame(value["data"], columns=value.get("columns"), index=value.get("index"))
        if key == "dataframe_records":
            return pd.DataFrame.from_records(value)
        if isinstance(value, dict):
            return pd.DataFrame(value)
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return pd.DataFrame.from_records(value)
        if (
            columns
            and isinstance(value, list)
            and value
            and isinstance(value[0], list)
            and len(value[0]) == len(columns)
        ):
            return pd.DataFrame(value, columns=list(columns))
        return np.asarray(value)
    except (TypeError, ValueError) as error:
        raise BadInput(f"{key}: {error}") from None


def v2_tensors(body: Any) -> list[dict[str, Any]]:
    """The `inputs` list of an Open Inference Protocol request, checked for shape."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise BadInput("body must be an object with a non-empty 'inputs' list of tensors")
    for tensor in body["inputs"]:
        if not isinstance(tensor, dict) or not {"name", "shape", "datatype", "data"} <= tensor.keys():
            raise BadInput("every input tensor needs name, shape, datatype and data")
        if tensor["datatype"] not in V2_DATATYPES:
            raise BadInput(f"input {tensor['name']!r}: unknown datatype {tensor['datatype']!r}")
    return body["inputs"]


def _tensor_array(tensor: dict[str, Any]) -> np.ndarray:
    try:
        array = np.asarray(tensor["data"], dtype=V2_DATATYPES[tensor["datatype"]])
        return array.reshape(tensor["shape"])
    except (TypeError, ValueError) as error:
        raise BadInput(f"input {tensor['name']!r}: {error}") from None


def v2_matrix(tensors: list[dict[str, Any]], columns: Sequence[str]) -> np.ndarray:
    """One (n, k) tensor, or one (n,) / (n, 1) tensor per signature column, as a float64 matrix."""
    if len(tensors) == 1 and (len(columns) == 1 or tensors[0]["name"] not in columns):
        array = _tensor_array(tensors[0]).astype(np.float64, copy=False)
        return _matrix(array, len(columns), f"input {tensors[0]['name']!r}")
    by_name = {t["name"]: t for t in tensors}
    missing = [c for c in columns if c not in by_name]
    if missing:
        raise BadInput(f"missing input tensor {missing[0]!r}")
    return np.column_stack([_tensor_array(by_name[c]).astype(np.float64).reshape(-1) for c in columns])


def v2_frame(tensors: list[dict[str, Any]]) -> Any:
    """Tensors as a DataFrame of columns (several inputs) or one ndarray (one input), for the slow path."""
    import pandas as pd

    if len(tensors) == 1:
        return _tensor_array(tensors[0])
    return pd.DataFrame({t["name"]: _tensor_array(t).reshape(-1) for t in tensors})
