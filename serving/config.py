"""Gateway configuration: the YAML file that names models, strategies and variants.

The GitOps chart renders this file from Helm values and validates it with `load_config`, so the
key names are a contract: add optional keys only.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Strategy = Literal["single", "ab", "canary", "bluegreen", "shadow"]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Variant(_Strict):
    """One deployable variant: an MLflow alias of the registered model and its traffic weight."""

    name: str = Field(pattern=NAME_PATTERN)
    alias: str = Field(pattern=NAME_PATTERN)
    weight: int = Field(default=0, ge=0, le=100)
    shadow: bool = False


class CanaryGates(_Strict):
    """Health gates of the canary variant against the baseline, over the fleet's merged window."""

    max_error_rate: float = Field(default=0.01, ge=0.0, le=1.0)
    max_p99_ms: float = Field(default=200.0, gt=0)
    max_p99_ratio: float = Field(default=2.0, ge=1.0)
    p99_tolerance_ms: float = Field(default=5.0, ge=0.0)
    min_requests: int = Field(default=50, ge=1)
    window_seconds: float = Field(default=60.0, gt=0)


class Canary(_Strict):
    """Progressive rollout: the canary variant's weight walks through `steps` every `interval_seconds`."""

    steps: list[int] = Field(default=[10, 25, 50, 100], min_length=1)
    interval_seconds: float = Field(default=60.0, gt=0)
    gates: CanaryGates = CanaryGates()
    variant: str | None = None
    baseline: str | None = None

    @field_validator("steps")
    @classmethod
    def _steps_increase(cls, steps: list[int]) -> list[int]:
        if any(not 0 < step <= 100 for step in steps):
            raise ValueError("every step must be between 1 and 100")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError("steps must increase")
        return steps


class BlueGreen(_Strict):
    """Blue-green slots: `active` takes all traffic, `preview` is loaded and reachable by pin."""

    active: str
    preview: str


class ModelConfig(_Strict):
    """One served model: the registered model, its routing strategy and its variants."""

    name: str = Field(pattern=NAME_PATTERN)
    registered_model: str = Field(min_length=1)
    strategy: Strategy = "single"
    variants: list[Variant] = Field(min_length=1)
    canary: Canary | None = None
    bluegreen: BlueGreen | None = None
    shadow_queue_size: int = Field(default=1000, ge=1)

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError("variant names must be unique")
        primary = [v for v in self.variants if not v.shadow]
        if not primary:
            raise ValueError("at least one variant must not be a shadow")
        if any(v.shadow and v.weight for v in self.variants):
            raise ValueError("shadow variants take no traffic: their weight must be 0")
        if self.strategy != "bluegreen" and sum(v.weight for v in primary) != 100:
            raise ValueError("weights of the non-shadow variants must sum to 100")
        if self.strategy == "single" and len(primary) != 1:
            raise ValueError("strategy single takes exactly one non-shadow variant")
        if self.strategy == "ab" and len(primary) < 2:
            raise ValueError("strategy ab takes at least two non-shadow variants")
        if self.strategy == "shadow" and len(primary) == len(self.variants):
            raise ValueError("strategy shadow needs a variant with shadow: true")
        if self.strategy == "canary":
            self._check_canary(primary)
        if self.strategy == "bluegreen":
            self._check_bluegreen(primary)
        return self

    def _check_canary(self, primary: list[Variant]) -> None:
        if self.canary is None:
            raise ValueError("strategy canary needs a canary section")
        if len(primary) != 2:
            raise ValueError("strategy canary takes exactly two non-shadow variants")
        names = {v.name for v in primary}
        for key in ("variant", "baseline"):
            value = getattr(self.canary, key)
            if value is not None and value not in names:
                raise ValueError(f"canary.{key} {value!r} is not a non-shadow variant")
        if self.canary_variant == self.baseline_variant:
            raise ValueError("canary.variant and canary.baseline must differ")

    def _check_bluegreen(self, primary: list[Variant]) -> None:
        if self.bluegreen is None:
            raise ValueError("strategy bluegreen needs a bluegreen section")
        names = {v.name for v in primary}
        for key in ("active", "preview"):
            if getattr(self.bluegreen, key) not in names:
                raise ValueError(f"bluegreen.{key} {getattr(self.bluegreen, key)!r} is not a variant")
        if self.bluegreen.active == self.bluegreen.preview:
            raise ValueError("bluegreen.active and bluegreen.preview must differ")

    @property
    def primary_variants(self) -> list[Variant]:
        """Variants that can answer requests (not shadows), in config order."""
        return [v for v in self.variants if not v.shadow]

    @property
    def canary_variant(self) -> str:
        """The variant the canary rolls out (default: the second non-shadow variant)."""
        if self.canary and self.canary.variant:
            return self.canary.variant
        return self.primary_variants[-1].name

    @property
    def baseline_variant(self) -> str:
        """The variant that holds the stable version (alias `champion` by convention)."""
        if self.canary and self.canary.baseline:
            return self.canary.baseline
        others = [v.name for v in self.primary_variants if v.name != self.canary_variant]
        return others[0] if others else self.primary_variants[0].name

    def variant(self, name: str) -> Variant | None:
        """The variant called `name`, or None."""
        return next((v for v in self.variants if v.name == name), None)

    def initial_weights(self) -> dict[str, int]:
        """Weights from the file, with blue-green expressed as 100 on the active slot."""
        if self.strategy == "bluegreen" and self.bluegreen:
            return {v.name: 100 if v.name == self.bluegreen.active else 0 for v in self.variants}
        return {v.name: v.weight for v in self.variants}


class ServingConfig(_Strict):
    """The whole file: the served models and optional timing knobs."""

    models: list[ModelConfig] = Field(min_length=1)
    default_model: str | None = None
    resolve_interval_seconds: float = Field(default=30.0, gt=0)
    retry_interval_seconds: float = Field(default=3.0, gt=0)
    sync_interval_seconds: float = Field(default=0.5, gt=0)
    heartbeat_seconds: float = Field(default=1.0, gt=0)
    retry_max_seconds: float = Field(default=60.0, gt=0)
    lease_seconds: float = Field(default=10.0, gt=0)
    operation_timeout_seconds: float = Field(default=300.0, gt=0)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    body_timeout_seconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> ServingConfig:
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError("model names must be unique")
        if self.default_model is not None and self.default_model not in names:
            raise ValueError(f"default_model {self.default_model!r} is not a configured model")
        return self

    def model(self, name: str) -> ModelConfig | None:
        """The model called `name`, or None."""
        return next((m for m in self.models if m.name == name), None)

    @property
    def default(self) -> ModelConfig:
        """The model `/invocations` serves: `default_model` or the first one."""
        return self.model(self.default_model or "") or self.models[0]


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return f"{where}: {first['msg']}"


def parse_config(data: object) -> ServingConfig:
    """Validate already-parsed YAML; raise ConfigError naming the first bad field."""
    try:
        return ServingConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None


def load_config(path: str | Path) -> ServingConfig:
    """Read and validate the YAML config at `path`; raise ConfigError with one line naming the field."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config {path}: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    return parse_config(data)
