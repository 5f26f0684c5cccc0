"""A loaded model version and its predict paths.

Every model is loaded with `mlflow.pyfunc`, which decides every request the fast path cannot. The
numpy fast path (`serving.exactness`) is switched on per model only when it is proven to answer
exactly as pyfunc does; why it is off is logged once and shown in `GET /v1/models/{model}`.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from loguru import logger

from serving import oip, scoring, widening
from serving.errors import BadInput, ModelFailed
from serving.exactness import FastPlan, fast_matrix, fast_tensors, plan_fast_path, prove

V2_TYPE_OF = {
    "double": "FP64",
    "float": "FP32",
    "long": "INT64",
    "integer": "INT32",
    "boolean": "BOOL",
    "string": "BYTES",
    "binary": "BYTES",
    "datetime": "BYTES",
}
FAST_ROWS_INLINE = 64
SCHEMA_ERROR_CODES = ("INVALID_PARAMETER_VALUE", "BAD_REQUEST")

# Estimators fitted on a DataFrame warn on every numpy call; the fast path's columns are in fit order.
warnings.filterwarnings("ignore", message="X does not have valid feature names")


def _tensor_meta(spec: Any, default: str = "input") -> dict[str, Any]:
    """Open Inference Protocol metadata of one signature entry (ColSpec or TensorSpec)."""
    if hasattr(spec, "shape"):
        return {
            "name": spec.name or default,
            "datatype": oip.datatype_of(np.empty(0, dtype=spec.type)),
            "shape": list(spec.shape),
        }
    type_name = getattr(spec.type, "name", str(spec.type))
    return {"name": spec.name or default, "datatype": V2_TYPE_OF.get(type_name, "BYTES"), "shape": [-1]}


@dataclass
class Prepared:
    """A request decoded for one model: the matrix (fast) or pyfunc's input and params."""

    data: Any
    fast: bool
    params: dict[str, Any] | None = None

    @property
    def rows(self) -> int:
        """Row count (for choosing inline or thread-pool prediction, and naming an empty input)."""
        data = self.data
        if isinstance(data, dict):
            first = next(iter(data.values()), None)
            return 0 if first is None else int(np.shape(first)[0]) if np.ndim(first) else 1
        if isinstance(data, np.ndarray):
            return int(data.shape[0]) if data.ndim else 1
        return len(data) if hasattr(data, "__len__") else 1


@dataclass(eq=False)
class LoadedModel:
    """One registered model version in memory, ready to predict."""

    registered_model: str
    version: str
    pyfunc: Any
    plan: FastPlan | None
    fast_reason: str | None
    columns: tuple[str, ...] | None
    doubles: frozenset[str]
    input_meta: list[dict[str, Any]]
    output_meta: list[dict[str, Any]]
    load_seconds: float = 0.0
    loaded_at: float = field(default_factory=time.time)

    @property
    def fast_path(self) -> bool:
        """True when plain numeric requests skip pandas and pyfunc."""
        return self.plan is not None

    @property
    def output_name(self) -> str:
        """Name of the single output tensor in Open Inference Protocol answers."""
        return str(self.output_meta[0]["name"]) if len(self.output_meta) == 1 else "predictions"

    def prepare(self, request: scoring.ScoringRequest | oip.InferRequest) -> Prepared:
        """Decode a request for this model: the fast path where it is exact, else pyfunc's input."""
        if isinstance(request, oip.InferRequest):
            columns = oip.columns_of(request, self.columns)
            if self.plan is not None and columns is not None:
                matrix = fast_tensors(self.plan, columns)
                if matrix is not None:
                    return Prepared(matrix, True)
            data = widening.widen(oip.model_input(request, columns), self.doubles)
            return Prepared(data, False, request.parameters or None)
        if self.plan is not None and request.params is None and request.frame is None:
            matrix = fast_matrix(self.plan, request.key, request.value)
            if matrix is not None:
                return Prepared(matrix, True)
        if request.frame is None:
            widening.check_json(request.key, request.value, self.doubles)
        return Prepared(widening.widen(scoring.model_input(request), self.doubles), False, request.params)

    def predict(self, prepared: Prepared) -> Any:
        """Predict; schema rejections are BadInput (400), and so is a model raising on an input with no
        rows, nulls or infinities (the client's to fix); anything else the model raises is ModelFailed."""
        try:
            if prepared.fast:
                assert self.plan is not None
                return self.plan.predict(prepared.data)
            return self.pyfunc.predict(prepared.data, params=prepared.params)
        except Exception as error:
            if type(error).__name__.startswith("Mlflow") and getattr(error, "error_code", "") in (
                SCHEMA_ERROR_CODES
            ):
                reason = scoring.reason_of(error)
                if self.columns and not any(column in reason for column in self.columns):
                    reason = f"{reason} (in {', '.join(map(repr, _blame(prepared.data, self.columns)))})"
                raise BadInput(f"input does not match the model signature: {reason}") from None
            refused = self._refused_input(prepared)
            if refused is not None:
                logger.debug(
                    "{} version {} raised on {}: {}", self.registered_model, self.version, refused, error
                )
                raise BadInput(
                    f"model {self.registered_model} version {self.version} cannot predict {refused}"
                ) from None
            raise ModelFailed(
                f"model {self.registered_model} version {self.version} failed on this input",
                detail=f"{type(error).__name__}: {error}",
            ) from error  # the log gets the model's traceback (serving.predict); the caller never does

    def _refused_input(self, prepared: Prepared) -> str | None:
        """What is wrong with an input the model raised on, when it is the client's to fix."""
        if prepared.rows == 0:
            return "an input with no rows"
        columns = self.plan.columns if prepared.fast and self.plan is not None else self.columns
        nulls = _columns_where(prepared.data, columns or (), _nulls)
        if nulls:
            return f"nulls (null, NaN or a missing value) in {', '.join(map(repr, nulls))}"
        infinite = _columns_where(prepared.data, columns or (), _infinities)
        if infinite:
            return f"infinite values in {', '.join(map(repr, infinite))}"
        return None


