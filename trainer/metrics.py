"""Held-out metrics per task, and which one decides quality."""

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, r2_score

from trainer.config import Task


@dataclass(frozen=True)
class PrimaryMetric:
    """The metric quality gates compare, and its direction."""

    name: str
    higher_is_better: bool


def primary_metric(task: Task) -> PrimaryMetric:
    """Accuracy for classifiers, R² for regressors."""
    if task is Task.TABULAR_REGRESSION:
        return PrimaryMetric("r2", True)
    return PrimaryMetric("accuracy", True)


def evaluate(task: Task, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """All metrics of the task on the held-out split."""
    if task is Task.TABULAR_REGRESSION:
        return {
            "r2": float(r2_score(y_true, y_pred)),
            "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
            "mae": float(mean_absolute_error(y_true, y_pred)),
        }
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, average="macro")),
    }
