"""Model profiles: per model type, how its training pod runs (image, command, resources, GPU, placement)."""

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from trainer.config import format_validation_error
from trainer.errors import ConfigError

PROFILES_FILE = Path(__file__).with_name("model_profiles.yaml")
# Chosen by the device plugin from the pod's nvidia.com/gpu limit; a profile that sets them overrides it.
DEVICE_VARIABLES = {"NVIDIA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"}
UNKNOWN_PROFILE = "unknown profile '{name}'; known: {known}"
Quantity = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")]


class Resources(BaseModel):
    """Kubernetes requests and limits (cpu, memory)."""

    model_config = ConfigDict(extra="forbid")
    requests: dict[Literal["cpu", "memory", "ephemeral-storage"], Quantity]
    limits: dict[Literal["cpu", "memory", "ephemeral-storage"], Quantity]


class Toleration(BaseModel):
    """A pod toleration, in Kubernetes field names and defaults: no operator means Equal (key=value)."""

    model_config = ConfigDict(extra="forbid")
    key: str
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None

    @model_validator(mode="after")
    def _as_the_api_server_checks_it(self) -> "Toleration":
        if self.operator == "Exists" and self.value:
            raise ValueError(f"toleration {self.key}: operator Exists takes no value (drop it, or use Equal)")
        return self


class Profile(BaseModel):
    """How one kind of model trains: the pod the DAG builds for it."""

    model_config = ConfigDict(extra="forbid")
    description: str
    image: str
    command: list[str] = Field(min_length=1)
    resources: Resources
    gpu: int = Field(default=0, ge=0, le=8, description="nvidia.com/gpu limit")
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("image")
    @classmethod
    def _pinned_image(cls, image: str) -> str:
        name = image.rsplit("/", 1)[-1]
        if "@sha256:" not in image and (":" not in name or name.endswith(":latest")):
            raise ValueError(f"image '{image}' must carry a pinned tag (not 'latest') or a digest")
        return image

    @field_validator("env")
    @classmethod
    def _no_device_selection(cls, env: dict[str, str]) -> dict[str, str]:
        chosen = sorted(set(env) & DEVICE_VARIABLES)
        if chosen:
            raise ValueError(
                f"{', '.join(chosen)} must not be set: the NVIDIA device plugin exposes exactly the GPUs "
                "allocated to the pod ('all' would expose every GPU of the node)"
            )
        return env

    @model_validator(mode="after")
    def _gpu_placement(self) -> "Profile":
        if self.gpu and not any(t.key == "nvidia.com/gpu" for t in self.tolerations):
            raise ValueError("a GPU profile needs a toleration for key nvidia.com/gpu")
        return self


class ModelProfiles(BaseModel):
    """The whole file: profile name → profile."""

    model_config = ConfigDict(extra="forbid")
    profiles: dict[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")], Profile]

    def get(self, name: str) -> Profile:
        """The named profile, or a ConfigError listing the known ones."""
        if name not in self.profiles:
            raise ConfigError(UNKNOWN_PROFILE.format(name=name, known=sorted(self.profiles)))
        return self.profiles[name]


def load_profiles(path: str | Path | None = None) -> ModelProfiles:
    """Read and validate model_profiles.yaml."""
    file = Path(path) if path else PROFILES_FILE
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read profiles {file}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"profiles {file} is not valid YAML: {error}") from None
    try:
        return ModelProfiles.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, f"profiles {file.name}")) from None
