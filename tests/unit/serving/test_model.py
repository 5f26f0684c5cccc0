"""Loading MLflow models from disk: the proven fast path, pyfunc otherwise, schema errors as 400."""

from __future__ import annotations

import json
import time

import numpy as np
import orjson
import pandas as pd
import pytest
from mlflow.pyfunc import PythonModel

from serving import oip, scoring
from serving.errors import BadInput, ModelFailed
from serving.exactness import LoadRefused
from serving.model import build_model

COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
ROW = [5.1, 3.5, 1.4, 0.2]
REQUIREMENTS = ["scikit-learn"]  # skips inferring them in a subprocess per saved model


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
        estimator,
        path,
        signature=infer_signature(example, estimator.predict(example)),
        input_example=example,
        pip_requirements=REQUIREMENTS,
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
    for value in ("5.1", True):  # a string number, a boolean: pyfunc refuses both, no casting here
        with pytest.raises(BadInput, match="column sepal length"):
            _predict(model, {"dataframe_records": [dict(zip(COLUMNS, [value, 3.5, 1.4, 0.2], strict=True))]})


def test_a_signature_in_another_order_than_the_fit_is_refused_at_load(tmp_path):
    """Fitted on [a, b], signature [b, a]: pyfunc refuses every input; the old fast path answered 29."""
    import mlflow.sklearn
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0, 1.0]})
    estimator = LinearRegression().fit(frame, 3 * frame.a - 10 * frame.b + 1)
    signature = ModelSignature(Schema([ColSpec("double", "b"), ColSpec("double", "a")]))
    mlflow.sklearn.save_model(estimator, tmp_path / "m", signature=signature, pip_requirements=REQUIREMENTS)
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
        path,
        python_model=Picky(),
        signature=signature,
        input_example=pd.DataFrame({"a": [1.0], "b": [2.0]}),
        pip_requirements=REQUIREMENTS,
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
        estimator,
        tmp_path / "m",
        signature=infer_signature(example),
        input_example=example,
        pip_requirements=REQUIREMENTS,
    )
    model = build_model("rooms", "1", str(tmp_path / "m"), time.perf_counter())
    assert model.fast_path
    good = {"dataframe_records": [{"rooms": 3, "area": 50.5}]}
    assert (
        _predict(model, good).tolist() == estimator.predict(pd.DataFrame(good["dataframe_records"])).tolist()
    )
    with pytest.raises(BadInput, match="column rooms"):
        _predict(model, {"dataframe_records": [{"rooms": 1.5, "area": 50.5}]})
    # an all-integer `double` column is float64 to the model, as a JavaScript client must send it
    integral = {"dataframe_records": [{"rooms": 3, "area": 50}]}
    expected = estimator.predict(pd.DataFrame({"rooms": [3], "area": [50.0]}))
    assert _predict(model, integral).tolist() == expected.tolist()


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
        pipeline,
        tmp_path / "p",
        signature=infer_signature(example),
        input_example=example,
        pip_requirements=REQUIREMENTS,
    )
    model = build_model("pipe", "1", str(tmp_path / "p"), time.perf_counter())
    body = {"dataframe_split": {"columns": ["b", "a"], "data": [[4.0, 0.9], [2.5, 0.1]]}}
    expected = pipeline.predict(pd.DataFrame({"a": [0.9, 0.1], "b": [4.0, 2.5]}))
    assert _predict(model, body).tolist() == expected.tolist()
    assert not model.fast_path and "matrix" in model.fast_reason


def _pyfunc_path(model, body: dict):
    """The same request through pyfunc (params keep it off the fast path)."""
    key, value = next(iter(body.items()))
    prepared = model.prepare(scoring.ScoringRequest(key, value, params={}))
    assert not prepared.fast
    return model.predict(prepared)


def _formats(rows: list[list]) -> list[dict]:
    records = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
    return [
        {"dataframe_split": {"columns": COLUMNS, "data": rows}},
        {"dataframe_records": records},
        {"instances": records},
        {"inputs": {c: [row[i] for row in rows] for i, c in enumerate(COLUMNS)}},
    ]


def test_integers_sent_to_double_columns_answer_what_pyfunc_answers_on_float64(sklearn_model):
    """Before: 400 (pyfunc refuses an int64 column for a `double` column), although a JavaScript client
    cannot send 5.0 and `mlflow models serve` takes 5. Every format, both paths, v2 INT64 tensors."""
    model, _, _ = sklearn_model
    rows = [[5, 3, 1, 0], [7, 3, 6, 2], [-(2**53), 2**53, 0, 1]]
    expected = model.pyfunc.predict(pd.DataFrame(rows, columns=COLUMNS, dtype=np.float64)).tolist()
    for body in _formats(rows):
        assert _predict(model, body).tolist() == expected, body
        assert _pyfunc_path(model, body).tolist() == expected, body
    tensor = {"name": "x", "shape": [3, 4], "datatype": "INT64", "data": [v for row in rows for v in row]}
    request = oip.parse_infer(orjson.dumps({"inputs": [tensor]}), None)
    assert model.predict(model.prepare(request)).tolist() == expected
    columns = [
        {"name": c, "shape": [3], "datatype": "INT64", "data": [r[i] for r in rows]}
        for i, c in enumerate(COLUMNS)
    ]
    request = oip.parse_infer(orjson.dumps({"inputs": columns}), None)
    assert model.predict(model.prepare(request)).tolist() == expected


