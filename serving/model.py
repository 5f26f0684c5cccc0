"""A loaded model version and its predict paths.

Numeric tabular sklearn models skip pandas and pyfunc: the request decodes straight into a float64
matrix in signature column order and goes to the estimator's predict function. Everything else goes
through the pyfunc model with a DataFrame, as `mlflow models serve` does.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from serving import inputs
from serving.errors import BadInput, ModelFailed

NUMERIC_TYPES = {"double", "float", "long", "integer"}
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

# Estimators fitted on a DataFrame warn on every numpy call; the columns are already in fit order.
warnings.filterwarnings("ignore", message="X does not have valid feature names")


def _tensor_meta(spec: Any, default: str = "input") -> dict[str, Any]:
    """Open Inference Protocol metadata of one signature entry (ColSpec or TensorSpec)."""
    if hasattr(spec, "shape"):
        dtype = np.dtype(spec.type)
        datatype = {"f": "FP", "i": "INT", "u": "UINT"}.get(dtype.kind, "BYTES")
        if datatype != "BYTES":
            datatype += str(dtype.itemsize * 8)
        return {"name": spec.name or default, "datatype": datatype, "shape": list(spec.shape)}
    type_name = getattr(spec.type, "name", str(spec.type))
    return {"name": spec.name, "datatype": V2_TYPE_OF.get(type_name, "BYTES"), "shape": [-1]}


def jsonable(predictions: Any) -> Any:
    """Predictions in a form orjson writes (numeric ndarrays pass through untouched)."""
    if isinstance(predictions, np.ndarray):
        if predictions.dtype.kind in "biuf" and predictions.flags.c_contiguous:
            return predictions
        return predictions.tolist()
    if hasattr(predictions, "to_dict") and hasattr(predictions, "columns"):
        return predictions.to_dict(orient="records")
    if hasattr(predictions, "to_numpy"):
        return jsonable(predictions.to_numpy())
    if isinstance(predictions, list | tuple | dict | str | int | float | bool) or predictions is None:
        return predictions
    return np.asarray(predictions).tolist()


@dataclass(eq=False)
class LoadedModel:
    """One registered model version in memory, ready to predict."""

    registered_model: str
    version: str
    columns: tuple[str, ...] | None
    fast: Callable[[np.ndarray], Any] | None
    pyfunc: Any
    input_meta: list[dict[str, Any]]
    output_meta: list[dict[str, Any]]
    example: Any = None
    float_columns: tuple[str, ...] = ()
    load_seconds: float = 0.0
    loaded_at: float = field(default_factory=time.time)

    @property
    def numeric(self) -> bool:
        """True when requests skip pandas."""
        return self.fast is not None

    def _call(self, fn: Callable[[Any], Any], data: Any) -> Any:
        try:
            return fn(data)
        except BadInput:
            raise
        except Exception as error:
            if type(error).__name__ == "MlflowException" and getattr(error, "error_code", "") in (
                "INVALID_PARAMETER_VALUE",
                "BAD_REQUEST",
            ):
                text = str(getattr(error, "message", error))
                reason = text.rsplit("Error: ", 1)[-1].strip() if "Error: " in text else text.splitlines()[0]
                raise BadInput(f"input does not match the model signature: {reason}") from None
            raise ModelFailed(f"model {self.registered_model} v{self.version} failed: {error}") from None

    def predict_matrix(self, matrix: np.ndarray) -> Any:
        """Predict on a float64 matrix in signature column order (fast path)."""
        assert self.fast is not None
        return self._call(self.fast, matrix)

    def decode(self, key: str, value: Any) -> Any:
        """MLflow scoring payload → the input this model takes."""
        if self.fast is not None and self.columns:
            return inputs.numeric_matrix(key, value, self.columns)
        data = inputs.frame_input(key, value, self.columns)
        for column in self.float_columns:  # JSON integers for float columns, as MLflow clients send them
            if hasattr(data, "columns") and column in data.columns and data[column].dtype.kind in "iu":
                data[column] = data[column].astype("float64")
        return data

    def decode_v2(self, tensors: list[dict[str, Any]]) -> Any:
        """Open Inference Protocol tensors → the input this model takes."""
        if self.fast is not None and self.columns:
            return inputs.v2_matrix(tensors, self.columns)
        return inputs.v2_frame(tensors)

    def predict(self, data: Any) -> Any:
        """Predict on a decoded input."""
        if self.fast is not None:
            return self._call(self.fast, data)
        return self._call(self.pyfunc.predict, data)

    def rows(self, data: Any) -> int:
        """Row count of a decoded input."""
        return len(data) if hasattr(data, "__len__") else 1

    def warm_up(self) -> None:
        """Predict once on the input example (or a zero row) so the first request pays no lazy cost."""
        example = self.example
        if self.fast is not None and self.columns:
            if example is not None and hasattr(example, "columns"):
                data = example[list(self.columns)].to_numpy(dtype=np.float64)
            else:
                data = np.zeros((1, len(self.columns)))
            self.predict(data)
        elif example is not None:
            self.predict(example)


def build_model(registered_model: str, version: str, local_path: str, started: float) -> LoadedModel:
    """Load the MLflow model stored at `local_path` and warm it up."""
    import mlflow.pyfunc
    from mlflow.models import Model

    meta = Model.load(local_path)
    signature = meta.signature
    columns: tuple[str, ...] | None = None
    float_columns: tuple[str, ...] = ()
    numeric = False
    input_meta: list[dict[str, Any]] = []
    output_meta: list[dict[str, Any]] = []
    if signature is not None:
        specs: Sequence[Any] = signature.inputs.inputs
        input_meta = [_tensor_meta(s) for s in specs]
        if signature.outputs is not None:
            output_meta = [_tensor_meta(s, "predictions") for s in signature.outputs.inputs]
        if not signature.inputs.is_tensor_spec() and all(s.name for s in specs):
            columns = tuple(s.name for s in specs)
            numeric = all(getattr(s.type, "name", "") in NUMERIC_TYPES for s in specs)
            float_columns = tuple(s.name for s in specs if getattr(s.type, "name", "") in ("double", "float"))
    try:
        example = meta.load_input_example(local_path)
    except Exception:
        example = None
    fast = None
    pyfunc = None
    if numeric and "sklearn" in meta.flavors:
        import mlflow.sklearn

        estimator = mlflow.sklearn.load_model(local_path)
        predict_fn = meta.flavors.get("python_function", {}).get("predict_fn", "predict")
        fast = getattr(estimator, predict_fn)
    else:
        pyfunc = mlflow.pyfunc.load_model(local_path)
    model = LoadedModel(
        registered_model=registered_model,
        version=str(version),
        columns=columns,
        fast=fast,
        pyfunc=pyfunc,
        input_meta=input_meta,
        output_meta=output_meta or [{"name": "predictions", "datatype": "BYTES", "shape": [-1]}],
        example=example,
        float_columns=float_columns,
    )
    model.warm_up()
    model.load_seconds = time.perf_counter() - started
    return model
