"""trainer/model_profiles.yaml read as data: the fields a training pod needs (no import of `trainer`)."""

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# Chosen by the NVIDIA device plugin from the pod's nvidia.com/gpu limit; a profile must not override them.
DEVICE_VARIABLES = {"NVIDIA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"}


class Toleration(BaseModel):
    """A pod toleration in Kubernetes field names and defaults: no operator means Equal (key=value)."""

    model_config = ConfigDict(extra="ignore")
    key: str
    operator: Literal["Equal", "Exists"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None

    @model_validator(mode="after")
    def _as_the_api_server_checks_it(self) -> "Toleration":
        if self.operator == "Exists" and self.value:
            raise ValueError(f"toleration {self.key}: operator Exists takes no value (drop it, or use Equal)")
        if not self.key and self.operator != "Exists":
            raise ValueError("a toleration without key needs operator Exists")
        return self


class Profile(BaseModel):
    """How one kind of model trains."""

    model_config = ConfigDict(extra="ignore")
    image: str
    command: list[str] = Field(min_length=1)
    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)
    gpu: int = 0
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("env")
    @classmethod
    def _no_device_selection(cls, env: dict[str, str]) -> dict[str, str]:
        if set(env) & DEVICE_VARIABLES:
            raise ValueError(f"{sorted(set(env) & DEVICE_VARIABLES)}: the device plugin picks the GPUs")
        return env

    def with_image_tag(self, tag: str | None) -> "Profile":
        """The same profile with the image tag replaced (CI builds per git SHA)."""
        if not tag or "@sha256:" in self.image:
            return self
        repository = self.image.rsplit(":", 1)[0] if ":" in self.image.rsplit("/", 1)[-1] else self.image
        return self.model_copy(update={"image": f"{repository}:{tag}"})


class ProfileError(ValueError):
    """The profiles file is missing, malformed or lacks the profile asked for."""


def load_profiles(path: Path) -> dict[str, Profile]:
    """Profile name → Profile from model_profiles.yaml."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ProfileError(f"cannot read model profiles {path}: {error}") from None
    profiles = {}
    for name, raw in (data or {}).get("profiles", {}).items():
        resources = raw.get("resources", {})
        try:
            profiles[name] = Profile.model_validate(
                {**raw, "requests": resources.get("requests", {}), "limits": resources.get("limits", {})}
            )
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise ProfileError(f"model profiles {path}: profile {name}: {problems}") from None
    if not profiles:
        raise ProfileError(f"model profiles {path} defines no profiles")
    return profiles


def get_profile(path: Path, name: str) -> Profile:
    """One profile, or ProfileError naming the known ones."""
    profiles = load_profiles(path)
    if name not in profiles:
        raise ProfileError(f"unknown model profile '{name}'; known: {sorted(profiles)}")
    return profiles[name]