@pytest.mark.parametrize("beyond", [2**53 + 1, -(2**53) - 1, 2**63 - 1, 10**20])
def test_integers_that_float64_would_round_are_refused_naming_the_column(sklearn_model, beyond):
    model, _, _ = sklearn_model
    alone = [[beyond, 3, 1, 0]]
    beside_floats = [[beyond, 3.5, 1.4, 0.2], [1.5, 3.5, 1.4, 0.2]]  # pandas would round it silently
    for rows in (alone, beside_floats):
        for body in _formats(rows):
            for predict in (_predict, _pyfunc_path):
                with pytest.raises(BadInput, match=r"column 'sepal length \(cm\)'.*no exact float64"):
                    predict(model, body)
    tensor = {"name": "sepal length (cm)", "shape": [1], "datatype": "INT64", "data": [beyond]}
    others = [{"name": c, "shape": [1], "datatype": "FP64", "data": [1.0]} for c in COLUMNS[1:]]
    if beyond < 2**63:
        request = oip.parse_infer(orjson.dumps({"inputs": [tensor, *others]}), None)
        with pytest.raises(BadInput, match=r"column 'sepal length \(cm\)'"):
            model.prepare(request)
    tensor["datatype"] = "FP64"
    with pytest.raises(BadInput, match=r"'sepal length \(cm\)'.*no exact FP64"):
        oip.parse_infer(json.dumps({"inputs": [tensor, *others]}).encode(), None)


def test_no_rows_and_nulls_the_model_raises_on_are_the_clients_to_fix(sklearn_model):
    """Before: 500 'model failed', counted as a model error by the canary gates."""
    model, _, _ = sklearn_model
    with pytest.raises(BadInput, match="no rows"):
        _predict(model, {"dataframe_split": {"columns": COLUMNS, "data": []}})
    with pytest.raises(BadInput, match="no rows"):
        _predict(model, {"inputs": {c: [] for c in COLUMNS}})
    null = {"dataframe_split": {"columns": COLUMNS, "data": [[5.1, None, 1.4, 0.2]]}}
    with pytest.raises(BadInput, match=r"nulls .* in 'sepal width \(cm\)'$"):
        _predict(model, null)
    missing_key = {"dataframe_records": [dict(zip(COLUMNS, ROW, strict=True)), {COLUMNS[0]: 5.0}]}
    with pytest.raises(BadInput, match=r"nulls .*'petal width \(cm\)'"):
        _predict(model, missing_key)
    nan = scoring.parse(
        b'{"inputs": {"%s": [NaN]' % COLUMNS[0].encode()
        + b"".join(b', "%s": [1.0]' % c.encode() for c in COLUMNS[1:])
        + b"}}",
        None,
    )
    prepared = model.prepare(nan)
    assert prepared.fast  # NaN is a float: the fast path takes it, and the estimator raises
    with pytest.raises(BadInput, match=r"nulls .* in 'sepal length \(cm\)'$"):
        model.predict(prepared)


@pytest.mark.parametrize("literal", [b"Infinity", b"-Infinity", b"1e400"])
def test_infinities_the_model_raises_on_are_the_clients_to_fix(sklearn_model, literal):
    """Before: `1e400` or `Infinity` (both read as inf by MLflow's parser) made scikit-learn raise and the
    gateway answer 500 'model failed', counted as a model error by the canary gates: a client's typo
    could abort a rollout. Now a 400 naming the column."""
    model, _, _ = sklearn_model

    def fields(template: bytes) -> bytes:
        return b", ".join(
            b'"%s": %s' % (c.encode(), template % (literal if i == 2 else b"1.0"))
            for i, c in enumerate(COLUMNS)
        )

    bodies = (
        b'{"dataframe_records": [{%s}]}' % fields(b"%s"),
        b'{"inputs": {%s}, "params": {}}' % fields(b"[%s]"),
    )
    for body in bodies:
        prepared = model.prepare(scoring.parse(body, None))
        with pytest.raises(BadInput, match=r"infinite .* in 'petal length \(cm\)'$"):
            model.predict(prepared)


def test_duplicated_columns_are_refused_naming_the_column():
    """Before: JSON got pyfunc's "'DataFrame' object has no attribute 'dtype'" blaming every column,
    and CSV was answered from the first of the two columns (pandas renames the second `a.1`)."""
    header = ",".join(f'"{c}"' for c in [*COLUMNS, COLUMNS[1]])
    with pytest.raises(BadInput, match=r"column 'sepal width \(cm\)' appears more than once"):
        scoring.parse(f"{header}\n5.1,3.5,1.4,0.2,9.9\n".encode(), "text/csv")
    body = {"dataframe_split": {"columns": [*COLUMNS, COLUMNS[0]], "data": [[5.1, 3.5, 1.4, 0.2, 9.9]]}}
    with pytest.raises(BadInput, match=r"column 'sepal length \(cm\)' appears more than once"):
        scoring.parse(orjson.dumps(body), None)


def test_positional_rows_are_refused_by_mlflow_models_serve_too(sklearn_model):
    """`mlflow models serve` parses with the schema, then calls pyfunc: positional rows (instances or
    inputs as lists of lists, dataframe_split without columns) are refused for named columns."""
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc.scoring_server import infer_and_parse_data

    model, _, _ = sklearn_model
    schema = model.pyfunc.metadata.get_input_schema()
    for body in ({"instances": [ROW]}, {"inputs": [ROW]}, {"dataframe_split": {"data": [ROW]}}):
        with pytest.raises(MlflowException, match="missing inputs"):
            model.pyfunc.predict(infer_and_parse_data(body, schema))
        with pytest.raises(BadInput, match="missing inputs"):
            _predict(model, body)