def _blame(data: Any, columns: tuple[str, ...]) -> list[str]:
    """The columns a rejected input holds nulls or mixed values in (else all of them)."""
    if isinstance(data, dict):
        items = [(str(k), np.asarray(v, dtype=object)) for k, v in data.items()]
    elif hasattr(data, "columns"):
        items = [(str(c), data[c].to_numpy(dtype=object)) for c in data.columns]
    else:
        items = []
    bad = [
        name
        for name, values in items
        if name in columns
        and (any(v is None for v in values.ravel()) or len({type(v) for v in values.ravel()}) > 1)
    ]
    return bad or list(columns)


def _nulls(values: np.ndarray) -> np.ndarray:
    import pandas as pd

    return np.asarray(pd.isna(values))


def _infinities(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        return np.isinf(values)
    if values.dtype.kind == "O":
        return np.array([type(v) is float and math.isinf(v) for v in values.ravel()], dtype=bool)
    return np.zeros(values.shape, dtype=bool)


def _columns_where(data: Any, columns: Sequence[str], test: Callable[[np.ndarray], np.ndarray]) -> list[str]:
    """The signature columns of pyfunc's input (or the fast path's matrix) with a value `test` flags."""
    if isinstance(data, np.ndarray) and data.ndim == 2 and data.shape[1] == len(columns):
        return [c for c, bad in zip(columns, test(data).any(axis=0), strict=True) if bad]
    if isinstance(data, dict) or hasattr(data, "columns"):
        present = [c for c in columns if c in data]
        return [c for c in present if bool(test(np.asarray(data[c])).any())]
    return []


def _signature_meta(
    signature: Any,
) -> tuple[tuple[str, ...] | None, list[dict[str, Any]], list[dict[str, Any]]]:
    if signature is None:
        return None, [], []
    specs: Sequence[Any] = signature.inputs.inputs
    input_meta = [_tensor_meta(s) for s in specs]
    output_meta = (
        [_tensor_meta(s, "predictions") for s in signature.outputs.inputs] if signature.outputs else []
    )
    named = not signature.inputs.is_tensor_spec() and all(s.name for s in specs)
    columns = tuple(str(s.name) for s in specs) if named else None
    return columns, input_meta, output_meta


def _double_columns(signature: Any) -> frozenset[str]:
    """Named signature columns of type `double` (integers sent to them are widened to float64)."""
    if signature is None or signature.inputs.is_tensor_spec():
        return frozenset()
    return frozenset(
        str(spec.name)
        for spec in signature.inputs.inputs
        if spec.name and getattr(spec.type, "name", None) == "double"
    )


def build_model(registered_model: str, version: str, local_path: str, started: float) -> LoadedModel:
    """Load the MLflow model at `local_path`, decide the fast path and warm up on the input example.

    Raises LoadRefused when pyfunc could not answer any input, and whatever pyfunc raises on the input
    example (a model that cannot score its own example is not served)."""
    import mlflow.pyfunc
    from mlflow.models import Model

    meta = Model.load(local_path)
    pyfunc = mlflow.pyfunc.load_model(local_path)
    columns, input_meta, output_meta = _signature_meta(meta.signature)
    try:
        example = meta.load_input_example(local_path)
    except Exception:
        example = None
    plan, reason = plan_fast_path(meta, pyfunc)
    if plan is not None:
        reason = prove(plan, pyfunc, example)  # also warms the estimator up
        if reason is not None:
            plan = None
    elif example is not None:
        pyfunc.predict(example)  # warm-up: the first request pays no lazy cost
    if plan is None:
        logger.info("{} version {} predicts through pyfunc: {}", registered_model, version, reason)
    model = LoadedModel(
        registered_model=registered_model,
        version=str(version),
        pyfunc=pyfunc,
        plan=plan,
        fast_reason=reason,
        columns=columns,
        doubles=_double_columns(meta.signature),
        input_meta=input_meta,
        output_meta=output_meta or [{"name": "predictions", "datatype": "BYTES", "shape": [-1]}],
    )
    model.load_seconds = time.perf_counter() - started
    return model
