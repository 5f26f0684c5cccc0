"""The gateway answers exactly what `mlflow.pyfunc` answers, through every protocol, for real models.

For each corpus model (logistic regression, random forest, histogram gradient boosting, ridge
regression, the class probabilities of a logistic regression, a Pipeline with a ColumnTransformer by
column names, integer columns, the text and the digits examples) hypothesis draws rows and breaks them
the ways clients do (a missing column, a string, a null, a boolean, a float in a `long` column, a
`double` column sent as integers, an integer beyond 2**53 in a `double` column, an extra column).
The reference is pyfunc on the input the body denotes, parsed by MLflow's own parser without the schema,
with the gateway's two documented rules restated here: integer columns typed `double` by the signature
are float64 (an integer beyond 2**53 there is a rejection naming the column), and a model raising on an
input with nulls is a rejection naming the column. The gateway must agree on the outcome (answer, 4xx
rejection naming the column, 5xx model failure) and on every value: floats compare with `==` after a
JSON round trip, i.e. bit for bit. `/invocations` is checked on each corpus gateway's default model
(`corpus.GATEWAYS`: one on the fast path, one through pyfunc); v1 predict and v2 infer on every model.
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

from tests.integration.serving.corpus import CITIES, DEFAULTS, TOPIC_WORDS, Column, Entry

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
    "big_int_in_double",
    "extra",
)
EXACT = 2**53  # the largest magnitude up to which every integer is a float64
FORMATS = ("dataframe_split", "dataframe_records", "inputs", "instances", "csv")
V2_TYPES = {"double": ("FP64", np.float64), "long": ("INT64", np.int64)}

# The first test here may set up the session's corpus: nine models and two gateways on a busy machine.
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


Request = tuple[list[dict[str, Any]], list[str], str, bool]


def _doubles(entry: Entry) -> set[str]:
    return {c.name for c in entry.columns if c.kind == "double"}


@st.composite
def requests(
    draw: st.DrawFn, entry: Entry, value: Any = _value, mutations: tuple[str, ...] = MUTATIONS
) -> Request:
    """(rows, column order, mutation, integer double columns as INT64 tensors) for one request."""
    n = draw(st.integers(1, 6))
    rows = [{c.name: draw(value(c)) for c in entry.columns} for _ in range(n)]
    mutation = draw(st.sampled_from(mutations))
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
    elif mutation == "big_int_in_double":
        doubles = [c for c in entry.columns if c.kind == "double"]
        if doubles:  # 2**53 itself is exact: taken; one more is not: refused
            rows[row][doubles[0].name] = draw(st.sampled_from((1, -1))) * (EXACT + draw(st.integers(0, 3)))
    elif mutation == "extra":
        for r in rows:
            r["zz_extra"] = 1.5
        names.append("zz_extra")
    return rows, draw(st.permutations(names)), mutation, draw(st.booleans())


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


def _beyond_float64(rows: list[dict[str, Any]], entry: Entry) -> str | None:
    """The first `double` column holding an integer float64 cannot hold exactly (a JSON body's rule)."""
    doubles = _doubles(entry)
    for row in rows:
        for name, value in row.items():
            if name in doubles and type(value) is int and abs(value) > EXACT:
                return name
    return None


def _as_float64(data: Any, entry: Entry) -> Any:
    """pyfunc's input with its integer `double` columns as float64 (else the column that cannot be)."""
    doubles = _doubles(entry)
    items = data.items() if isinstance(data, (dict, pd.DataFrame)) else []
    widened = {}
    for name, values in items:
        array = np.asarray(values)
        if name in doubles and array.dtype.kind in "iu":
            if np.any(np.abs(array.astype(object)) > EXACT):
                raise ValueError(f"refused: {name}")
            widened[name] = array.astype(np.float64)
    if isinstance(data, pd.DataFrame):
        return data.assign(**widened)
    return {**data, **widened} if isinstance(data, dict) else data


def _nulls(data: Any) -> bool:
    """No rows, or a null in a column: the gateway answers 400 where the model raises on it."""
    if isinstance(data, pd.DataFrame):
        return len(data) == 0 or bool(data.isna().any().any())
    if isinstance(data, dict):
        return any(bool(pd.isna(np.asarray(v, dtype=object)).any()) for v in data.values())
    return False


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
        return Outcome("rejected" if _nulls(data) else "failed", repr(error))


def reference(
    pyfunc: Any, body: bytes, content_type: str, entry: Entry, rows: list[dict[str, Any]]
) -> Outcome:
    """pyfunc on what the body denotes (MLflow's parser, no schema casting), integer doubles as float64."""
    from mlflow.pyfunc.scoring_server import infer_and_parse_data

    if content_type != "text/csv" and (column := _beyond_float64(rows, entry)):
        return Outcome("rejected", column)

    def build() -> Any:
        if content_type == "text/csv":
            return _as_float64(pd.read_csv(io.BytesIO(body)), entry)
        return _as_float64(infer_and_parse_data(json.loads(body), None), entry)

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


def _v2_tensors(
    entry: Entry, rows: list[dict[str, Any]], order: list[str], int64: bool
) -> list[dict[str, Any]] | None:
    """One tensor per column as a client sends it: the values as drawn (integers stay JSON integers),
    `double` columns of integers as INT64 when `int64`; None where no typed tensor can carry them."""
    kinds = {c.name: c.kind for c in entry.columns}
    tensors = []
    for name in order:
        values = [r[name] for r in rows]
        kind = kinds.get(name, "double")
        if any(v is None or isinstance(v, bool) for v in values):
            return None  # a typed tensor cannot carry a null or a boolean in a number column
        if kind in ("double", "long"):
            if any(isinstance(v, str) for v in values) or (
                kind == "long" and any(isinstance(v, float) for v in values)
            ):
                return None
            integers = all(type(v) is int for v in values)
            datatype = "INT64" if kind == "long" or (int64 and integers) else "FP64"
            if datatype == "INT64" and any(abs(v) >= 2**63 for v in values):
                return None
            tensors.append({"name": name, "datatype": datatype, "shape": [len(values)], "data": values})
        else:
            if not all(isinstance(v, str) for v in values):
                return None
            tensors.append({"name": name, "datatype": "BYTES", "shape": [len(values)], "data": values})
    return tensors


def _v2_reference(
    pyfunc: Any, tensors: list[dict[str, Any]], entry: Entry, rows: list[dict[str, Any]]
) -> Outcome:
    if column := _beyond_float64(rows, entry):
        return Outcome("rejected", column)
    dtypes = {"FP64": np.float64, "INT64": np.int64, "BYTES": object}
    outcome = _run(
        pyfunc,
        lambda: _as_float64(
            pd.DataFrame({t["name"]: np.array(t["data"], dtype=dtypes[t["datatype"]]) for t in tensors}),
            entry,
        ),
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
    return {e.name: mlflow.pyfunc.load_model(f"models:/{e.name}/{e.version}") for e in corpus}


SERVED = ("logreg", "forest", "hgb", "ridge", "proba", "pipeline", "integers", "text", "digits")


def check_every_protocol(entry: Entry, gateway: Any, pyfunc: Any, request: Request) -> None:
    """One drawn request through v1, `/invocations` (default models) in every format, and v2."""
    rows, order, mutation, int64 = request
    paths = [f"/v1/models/{entry.name}/predict"] + (["/invocations"] if entry.name in DEFAULTS else [])
    for fmt in FORMATS:
        body, content_type = _body(fmt, rows, order)
        expected = reference(pyfunc, body, content_type, entry, rows)
        for path in paths:
            answer = gateway.client.post(path, content=body, headers={"Content-Type": content_type})
            assert_same(expected, observed(answer), entry, f"{mutation} {fmt} {path}")
            assert "predictions" in answer.json() or answer.status_code != 200
    tensors = _v2_tensors(entry, rows, order, int64)
    if tensors is not None:
        expected = _v2_reference(pyfunc, tensors, entry, rows)
        answer = gateway.client.post(f"/v2/models/{entry.name}/infer", json={"inputs": tensors})
        got = observed(answer, v2=True)
        if got.kind == "ok":
            got.value = {"shape": got.value[0]["shape"], "data": got.value[0]["data"]}
        assert_same(expected, got, entry, f"{mutation} v2 {[t['datatype'] for t in tensors]}")


@pytest.mark.parametrize("short", SERVED)
def test_every_protocol_answers_what_pyfunc_answers(short, corpus, corpus_gateways, references):
    entry = next(e for e in corpus if e.name == f"eq-{short}")
    gateway = corpus_gateways[entry.name]
    status = gateway.status(entry.name)["variants"][0]
    assert status["fast_path"] is entry.fast_path, status["fast_path_off_because"]

    @EQUIVALENCE
    @given(request=requests(entry))
    def check(request: Request) -> None:
        check_every_protocol(entry, gateway, references[entry.name], request)

    check()


def _integral(column: Column) -> st.SearchStrategy[Any]:
    """Integer-valued doubles as a JavaScript client sends them (JSON integers), up to 2**53."""
    if column.kind == "double":
        return st.one_of(st.integers(int(column.lo), int(column.hi)), st.sampled_from((EXACT, -EXACT, 0)))
    return _value(column)


@pytest.mark.parametrize("short", [s for s in SERVED if s not in ("integers", "text")])
def test_integer_valued_doubles_answer_what_pyfunc_answers_on_float64(
    short, corpus, corpus_gateways, references
):
    """Before: refused (pyfunc refuses an int64 column typed `double`), though `JSON.stringify(5.0)` is
    "5" and `mlflow models serve` takes it. Every `double` column as JSON integers (INT64 tensors too)."""
    entry = next(e for e in corpus if e.name == f"eq-{short}")

    @EQUIVALENCE
    @given(request=requests(entry, value=_integral, mutations=("none", "big_int_in_double")))
    def check(request: Request) -> None:
        check_every_protocol(entry, corpus_gateways[entry.name], references[entry.name], request)

    check()


def test_one_tensor_of_all_columns_answers_what_pyfunc_answers(corpus, corpus_gateways, references):
    """The [rows, columns] v2 form, mapped onto the signature's columns in order; an INT64 tensor for
    `double` columns answers what pyfunc answers for the same numbers as float64."""
    cases = [
        ("logreg", "FP64"),
        ("ridge", "FP64"),
        ("proba", "FP64"),
        ("digits", "FP64"),
        ("integers", "INT64"),
    ]
    cases += [("logreg", "INT64"), ("digits", "INT64")]
    for short, datatype in cases:
        entry = next(e for e in corpus if e.name == f"eq-{short}")
        rng = np.random.default_rng(11)
        width = len(entry.columns)
        values = rng.integers(0, 16, (7, width)) if datatype == "INT64" else rng.uniform(0, 10, (7, width))
        tensor = {"name": "x", "datatype": datatype, "shape": [7, width], "data": values.ravel().tolist()}
        frame = pd.DataFrame(values, columns=[c.name for c in entry.columns])
        frame = frame.astype({c.name: np.float64 for c in entry.columns if c.kind == "double"})
        expected = _jsonable(np.asarray(references[entry.name].predict(frame)).ravel())
        answer = corpus_gateways[entry.name].client.post(
            f"/v2/models/{entry.name}/infer", json={"inputs": [tensor]}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["data"] == expected, f"{short} {datatype}"
