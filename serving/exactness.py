"""The numpy fast path and its proof: used only where it gives exactly what `mlflow.pyfunc` gives.

At load, `plan_fast_path` decides whether a model may skip pandas and pyfunc: a scikit-learn model whose
signature lists named `double`/`long` columns, fitted on exactly those columns in that order, whose
estimator answers a matrix of its input example exactly as pyfunc answers the example (`prove`).

Per request, `fast_matrix` / `fast_tensors` build the matrix only for inputs that pyfunc provably
accepts unchanged (MLflow's type rules: a `long` column holds JSON integers only, a `double` column
numbers with at least one non-integer literal, no nulls, strings or booleans, every column present);
anything else answers None and the request goes through pyfunc, which accepts or rejects it itself.
The matrix has the dtype and memory layout pandas hands the estimator (float64, or int64 when every
column is `long`; column-major), so the estimator runs the same code on the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

FAST_TYPES = {"double": float, "long": int}
# Integers beyond 2**53 do not all survive float64; such inputs go through pyfunc.
EXACT_INT = 2**53
SCORING_ROW_KEYS = ("instances", "inputs")


class LoadRefused(Exception):
    """The model cannot answer any request the way pyfunc would: refuse to serve it."""


@dataclass(frozen=True)
class FastPlan:
    """How the fast path calls one estimator."""

    predict: Callable[[np.ndarray], Any]
    columns: tuple[str, ...]
    long_columns: tuple[bool, ...]

    @property
    def integer_matrix(self) -> bool:
        """Every column is `long`: pandas hands the estimator an int64 matrix."""
        return all(self.long_columns)


def _type_name(spec: Any) -> str:
    return str(getattr(spec.type, "name", spec.type))


def plan_fast_path(meta: Any, pyfunc: Any) -> tuple[FastPlan | None, str | None]:
    """(plan, None) when the structure allows the fast path, else (None, why not).

    Raises LoadRefused when the estimator was fitted on other columns than the signature lists:
    pyfunc hands it the signature's columns and scikit-learn refuses every such input."""
    signature = meta.signature
    if signature is None:
        return None, "the model has no signature"
    if signature.inputs.is_tensor_spec():
        return None, "the signature is tensor-based"
    specs = signature.inputs.inputs
    if not specs or not all(spec.name for spec in specs):
        return None, "the signature has unnamed columns"
    columns = tuple(str(spec.name) for spec in specs)
    if "sklearn" not in meta.flavors:
        return None, f"flavor {', '.join(k for k in meta.flavors if k != 'python_function')} is not sklearn"
    estimator = pyfunc.get_raw_model()
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is not None and [str(name) for name in fitted] != list(columns):
        raise LoadRefused(
            f"the signature lists columns {list(columns)} but the estimator was fitted on "
            f"{[str(name) for name in fitted]} (order included): mlflow.pyfunc refuses every input of "
            "this model; log it with a signature inferred from the training frame"
        )
    for spec in specs:
        kind = _type_name(spec)
        if kind not in FAST_TYPES:
            return None, f"column {spec.name!r} has type {kind} (the fast path takes double and long)"
        if not getattr(spec, "required", True):
            return None, f"column {spec.name!r} is optional"
    predict_fn = meta.flavors.get("python_function", {}).get("predict_fn", "predict")
    predict = getattr(estimator, predict_fn, None)
    if predict is None:
        return None, f"the estimator has no {predict_fn}"
    long_columns = tuple(_type_name(spec) == "long" for spec in specs)
    return FastPlan(predict, columns, long_columns), None


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    return bool(a == b)


def prove(plan: FastPlan, pyfunc: Any, example: Any) -> str | None:
    """None when the fast path answers the input example exactly as pyfunc does, else why not."""
    if example is None or not hasattr(example, "to_dict"):
        return "no input example to prove the fast path on"
    matrix = fast_matrix(plan, "dataframe_split", example.to_dict(orient="split"))
    if matrix is None:
        return "the input example is not plain numbers of the signature's types"
    try:
        fast = plan.predict(matrix)
    except Exception as error:
        return f"the estimator does not take a matrix ({type(error).__name__})"
    if not _same(fast, pyfunc.predict(example)):
        return "the estimator answers a matrix differently from the DataFrame pyfunc gives it"
    return None


