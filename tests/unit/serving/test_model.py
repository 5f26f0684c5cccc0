"""Loading MLflow models from disk: the proven fast path, pyfunc otherwise, schema errors as 400."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from mlflow.pyfunc import PythonModel

from serving import scoring
from serving.errors import BadInput, ModelFailed
from serving.exactness import LoadRefused
from serving.model import build_model

COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


class Picky(PythonModel):
    """Sums the columns; raises on negative values."""

    def predict(self, context, model_input, params=None):
        if (model_input < 0).any().any():
            raise ValueError("negative input")
        return model_input.sum(axis=1).to_numpy()


def _predict(model, body: dict):
    return model.predict(model.prepare(scoring.ScoringRequest(*next(iter(body.items())))))


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


def test_numeric_sklearn_models_take_the_proven_fast_path(sklearn_model):
    model, estimator, data = sklearn_model
    assert model.fast_path and model.fast_reason is None and model.version == "7"
    assert [m["name"] for m in model.input_meta] == COLUMNS and model.input_meta[0]["datatype"] == "FP64"
    shuffled = {"columns": COLUMNS[::-1], "data": data.iloc[:5, ::-1].to_numpy().tolist()}
    prepared = model.prepare(scoring.ScoringRequest("dataframe_split", shuffled))
    assert prepared.fast and prepared.data.flags.f_contiguous
    np.testing.assert_array_equal(model.predict(prepared), estimator.predict(data.iloc[:5]))


def test_inputs_pyfunc_refuses_are_refused_naming_the_column(sklearn_model):
    model, _, _ = sklearn_model
    with pytest.raises(BadInput, match="missing inputs"):
        _predict(model, {"instances": [[1.0, 2.0, 3.0, 4.0]]})  # positional rows: pyfunc refuses them
    with pytest.raises(BadInput, match="column sepal length"):
        _predict(model, {"dataframe_records": [dict(zip(COLUMNS, [5, 3.5, 1.4, 0.2], strict=True))]})


def test_a_signature_in_another_order_than_the_fit_is_refused_at_load(tmp_path):
    """Fitted on [a, b], signature [b, a]: pyfunc refuses every input; the old fast path answered 29."""
    import mlflow.sklearn
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0, 1.0]})
    estimator = LinearRegression().fit(frame, 3 * frame.a - 10 * frame.b + 1)
    signature = ModelSignature(Schema([ColSpec("double", "b"), ColSpec("double", "a")]))
    mlflow.sklearn.save_model(estimator, tmp_path / "m", signature=signature)
    with pytest.raises(LoadRefused, match=r"\['b', 'a'\].*\['a', 'b'\]"):
        build_model("ab", "1", str(tmp_path / "m"), time.perf_counter())


def test_pyfunc_models_get_frames_and_signature_errors_are_400(tmp_path):
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
    assert not model.fast_path and "not sklearn" in model.fast_reason and model.pyfunc is not None
    assert list(_predict(model, {"inputs": {"a": [1.0, 3.0], "b": [2.0, 4.0]}})) == [3.0, 7.0]
    with pytest.raises(BadInput, match="missing inputs") as error:
        _predict(model, {"dataframe_records": [{"a": 1.0}]})
    assert error.value.status == 400
    with pytest.raises(ModelFailed) as failed:
        _predict(model, {"inputs": {"a": [-1.0], "b": [2.0]}})
    assert "negative input" not in failed.value.message and "negative input" in failed.value.detail


def test_a_float_sent_to_a_long_column_is_refused_like_pyfunc_does(tmp_path):
    """Before: the fast path cast every value to float64, so 1.5 for a `long` column was answered."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"rooms": np.arange(8, dtype=np.int64), "area": np.linspace(20.0, 90.0, 8)})
    estimator = LinearRegression().fit(frame, frame.rooms * 2 + frame.area)
    example = frame.head(3)
    mlflow.sklearn.save_model(
        estimator, tmp_path / "m", signature=infer_signature(example), input_example=example
    )
    model = build_model("rooms", "1", str(tmp_path / "m"), time.perf_counter())
    assert model.fast_path
    good = {"dataframe_records": [{"rooms": 3, "area": 50.5}]}
    assert (
        _predict(model, good).tolist() == estimator.predict(pd.DataFrame(good["dataframe_records"])).tolist()
    )
    with pytest.raises(BadInput, match="column rooms"):
        _predict(model, {"dataframe_records": [{"rooms": 1.5, "area": 50.5}]})
    with pytest.raises(BadInput, match="column area"):
        _predict(model, {"dataframe_records": [{"rooms": 3, "area": 50}]})  # an all-integer double column


def test_a_pipeline_selecting_columns_by_name_loads_and_predicts_through_pyfunc(tmp_path):
    """Before: its warm-up on a numpy matrix failed, so the gateway refused to load it (503)."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    frame = pd.DataFrame({"a": np.linspace(0, 1, 20), "b": np.linspace(5, 2, 20)})
    target = (frame.a > 0.5).astype(int)
    pipeline = Pipeline(
        [("cols", ColumnTransformer([("s", StandardScaler(), ["b", "a"])])), ("m", LogisticRegression())]
    ).fit(frame, target)
    example = frame.head(4)
    mlflow.sklearn.save_model(
        pipeline, tmp_path / "p", signature=infer_signature(example), input_example=example
    )
    model = build_model("pipe", "1", str(tmp_path / "p"), time.perf_counter())
    body = {"dataframe_split": {"columns": ["b", "a"], "data": [[4.0, 0.9], [2.5, 0.1]]}}
    expected = pipeline.predict(pd.DataFrame({"a": [0.9, 0.1], "b": [4.0, 2.5]}))
    assert _predict(model, body).tolist() == expected.tolist()
    assert not model.fast_path and "matrix" in model.fast_reason
