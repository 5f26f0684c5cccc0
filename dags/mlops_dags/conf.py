"""Run configuration: the trigger form's params and the models that validate them in the first task."""

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

# The trainer's default profile per task (trainer/config.py DEFAULT_PROFILE_BY_TASK), read here as data.
DEFAULT_PROFILE_BY_TASK = {
    "tabular_classification": "tabular",
    "tabular_regression": "tabular",
    "text_classification": "text",
    "image_classification": "image",
}
MODEL = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


def _alias(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value) or value == "latest" or re.fullmatch(r"v\d+", value):
        raise ValueError(
            f"'{value}' is not a usable alias (letters, digits, '_', '-'; not 'latest' or 'v<n>')"
        )
    return value


Alias = Annotated[str, AfterValidator(_alias)]


class ConfError(ValueError):
    """Bad run conf: one line naming the field and what to fix."""


def format_error(error: ValidationError, source: str = "conf") -> str:
    """One line naming every bad field."""
    parts = []
    for item in error.errors():
        location = ".".join(str(p) for p in item["loc"]) or "(root)"
        parts.append(f"{location}: {item['msg'].removeprefix('Value error, ')}")
    return f"invalid {source}: " + "; ".join(parts)


class ReleaseConf(BaseModel):
    """Where a new version goes and how it is checked: shared by every release DAG."""

    model_config = ConfigDict(extra="forbid")
    serving_model: str | None = Field(default=None, pattern=MODEL)
    alias: Alias = "challenger"
    strategy: Literal["ab", "canary", "bluegreen"] = "canary"
    ab_weight: int = Field(default=50, ge=0, le=100)
    min_replicas: int = Field(default=1, ge=1, le=100)
    verify_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)


class TrainConf(ReleaseConf):
    """ml_train_register_and_reload: which config to train, the release target and the quality gate."""

    config: str = Field(min_length=1)
    overrides: dict[str, Any] = Field(default_factory=dict)
    quality_threshold: float
    max_regression: float = Field(default=0.02, ge=0)
    champion_alias: Alias = "champion"
    git_commit: str | None = Field(default=None, pattern=r"^[0-9a-f]{7,40}$")

    @field_validator("overrides", mode="before")
    @classmethod
    def _overrides_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as error:
                raise ValueError(f"not valid JSON: {error.msg}") from None
        return value


class SensorConf(ReleaseConf):
    """register_sensor_check: the registered model to watch and the alias to move."""

    model: str = Field(pattern=MODEL)


class RollbackConf(BaseModel):
    """rollback_model: put `alias` of `model` back on `before_version` (None: remove the alias)."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(pattern=MODEL)
    serving_model: str | None = Field(default=None, pattern=MODEL)
    alias: Alias
    before_version: str | None = Field(default=None, pattern=r"^\d+$")
    min_replicas: int = Field(default=1, ge=1, le=100)
    verify_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    reason: str = ""

    @field_validator("before_version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        if value in ("", "None", "null"):
            return None
        return str(value) if isinstance(value, int) else value


def parse(model: type[BaseModel], params: dict[str, Any]) -> Any:
    """Validate params (Airflow's resolved `params`) into `model`, raising ConfError with one line."""
    known = {k: v for k, v in params.items() if k in model.model_fields and v is not None}
    unknown = sorted(set(params) - set(model.model_fields))
    if unknown:
        raise ConfError(f"invalid conf: unknown field(s) {unknown}; known: {sorted(model.model_fields)}")
    try:
        return model.model_validate(known)
    except ValidationError as error:
        raise ConfError(format_error(error)) from None


def resolve_config(configs_dir: Path, name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The training config: trainer/configs/<name>.json (or an inline JSON object) merged with overrides."""
    text = name.strip()
    if text.startswith("{"):
        try:
            base = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfError(f"invalid conf: config: inline JSON is not valid: {error.msg}") from None
    else:
        if not re.fullmatch(r"[A-Za-z0-9_-]+(\.json)?", text):
            raise ConfError(
                f"invalid conf: config: '{name}' is not a config name (letters, digits, '-', '_')"
            )
        file = configs_dir / (text if text.endswith(".json") else f"{text}.json")
        if not file.is_file():
            known = sorted(p.stem for p in configs_dir.glob("*.json"))
            raise ConfError(f"invalid conf: config: no config '{name}' in {configs_dir}; known: {known}")
        base = json.loads(file.read_text(encoding="utf-8"))
    if not isinstance(base, dict):
        raise ConfError("invalid conf: config: expected a JSON object")
    merged = {**base, **overrides}
    for key in ("model_name", "task", "experiment"):
        if not isinstance(merged.get(key), str) or not merged[key]:
            raise ConfError(f"invalid conf: config.{key}: required (a non-empty string)")
    if merged["task"] not in DEFAULT_PROFILE_BY_TASK:
        raise ConfError(
            f"invalid conf: config.task: '{merged['task']}' is not one of {sorted(DEFAULT_PROFILE_BY_TASK)}"
        )
    if not re.fullmatch(MODEL, merged["model_name"]):
        raise ConfError(
            f"invalid conf: config.model_name: '{merged['model_name']}' is not a valid model name"
        )
    return merged


def profile_name(config: dict[str, Any]) -> str:
    """The config's model profile: explicit, else the task's default."""
    return config.get("profile") or DEFAULT_PROFILE_BY_TASK[config["task"]]
