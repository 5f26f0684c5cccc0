"""Loading MLflow models from disk: the numpy fast path for sklearn, pyfunc with schema errors as 422."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from mlflow.pyfunc import PythonModel

from serving.errors import BadInput, ModelFailed
from serving.model import build_model

COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


class Picky(PythonModel):
    """Sums the columns; raises on negative values."""

    def predict(self, context, model_input, params=None):
        if (model_input < 0).any().any():
            raise ValueError("negative input")
        return model_input.sum(axis=1).to_numpy()


@pytest.fixture(scope="module")
def sklearn_model(tmp_path_factory):
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    frame = load_iris(as_frame=True)
    estimator = LogisticRegression(max_iter=500).fit(frame.data, frame.target)
    path = tmp_path_factory.mktemp("sk") / "model"
    example = frame.data.head(2)
    mlflow.sklearn.save_model(
        estimator, path, signature=infer_signature(example, estimator.predict(example)), input_example=example
    )
    return build_model("iris", "7", str(path), time.perf_counter()), estimator, frame.data


def test_numeric_sklearn_models_take_the_numpy_path(sklearn_model):
    model, estimator, data = sklearn_model
    assert model.numeric and model.pyfunc is None and model.version == "7"
    assert [m["name"] for m in model.input_meta] == COLUMNS and model.input_meta[0]["datatype"] == "FP64"
    shuffled = {"columns": COLUMNS[::-1], "data": data.iloc[:5, ::-1].to_numpy().tolist()}
    predictions = model.predict(model.decode("dataframe_split", shuffled))
    np.testing.assert_array_equal(predictions, estimator.predict(data.iloc[:5]))
    tensor = [
        {"name": "x", "shape": [5, 4], "datatype": "FP64", "data": data.iloc[:5].to_numpy().ravel().tolist()}
    ]
    np.testing.assert_array_equal(model.predict(model.decode_v2(tensor)), predictions)
    with pytest.raises(BadInput, match="4 values"):
        model.decode("instances", [[1, 2]])


def test_pyfunc_models_get_frames_and_signature_errors_are_422(tmp_path):
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    signature = ModelSignature(
        Schema([ColSpec("double", "a"), ColSpec("double", "b")]), Schema([ColSpec("double")])
    )
    path = tmp_path / "pyfunc"
    mlflow.pyfunc.save_model(
        path, python_model=Picky(), signature=signature, input_example=pd.DataFrame({"a": [1.0], "b": [2.0]})
    )
    model = build_model("sum", "1", str(path), time.perf_counter())
    assert not model.numeric and model.pyfunc is not None
    assert list(model.predict(model.decode("instances", [[1, 2], [3, 4]]))) == [3.0, 7.0]
    with pytest.raises(BadInput, match="missing inputs"):
        model.predict(model.decode("dataframe_records", [{"a": 1.0}]))
    with pytest.raises(ModelFailed, match="negative input"):
        model.predict(model.decode("instances", [[-1.0, 2.0]]))
