"""Build the scikit-learn estimator for a config, checking hyper-parameters against it."""

from typing import Any

from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from trainer.config import TrainConfig
from trainer.errors import ConfigError

# Keys of text models' hyper-parameters that configure the vectorizer rather than the classifier.
VECTORIZER_KEYS = {"max_features": "max_features", "min_df": "min_df", "ngram_max": "ngram_range"}

ESTIMATORS: dict[str, type[BaseEstimator]] = {
    "logistic_regression": LogisticRegression,
    "ridge": Ridge,
    "tfidf_logistic_regression": LogisticRegression,
    "mlp": MLPClassifier,
}
FORESTS = {"tabular_classification": RandomForestClassifier, "tabular_regression": RandomForestRegressor}
# Types skops (MLflow's sklearn serialization) does not trust by default; reviewed: plain optimizers.
SKOPS_TRUSTED_TYPES: dict[str, list[str]] = {
    "mlp": [
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    ],
}
SKOPS_TRUSTED_TYPES["cnn"] = SKOPS_TRUSTED_TYPES["mlp"]
# Tree node storage: the trainer writes these files itself and only our registry serves them.
SKOPS_TRUSTED_TYPES["random_forest"] = ["sklearn.tree._tree.Tree"]
# Keys of a config's hyperparameters that configure something beside the checked estimator.
EXTRA_KEYS: dict[str, set[str]] = {
    "tfidf_logistic_regression": set(VECTORIZER_KEYS),
    "mlp": {"epochs"},
    "cnn": {"epochs"},
}
UNKNOWN_HYPERPARAMETER = "hyperparameters.{name}: not a parameter of {estimator}"
DEFAULTS: dict[str, dict[str, Any]] = {
    "logistic_regression": {"max_iter": 500},
    "tfidf_logistic_regression": {"max_iter": 500},
    "mlp": {"hidden_layer_sizes": (64,), "max_iter": 300},
}


def _checked(estimator_cls: type[BaseEstimator], params: dict[str, Any], seed: int) -> BaseEstimator:
    valid = estimator_cls().get_params()
    for key in params:
        if key not in valid:
            message = UNKNOWN_HYPERPARAMETER.format(name=key, estimator=estimator_cls.__name__)
            raise ConfigError(f"invalid config: {message}")
    if "random_state" in valid:
        params = {"random_state": seed, **params}
    try:
        estimator = estimator_cls(**params)
        # scikit-learn checks parameter types and ranges only at fit; check them now, before any run.
        estimator._validate_params()
    except (TypeError, ValueError) as error:
        raise ConfigError(f"invalid config: hyperparameters: {error}") from None
    return estimator


def checked_class(task: str, algorithm: str) -> type[BaseEstimator]:
    """The estimator whose parameters a config's hyperparameters are checked against."""
    if algorithm == "random_forest":
        return FORESTS[task]
    if algorithm in ("mlp", "cnn"):
        return MLPClassifier
    return ESTIMATORS[algorithm]


def hyperparameter_names(task: str, algorithm: str) -> tuple[str, list[str]]:
    """The checked estimator's name and every hyperparameter name `build_estimator` accepts for it."""
    estimator = checked_class(task, algorithm)
    return estimator.__name__, sorted(set(estimator().get_params()) | EXTRA_KEYS.get(algorithm, set()))


def _largest_ngram(value: object) -> int:
    """`ngram_max` of a config: the largest n-gram (the vectorizer's `ngram_range` starts at 1)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"invalid config: hyperparameters: ngram_max must be a positive integer (the largest n-gram), "
            f"got {value!r}"
        )
    return value


def build_estimator(config: TrainConfig, algorithm: str | None = None) -> BaseEstimator:
    """The estimator (or pipeline) for the config's algorithm with its hyper-parameters."""
    name = algorithm or config.algorithm
    params = {**DEFAULTS.get(name, {}), **config.hyperparameters}
    if name == "random_forest":
        return _checked(checked_class(config.task.value, name), params, config.seed)
    if name == "tfidf_logistic_regression":
        vectorizer_params = {VECTORIZER_KEYS[k]: params.pop(k) for k in list(params) if k in VECTORIZER_KEYS}
        if "ngram_range" in vectorizer_params:
            vectorizer_params["ngram_range"] = (1, _largest_ngram(vectorizer_params["ngram_range"]))
        classifier = _checked(LogisticRegression, params, config.seed)
        # A single column name (not a list) hands the vectorizer the 1-D text column it expects.
        try:
            vectorizer = TfidfVectorizer(**vectorizer_params)
            vectorizer._validate_params()
        except (TypeError, ValueError) as error:
            raise ConfigError(f"invalid config: hyperparameters: {error}") from None
        features = ColumnTransformer([("tfidf", vectorizer, "text")])
        return Pipeline([("features", features), ("classifier", classifier)])
    if name in ("mlp", "cnn"):
        params.pop("epochs", None)
        if config.algorithm == "cnn" and "learning_rate" in params:
            # The CNN's learning rate is the MLP's initial one when it falls back to the MLP.
            params["learning_rate_init"] = params.pop("learning_rate")
        return Pipeline(
            [("scale", StandardScaler()), ("classifier", _checked(MLPClassifier, params, config.seed))]
        )
    return _checked(ESTIMATORS[name], params, config.seed)