def _columns_matrix(plan: FastPlan, columns: Sequence[Sequence[Any]]) -> np.ndarray | None:
    """Columns of JSON values (signature order) → the estimator's matrix, or None if pyfunc must decide."""
    for values, is_long in zip(columns, plan.long_columns, strict=True):
        kinds = set(map(type, values))
        if is_long:
            if kinds != {int}:
                return None
        elif float not in kinds or not kinds <= {float, int}:
            return None
    try:
        matrix = np.array(columns, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    if matrix.size and float(np.abs(matrix).max()) >= EXACT_INT:
        return None
    if plan.integer_matrix:
        matrix = np.array(columns, dtype=np.int64)
    return matrix.T  # (n, k), column-major like pandas' frame


def _split_columns(plan: FastPlan, value: Any) -> list[Sequence[Any]] | None:
    if not isinstance(value, dict) or not value.keys() <= {"columns", "data", "index"}:
        return None
    names, rows = value.get("columns"), value.get("data")
    if not isinstance(names, list) or not isinstance(rows, list) or not rows:
        return None
    if not all(type(name) is str for name in names) or len(set(names)) != len(names):
        return None
    index = value.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(rows)):
        return None
    width = len(names)
    if not all(type(row) is list and len(row) == width for row in rows):
        return None
    position = {name: i for i, name in enumerate(names)}
    if not all(column in position for column in plan.columns):
        return None
    transposed = list(zip(*rows, strict=True))
    return [transposed[position[column]] for column in plan.columns]


def _records_columns(plan: FastPlan, records: Any) -> list[Sequence[Any]] | None:
    if not isinstance(records, list) or not records:
        return None
    if not all(type(record) is dict for record in records):
        return None
    try:
        return [[record[column] for record in records] for column in plan.columns]
    except KeyError:
        return None


def _dict_columns(plan: FastPlan, data: dict[str, Any]) -> list[Sequence[Any]] | None:
    if set(data) != set(plan.columns):
        return None
    columns = [data[column] for column in plan.columns]
    if not all(type(values) is list and values for values in columns):
        return None
    if len({len(values) for values in columns}) != 1:
        return None
    return columns


def fast_matrix(plan: FastPlan, key: str, value: Any) -> np.ndarray | None:
    """The estimator's matrix for one MLflow scoring payload, or None when pyfunc must decide."""
    if key == "dataframe_split":
        columns = _split_columns(plan, value)
    elif key == "dataframe_records" or (key == "instances" and isinstance(value, list)):
        # MLflow turns `instances` records into columns; `inputs` records it refuses
        columns = _records_columns(plan, value)
    elif key in SCORING_ROW_KEYS and isinstance(value, dict):
        columns = _dict_columns(plan, value)
    else:
        columns = None
    return None if columns is None else _columns_matrix(plan, columns)


def fast_tensors(plan: FastPlan, arrays: dict[str, np.ndarray]) -> np.ndarray | None:
    """The estimator's matrix for Open Inference Protocol columns (name → 1-D array), or None."""
    if set(arrays) != set(plan.columns):
        return None
    columns = [arrays[column] for column in plan.columns]
    for array, is_long in zip(columns, plan.long_columns, strict=True):
        if array.dtype != (np.int64 if is_long else np.float64):
            return None
    dtype = np.int64 if plan.integer_matrix else np.float64
    matrix = np.empty((len(columns[0]), len(columns)), dtype=dtype, order="F")
    for i, array in enumerate(columns):
        matrix[:, i] = array
    if any(plan.long_columns) and matrix.size and float(np.abs(matrix).max()) >= EXACT_INT:
        return None
    return matrix
