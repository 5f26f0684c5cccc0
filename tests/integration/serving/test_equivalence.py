"""The gateway answers exactly what `mlflow.pyfunc` answers, through every protocol, for real models.

For each corpus model (logistic regression, random forest, histogram gradient boosting, ridge
regression, the class probabilities of a logistic regression, a Pipeline with a ColumnTransformer by
column names, integer columns, the text and the digits examples) hypothesis draws rows and breaks them
the ways clients do (a missing column, a string, a null, a boolean, a float in a `long` column, a
`double` column sent as integers, an extra column).
The reference is pyfunc on the input the body denotes, parsed by MLflow's own parser without the schema.
The gateway must agree on the outcome (answer, 4xx rejection naming the column, 5xx model failure) and
on every value: floats compare with `==` after a JSON round trip, i.e. bit for bit.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.serving.corpus import CITIES, TOPIC_WORDS, Column, Entry

settings.register_profile(
    "equivalence",
    max_examples=15,
    derandomize=True,  # the same examples on every run and machine
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
EQUIVALENCE = settings.get_profile("equivalence")
MUTATIONS = (
    "none",
    "none",
    "none",
    "drop",
    "string",
    "null",
    "bool",
    "float_in_long",
    "int_in_double",
    "extra",
)
FORMATS = ("dataframe_split", "dataframe_records", "inputs", "instances", "csv")
V2_TYPES = {"double": ("FP64", np.float64), "long": ("INT64", np.int64)}

# The first test here may set up the session's corpus: ten models and ten gateways on a busy machine.
pytestmark = pytest.mark.timeout(1800)


@dataclass
class Outcome:
    """ok (with the JSON-decoded predictions), rejected (4xx) or failed (5xx)."""

    kind: str
    value: Any = None


def _value(column: Column) -> st.SearchStrategy[Any]:
    if column.kind == "double":
        number = st.one_of(
            st.floats(column.lo, column.hi, allow_nan=False, allow_infinity=False),
            st.integers(int(column.lo), int(column.hi)).map(float),
        )
        # an integral double may travel as a JSON integer, as many clients send it
        return st.tuples(number, st.booleans()).map(
            lambda p: int(p[0]) if p[1] and p[0].is_integer() else p[0]
        )
    if column.kind == "long":
        return st.integers(int(column.lo), int(column.hi))
    if column.kind == "category":
        return st.sampled_from((*CITIES, "paris"))
    return st.lists(st.sampled_from(TOPIC_WORDS), min_size=1, max_size=6).map(" ".join)


@st.composite
def requests(draw: st.DrawFn, entry: Entry) -> tuple[list[dict[str, Any]], list[str], str]:
    """(rows, column order, mutation) for one request."""
    n = draw(st.integers(1, 6))
    rows = [{c.name: draw(_value(c)) for c in entry.columns} for _ in range(n)]
    mutation = draw(st.sampled_from(MUTATIONS))
    names = [c.name for c in entry.columns]
    target = draw(st.sampled_from(entry.columns))
    row = draw(st.integers(0, n - 1))
    if mutation == "drop" and len(names) > 1:
        for r in rows:
            del r[target.name]
        names.remove(target.name)
    elif mutation in ("string", "null", "bool"):
        rows[row][target.name] = {"string": "x", "null": None, "bool": True}[mutation]
    elif mutation == "float_in_long":
        longs = [c for c in entry.columns if c.kind == "long"]
        if longs:
            rows[row][longs[0].name] = float(rows[row][longs[0].name]) + 0.5
    elif mutation == "int_in_double":
        doubles = [c for c in entry.columns if c.kind == "double"]
        if doubles:
            for r in rows:
                r[doubles[0].name] = int(r[doubles[0].name])
    elif mutation == "extra":
        for r in rows:
            r["zz_extra"] = 1.5
        names.append("zz_extra")
    return rows, draw(st.permutations(names)), mutation


def _body(fmt: str, rows: list[dict[str, Any]], order: list[str]) -> tuple[bytes, str]:
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(order)
        writer.writerows([["" if r[c] is None else r[c] for c in order] for r in rows])
        return out.getvalue().encode(), "text/csv"
    payload: Any
    if fmt == "dataframe_split":
        payload = {"columns": order, "data": [[r[c] for c in order] for r in rows]}
    elif fmt == "inputs":
        payload = {c: [r[c] for r in rows] for c in order}
    else:
        payload = [{c: r[c] for c in order} for r in rows]
    return json.dumps({fmt: payload}).encode(), "application/json"


def _jsonable(predictions: Any) -> Any:
    from mlflow.utils.proto_json_utils import NumpyEncoder, _get_jsonable_obj

    return json.loads(json.dumps(_get_jsonable_obj(predictions, pandas_orient="records"), cls=NumpyEncoder))


def _run(pyfunc: Any, build: Any) -> Outcome:
    from mlflow.exceptions import MlflowException

    try:
        data = build()
    except Exception as error:  # MLflow's or pandas' parser refused the body
        return Outcome("rejected", str(error))
    try:
        return Outcome("ok", pyfunc.predict(data))
    except MlflowException as error:
        return Outcome("rejected", str(error))
    except Exception as error:
        return Outcome("failed", repr(error))


def reference(pyfunc: Any, body: bytes, content_type: str) -> Outcome:
    """pyfunc on what the body denotes (MLflow's parser, no schema casting)."""
    from mlflow.pyfunc.scoring_server import infer_and_parse_data

    def build() -> Any:
        if content_type == "text/csv":
            return pd.read_csv(io.BytesIO(body))
        parsed = json.loads(body)
        return infer_and_parse_data(parsed, None)

    outcome = _run(pyfunc, build)
    if outcome.kind == "ok":
        outcome.value = _jsonable(outcome.value)
    return outcome


def observed(response: Any, v2: bool = False) -> Outcome:
    """The gateway's outcome."""
    if response.status_code == 200:
        body = response.json()
        return Outcome("ok", body["outputs"] if v2 else body["predictions"])
    if 400 <= response.status_code < 500:
        return Outcome("rejected", response.json()["error" if v2 else "message"])
    assert response.status_code == 500, response.text
    return Outcome("failed", response.text)


def assert_same(expected: Outcome, got: Outcome, entry: Entry, what: str) -> None:
    assert got.kind == expected.kind, f"{what}: pyfunc {expected.kind} ({expected.value}), gateway {got}"
    if expected.kind == "ok":
        assert got.value == expected.value, f"{what}: values differ"
    if expected.kind == "rejected":
        names = [c.name for c in entry.columns] + ["zz_extra"]
        assert any(name in got.value for name in names), f"{what}: rejection names no column: {got.value}"


def _v2_tensors(entry: Entry, rows: list[dict[str, Any]], order: list[str]) -> list[dict[str, Any]] | None:
    kinds = {c.name: c.kind for c in entry.columns}
    tensors = []
    for name in order:
        values = [r[name] for r in rows]
        kind = kinds.get(name, "double")
        if any(v is None or isinstance(v, bool) for v in values):
            return None  # a typed tensor cannot carry a null or a boolean in a number column
        if kind in V2_TYPES:
            datatype, dtype = V2_TYPES[kind]
            if any(isinstance(v, str) for v in values) or (
                kind == "long" and any(isinstance(v, float) for v in values)
            ):
                return None
            tensors.append(
                {
                    "name": name,
                    "datatype": datatype,
                    "shape": [len(values)],
                    "data": [dtype(v).item() for v in values],
                }
            )
        else:
            if not all(isinstance(v, str) for v in values):
                return None
            tensors.append({"name": name, "datatype": "BYTES", "shape": [len(values)], "data": values})
    return tensors


def _v2_reference(pyfunc: Any, tensors: list[dict[str, Any]]) -> Outcome:
    dtypes = {"FP64": np.float64, "INT64": np.int64, "BYTES": object}
    outcome = _run(
        pyfunc,
        lambda: pd.DataFrame({t["name"]: np.array(t["data"], dtype=dtypes[t["datatype"]]) for t in tensors}),
    )
    if outcome.kind == "ok":
        array = np.asarray(outcome.value)
        outcome.value = {"shape": list(array.shape), "data": _jsonable(array.ravel())}
    return outcome


@pytest.fixture(scope="module")
def references(corpus: list[Entry], mlflow_stack: Any) -> dict[str, Any]:
    """pyfunc models loaded in this process from the same registry versions."""
    import mlflow.pyfunc

    mlflow.set_tracking_uri(mlflow_stack.tracking_uri)
    return {
        e.name: mlflow.pyfunc.load_model(f"models:/{e.name}/{e.version}") for e in corpus if not e.refused
    }


SERVED = ("logreg", "forest", "hgb", "ridge", "proba", "pipeline", "integers", "text", "digits")


@pytest.mark.parametrize("short", SERVED)
def test_every_protocol_answers_what_pyfunc_answers(short, corpus, corpus_gateways, references):
    entry = next(e for e in corpus if e.name == f"eq-{short}")
    gateway = corpus_gateways[entry.name]
    pyfunc = references[entry.name]
    status = gateway.status(entry.name)["variants"][0]
    assert status["fast_path"] is entry.fast_path, status["fast_path_off_because"]

    @EQUIVALENCE
    @given(request=requests(entry))
    def check(request: tuple[list[dict[str, Any]], list[str], str]) -> None:
        rows, order, mutation = request
        for fmt in FORMATS:
            body, content_type = _body(fmt, rows, order)
            expected = reference(pyfunc, body, content_type)
            headers = {"Content-Type": content_type}
            for path, key in (
                (f"/v1/models/{entry.name}/predict", "predictions"),
                ("/invocations", "predictions"),
            ):
                answer = gateway.client.post(path, content=body, headers=headers)
                assert_same(expected, observed(answer), entry, f"{mutation} {fmt} {path}")
                assert key in answer.json() or answer.status_code != 200
        tensors = _v2_tensors(entry, rows, order)
        if tensors is not None:
            expected = _v2_reference(pyfunc, tensors)
            answer = gateway.client.post(f"/v2/models/{entry.name}/infer", json={"inputs": tensors})
            got = observed(answer, v2=True)
            if got.kind == "ok":
                got.value = {"shape": got.value[0]["shape"], "data": got.value[0]["data"]}
            assert_same(expected, got, entry, f"{mutation} v2")

    check()


def test_one_tensor_of_all_columns_answers_what_pyfunc_answers(corpus, corpus_gateways, references):
    """The [rows, columns] v2 form, mapped onto the signature's columns in order."""
    for short in ("logreg", "ridge", "proba", "digits", "integers"):
        entry = next(e for e in corpus if e.name == f"eq-{short}")
        rng = np.random.default_rng(11)
        width = len(entry.columns)
        integer = entry.columns[0].kind == "long"
        values = rng.integers(0, 50, (7, width)) if integer else rng.uniform(0, 10, (7, width))
        tensor = {
            "name": "x",
            "datatype": "INT64" if integer else "FP64",
            "shape": [7, width],
            "data": values.ravel().tolist(),
        }
        frame = pd.DataFrame(values, columns=[c.name for c in entry.columns])
        expected = _jsonable(np.asarray(references[entry.name].predict(frame)).ravel())
        answer = corpus_gateways[entry.name].client.post(
            f"/v2/models/{entry.name}/infer", json={"inputs": [tensor]}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["data"] == expected


def test_a_model_pyfunc_cannot_run_is_refused_at_load(corpus, corpus_gateways, mlflow_stack):
    """Fitted on [a, b], signature [b, a]: the old fast path answered 29 instead of -7 with a 200."""
    import mlflow.pyfunc

    entry = next(e for e in corpus if e.refused)
    gateway = corpus_gateways[entry.name]
    mlflow.set_tracking_uri(mlflow_stack.tracking_uri)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{entry.name}/{entry.version}")
    with pytest.raises(ValueError, match="same order"):
        pyfunc.predict(pd.DataFrame({"a": [2.0], "b": [1.0]}))
    answer = gateway.client.post(
        f"/v1/models/{entry.name}/predict", json={"dataframe_records": [{"a": 2.0, "b": 1.0}]}
    )
    assert answer.status_code == 503, answer.text
    ready = gateway.client.get("/readyz").json()
    assert "['b', 'a']" in ready["missing"][0] and "['a', 'b']" in ready["missing"][0]
