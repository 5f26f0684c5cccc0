"""The JSON training config: one file per training job, validated before anything runs."""

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from trainer.errors import ConfigError

Scalar = str | int | float | bool | None


class Task(StrEnum):
    """What kind of problem the model solves."""

    TABULAR_CLASSIFICATION = "tabular_classification"
    TABULAR_REGRESSION = "tabular_regression"
    TEXT_CLASSIFICATION = "text_classification"
    IMAGE_CLASSIFICATION = "image_classification"


DATASETS_BY_TASK: dict[Task, tuple[str, ...]] = {
    Task.TABULAR_CLASSIFICATION: ("iris", "wine", "breast_cancer"),
    Task.TABULAR_REGRESSION: ("diabetes",),
    Task.TEXT_CLASSIFICATION: ("topics",),
    Task.IMAGE_CLASSIFICATION: ("digits",),
}

ALGORITHMS_BY_TASK: dict[Task, tuple[str, ...]] = {
    Task.TABULAR_CLASSIFICATION: ("logistic_regression", "random_forest"),
    Task.TABULAR_REGRESSION: ("ridge", "random_forest"),
    Task.TEXT_CLASSIFICATION: ("tfidf_logistic_regression",),
    Task.IMAGE_CLASSIFICATION: ("mlp", "cnn"),
}

DEFAULT_PROFILE_BY_TASK: dict[Task, str] = {
    Task.TABULAR_CLASSIFICATION: "tabular",
    Task.TABULAR_REGRESSION: "tabular",
    Task.TEXT_CLASSIFICATION: "text",
    Task.IMAGE_CLASSIFICATION: "image",
}

# The message of a dataset or algorithm that does not fit the task (also published in the contract).
TASK_FIT_MESSAGE = "{field} '{value}' is not valid for task {task}; use one of {choices}"

ModelName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class TrainConfig(BaseModel):
    """A training job: which model, on which data, with which hyper-parameters, logged where."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_name: ModelName = Field(description="Registered model name in MLflow.")
    task: Task = Field(description="Problem type; decides datasets, algorithms and metrics.")
    dataset: str = Field(description="Dataset name (see DATASETS_BY_TASK).")
    algorithm: str = Field(description="Estimator family (see ALGORITHMS_BY_TASK).")
    hyperparameters: dict[str, Scalar] = Field(default_factory=dict, description="Estimator parameters.")
    experiment: str = Field(min_length=1, description="MLflow experiment name.")
    seed: int = Field(default=42, ge=0, le=2**32 - 1, description="Random seed (split and estimator).")
    test_size: float = Field(default=0.25, gt=0.0, lt=1.0, description="Held-out fraction for metrics.")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra run tags.")
    profile: str | None = Field(default=None, description="Model profile (trainer/model_profiles.yaml).")

    @model_validator(mode="after")
    def _check_task_fit(self) -> "TrainConfig":
        for field, choices in (("dataset", DATASETS_BY_TASK), ("algorithm", ALGORITHMS_BY_TASK)):
            value = getattr(self, field)
            if value not in choices[self.task]:
                raise ValueError(
                    TASK_FIT_MESSAGE.format(
                        field=field, value=value, task=self.task, choices=choices[self.task]
                    )
                )
        return self

    @property
    def profile_name(self) -> str:
        """The profile to run under: explicit, else the task's default."""
        return self.profile or DEFAULT_PROFILE_BY_TASK[self.task]


def format_validation_error(error: ValidationError, source: str = "config") -> str:
    """One line naming each bad field and what is wrong with it."""
    parts = []
    for item in error.errors():
        location = ".".join(str(p) for p in item["loc"]) or "(root)"
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{location}: {message}")
    return f"invalid {source}: " + "; ".join(parts)


def parse_config(data: Any, source: str = "config") -> TrainConfig:
    """Validate a decoded JSON object into a TrainConfig, raising ConfigError with one line."""
    if not isinstance(data, dict):
        raise ConfigError(f"invalid {source}: expected a JSON object, got {type(data).__name__}")
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, source)) from None


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a JSON config file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config {file}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config {file} is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"config {file} is not valid JSON: {error.msg} at line {error.lineno}") from None
    return parse_config(data, source=f"config {file.name}")
