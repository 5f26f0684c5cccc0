"""Open Inference Protocol (KServe v2) codec: infer requests in, responses and errors out.

JSON tensors and the binary tensor data extension (`Inference-Header-Content-Length`: a JSON header,
then each binary tensor's raw little-endian bytes; BYTES elements as a 4-byte length and the bytes), as
`tritonclient` sends and reads them. Every malformed tensor is a BadInput naming the tensor and why.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from serving.errors import BadInput

DATATYPES: dict[str, Any] = {
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
KIND_PREFIX = {"b": "BOOL", "i": "INT", "u": "UINT", "f": "FP"}
HEADER_LENGTH = "inference-header-content-length"


@dataclass
class Tensor:
    """One decoded input tensor."""

    name: str
    datatype: str
    array: np.ndarray


@dataclass
class InferRequest:
    """A decoded infer request."""

    id: str | None
    inputs: list[Tensor]
    outputs: list[dict[str, Any]] | None
    parameters: dict[str, Any] = field(default_factory=dict)

    def binary_output(self, name: str) -> bool:
        """Whether output `name` goes back as binary data."""
        for output in self.outputs or []:
            if output["name"] == name:
                return bool((output.get("parameters") or {}).get("binary_data", False))
        return bool(self.parameters.get("binary_data_output", False))


def datatype_of(array: np.ndarray) -> str:
    """The protocol datatype of a numpy array."""
    prefix = KIND_PREFIX.get(array.dtype.kind)
    if prefix is None:
        return "BYTES"
    return prefix if prefix == "BOOL" else f"{prefix}{array.dtype.itemsize * 8}"


def _shape(tensor: dict[str, Any], name: str) -> list[int]:
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise BadInput(f"input {name!r}: shape must be a list of non-negative integers")
    return shape


def _from_json(data: Any, datatype: str, shape: list[int], name: str) -> np.ndarray:
    flat = np.asarray(data, dtype=object).ravel() if isinstance(data, list) else None
    if flat is None or (flat.size and isinstance(flat[0], list)):
        raise BadInput(f"input {name!r}: data must be a (nested) list of equal-length lists")
    count = math.prod(shape)
    if flat.size != count:
        raise BadInput(f"input {name!r}: shape {shape} needs {count} values, data has {flat.size}")
    if datatype == "BYTES":
        if not all(isinstance(v, str) for v in flat):
            raise BadInput(f"input {name!r}: BYTES data must be strings")
        return flat.reshape(shape)
    wanted: type = bool if datatype == "BOOL" else (float if datatype.startswith("FP") else int)
    for value in flat:
        if type(value) is not wanted and not (wanted is float and type(value) is int):
            raise BadInput(f"input {name!r}: {datatype} data must be {wanted.__name__} values, got {value!r}")
    try:
        return np.array(flat.tolist(), dtype=DATATYPES[datatype]).reshape(shape)
    except (OverflowError, ValueError):
        raise BadInput(f"input {name!r}: a value does not fit {datatype}") from None


def _bytes_elements(raw: bytes, count: int, name: str) -> np.ndarray:
    values: list[str] = []
    offset = 0
    try:
        for _ in range(count):
            (size,) = struct.unpack_from("<I", raw, offset)
            offset += 4
            if offset + size > len(raw):
                raise struct.error
            values.append(raw[offset : offset + size].decode("utf-8"))
            offset += size
    except struct.error:
        raise BadInput(f"input {name!r}: binary BYTES data is shorter than its {count} elements") from None
    except UnicodeDecodeError:
        raise BadInput(f"input {name!r}: BYTES element is not UTF-8") from None
    if offset != len(raw):
        raise BadInput(f"input {name!r}: binary BYTES data is longer than its {count} elements")
    return np.array(values, dtype=object)


def _from_binary(raw: bytes, datatype: str, shape: list[int], name: str) -> np.ndarray:
    count = math.prod(shape)
    if datatype == "BYTES":
        return _bytes_elements(raw, count, name).reshape(shape)
    dtype = np.dtype(DATATYPES[datatype]).newbyteorder("<")
    if len(raw) != count * dtype.itemsize:
        raise BadInput(f"input {name!r}: shape {shape} needs {count * dtype.itemsize} bytes, got {len(raw)}")
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def parse_infer(body: bytes, header_length: str | None) -> InferRequest:
    """Decode an infer request body (JSON, or JSON header + binary tensors)."""
    binary = b""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise BadInput(f"{HEADER_LENGTH} must be the length of the JSON header (at most the body)")
        body, binary = body[: int(header_length)], body[int(header_length) :]
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadInput(f"body is not valid JSON: {error}") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("inputs"), list) or not parsed["inputs"]:
        raise BadInput("body must be an object with a non-empty 'inputs' list of tensors")
    request_id = parsed.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadInput("'id' must be a string")
    parameters = parsed.get("parameters") or {}
    outputs = parsed.get("outputs")
    if not isinstance(parameters, dict):
        raise BadInput("'parameters' must be an object")
    if outputs is not None and (
        not isinstance(outputs, list)
        or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs)
    ):
        raise BadInput("'outputs' must be a list of objects with a 'name'")
    tensors: list[Tensor] = []
    offset = 0
    for tensor in parsed["inputs"]:
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise BadInput("every input tensor needs a string 'name'")
        name = tensor["name"]
        datatype = tensor.get("datatype")
        if datatype not in DATATYPES:
            raise BadInput(f"input {name!r}: unknown datatype {datatype!r}; known: {', '.join(DATATYPES)}")
        shape = _shape(tensor, name)
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if type(size) is not int or size < 0 or offset + size > len(binary):
                raise BadInput(f"input {name!r}: binary_data_size {size!r} exceeds the binary data sent")
            array = _from_binary(binary[offset : offset + size], datatype, shape, name)
            offset += size
        elif "data" in tensor:
            array = _from_json(tensor["data"], datatype, shape, name)
        else:
            raise BadInput(f"input {name!r}: needs 'data' or a binary_data_size parameter")
        tensors.append(Tensor(name, datatype, array))
    if offset != len(binary):
        raise BadInput(f"{len(binary) - offset} bytes of binary data belong to no input")
    names = [t.name for t in tensors]
    if len(set(names)) != len(names):
        raise BadInput("input tensor names must be unique")
    return InferRequest(request_id, tensors, outputs, parameters)


def columns_of(request: InferRequest, columns: tuple[str, ...] | None) -> dict[str, np.ndarray] | None:
    """Column name → 1-D array for a named-column model, or None for a tensor model.

    One [n, k] tensor maps onto the k signature columns in order; otherwise one [n] or [n, 1] tensor per
    column, by name, all with the same row count."""
    if not columns:
        return None
    inputs = request.inputs
    if len(inputs) == 1 and inputs[0].array.ndim == 2 and (len(columns) > 1 or inputs[0].name not in columns):
        array = inputs[0].array
        if array.shape[1] != len(columns):
            raise BadInput(
                f"input {inputs[0].name!r}: shape {list(array.shape)} must be [rows, {len(columns)}] "
                f"for the columns {list(columns)}"
            )
        return {column: array[:, i] for i, column in enumerate(columns)}
    found: dict[str, np.ndarray] = {}
    for tensor in inputs:
        array = tensor.array
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 1:
            raise BadInput(
                f"input {tensor.name!r}: shape {list(tensor.array.shape)} must be [rows] or [rows, 1] "
                "for one column (or send one [rows, columns] tensor)"
            )
        found[tensor.name] = array
    lengths = {name: len(array) for name, array in found.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise BadInput(f"input tensors must have the same number of rows: {detail}")
    return found


def model_input(request: InferRequest, columns: dict[str, np.ndarray] | None) -> Any:
    """What pyfunc gets: a DataFrame of the columns, or the one tensor, or a dict of tensors."""
    if columns is not None:
        import pandas as pd

        return pd.DataFrame(columns)
    if len(request.inputs) == 1:
        return request.inputs[0].array
    return {t.name: t.array for t in request.inputs}


def _outputs(predictions: Any, default_name: str) -> list[tuple[str, np.ndarray]]:
    if hasattr(predictions, "columns") and hasattr(predictions, "to_numpy"):
        return [(str(c), predictions[c].to_numpy()) for c in predictions.columns]
    if isinstance(predictions, dict):
        return [(str(k), np.asarray(v)) for k, v in predictions.items()]
    if hasattr(predictions, "to_numpy"):
        predictions = predictions.to_numpy()
    return [(default_name, np.asarray(predictions))]


def _bytes_payload(array: np.ndarray) -> bytes:
    parts = []
    for value in array.ravel().tolist():
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
        parts.append(struct.pack("<I", len(raw)) + raw)
    return b"".join(parts)


def encode_response(
    request: InferRequest, model_name: str, version: str, predictions: Any, default_name: str
) -> tuple[bytes, list[tuple[str, str]]]:
    """(body, extra headers) of an infer response; binary outputs where the request asked for them."""
    produced = _outputs(predictions, default_name)
    by_name = dict(produced)
    if request.outputs:
        unknown = [o["name"] for o in request.outputs if o["name"] not in by_name]
        if unknown:
            raise BadInput(f"unknown output {unknown[0]!r}; the model has: {', '.join(by_name)}")
        produced = [(o["name"], by_name[o["name"]]) for o in request.outputs]
    tensors: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, array in produced:
        datatype = datatype_of(array)
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if request.binary_output(name):
            blob = (
                _bytes_payload(array)
                if datatype == "BYTES"
                else np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
            )
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            flat = array.ravel()
            tensor["data"] = flat if datatype != "BYTES" else [str(v) for v in flat.tolist()]
        tensors.append(tensor)
    out: dict[str, Any] = {"model_name": model_name, "model_version": version, "outputs": tensors}
    if request.id is not None:
        out["id"] = request.id
    header = orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return header, []
    return header + b"".join(blobs), [(HEADER_LENGTH, str(len(header)))]


def error_body(message: str) -> bytes:
    """The protocol's error body."""
    return orjson.dumps({"error": message})
