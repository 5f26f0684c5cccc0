"""A corpus of real user models logged with MLflow, and the inputs a client may send them.

Each entry knows its columns (name, kind, value range) so the equivalence suite can draw valid rows and
break them the ways clients do. `log_corpus` trains and registers every scikit-learn entry in the
session's MLflow; the text and digits examples come from the trainer CLI (see conftest).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

CITIES = ("berlin", "lisbon", "oslo", "rome")
# Tree storage types skops does not trust by default; these files are written by this test only.
TRUSTED = ["sklearn.tree._tree.Tree", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
TOPIC_WORDS = ("match", "goal", "cloud", "server", "recipe", "bread", "flight", "hotel", "the", "new")


@dataclass(frozen=True)
class Column:
    """One input column: kind is double, long, category or text; lo/hi bound the numbers."""

    name: str
    kind: str
    lo: float = 0.0
    hi: float = 10.0


@dataclass
class Entry:
    """One corpus model: its registered name, columns and whether the gateway must refuse it."""

    name: str
    columns: tuple[Column, ...]
    fast_path: bool
    refused: bool = False
    version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _iris() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    return load_iris(as_frame=True).frame


def _numeric_columns(frame: pd.DataFrame) -> tuple[Column, ...]:
    return tuple(
        Column(str(c), "double", float(frame[c].min()), float(frame[c].max())) for c in frame.columns
    )


def _tabular(kind: str) -> tuple[Any, pd.DataFrame, Any]:
    from sklearn import datasets
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression, Ridge

    if kind == "logreg":
        frame = _iris()
        x, y = frame.drop(columns="target"), frame["target"]
        return LogisticRegression(max_iter=500), x, y
    if kind == "forest":
        frame = _iris()
        x, y = frame.drop(columns="target"), frame["target"]
        return RandomForestClassifier(n_estimators=25, random_state=0), x, y
    if kind == "hgb":
        bunch = datasets.load_wine(as_frame=True)
        return HistGradientBoostingClassifier(max_iter=30, random_state=0), bunch.data, bunch.target
    bunch = datasets.load_diabetes(as_frame=True)
    return Ridge(alpha=0.5), bunch.data, bunch.target


def _pipeline() -> tuple[Any, pd.DataFrame, Any]:
    """ColumnTransformer by column names: one-hot city (string), scaled area (double) and age (long)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(3)
    n = 240
    frame = pd.DataFrame(
        {
            "city": rng.choice(CITIES, n),
            "area": rng.uniform(20, 200, n).round(1),
            "age": rng.integers(0, 100, n).astype(np.int64),
        }
    )
    target = ((frame.area / 40 + (frame.city == "oslo") * 2 - frame.age / 50) > 2).astype(int)
    features = ColumnTransformer(
        [
            ("city", OneHotEncoder(handle_unknown="ignore"), ["city"]),
            ("numbers", StandardScaler(), ["area", "age"]),
        ]
    )
    return Pipeline([("features", features), ("model", LogisticRegression(max_iter=500))]), frame, target


def _integers() -> tuple[Any, pd.DataFrame, Any]:
    """Every column `long`: pandas hands the estimator an int64 matrix."""
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {name: rng.integers(0, 50, 200).astype(np.int64) for name in ("rooms", "floor", "year_built")}
    )
    return Ridge(alpha=1.0), frame, frame.rooms * 3.5 - frame.floor + frame.year_built / 7


def _log(
    name: str, estimator: Any, x: pd.DataFrame, y: Any, signature: Any = None, predict_fn: str = "predict"
) -> str:
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    estimator.fit(x, y)
    example = x.head(5)
    output = getattr(estimator, predict_fn)(example)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            estimator,
            name="model",
            signature=signature or infer_signature(example, output),
            pyfunc_predict_fn=predict_fn,
            input_example=example,
            registered_model_name=name,
            skops_trusted_types=TRUSTED,
            pip_requirements=["scikit-learn"],  # skips inferring them in a subprocess per model
        )
    return str(info.registered_model_version)


def _order_mismatch(name: str) -> str:
    """Fitted on [a, b], signature lists [b, a]: pyfunc refuses every input of this model."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from sklearn.linear_model import LinearRegression

    x = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0, 1.0]})
    signature = ModelSignature(Schema([ColSpec("double", "b"), ColSpec("double", "a")]))
    return _log(name, LinearRegression(), x, 3 * x.a - 10 * x.b + 1, signature)


def log_corpus(tracking_uri: str, prefix: str) -> list[Entry]:
    """Train, log and register the scikit-learn entries; returns them with their versions."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(f"{prefix}corpus")
    entries: list[Entry] = []
    builders: dict[str, Callable[[], tuple[Any, pd.DataFrame, Any]]] = {
        "logreg": lambda: _tabular("logreg"),
        "forest": lambda: _tabular("forest"),
        "hgb": lambda: _tabular("hgb"),
        "ridge": lambda: _tabular("ridge"),
    }
    for kind, build in builders.items():
        estimator, x, y = build()
        name = f"{prefix}{kind}"
        entries.append(Entry(name, _numeric_columns(x), True, version=_log(name, estimator, x, y)))
    # probabilities: floats from a matrix product (BLAS), the strictest test of bit-for-bit answers
    estimator, x, y = _tabular("hgb")
    from sklearn.linear_model import LogisticRegression

    name = f"{prefix}proba"
    version = _log(name, LogisticRegression(max_iter=2000), x, y, predict_fn="predict_proba")
    entries.append(Entry(name, _numeric_columns(x), True, version=version))
    estimator, x, y = _pipeline()
    columns = (Column("city", "category"), Column("area", "double", 20, 200), Column("age", "long", 0, 99))
    name = f"{prefix}pipeline"
    entries.append(Entry(name, columns, False, version=_log(name, estimator, x, y)))
    estimator, x, y = _integers()
    columns = tuple(Column(c, "long", 0, 60) for c in x.columns)
    name = f"{prefix}integers"
    entries.append(Entry(name, columns, True, version=_log(name, estimator, x, y)))
    name = f"{prefix}order"
    columns = (Column("b", "double", 0, 1), Column("a", "double", 0, 3))
    entries.append(Entry(name, columns, False, refused=True, version=_order_mismatch(name)))
    return entries


def text_entry(name: str, version: str) -> Entry:
    """The trainer's text example (TF-IDF + logistic regression on the `text` column)."""
    return Entry(name, (Column("text", "text"),), False, version=version)


def digits_entry(name: str, version: str) -> Entry:
    """The trainer's image example: 8x8 digits as 64 pixel columns (scaler + MLP)."""
    columns = tuple(Column(f"pixel_{i}", "double", 0, 16) for i in range(64))
    return Entry(name, columns, True, version=version)
