"""Process settings from the environment (one pydantic-settings class for the gateway)."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

EXAMPLE_CONFIG = Path(__file__).resolve().parent / "examples" / "local.yaml"
REPLICA_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def _default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Settings(BaseSettings):
    """Environment of `python -m serving`."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    config: str = Field(
        default=str(EXAMPLE_CONFIG), validation_alias=AliasChoices("SERVING_CONFIG", "config")
    )
    host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("SERVING_HOST", "host"))
    port: int = Field(default=8000, ge=0, le=65535, validation_alias=AliasChoices("SERVING_PORT", "port"))
    workers: int = Field(
        default=1,
        validation_alias=AliasChoices("SERVING_WORKERS", "workers"),
        description="must be 1: one process per replica (each replica has its own id, metrics and logs)",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "mlflow_tracking_uri")
    )
    state_url: str = Field(
        default="sqlite:///serving-state.db", validation_alias=AliasChoices("SERVING_STATE_URL", "state_url")
    )
    internal_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("INTERNAL_API_KEY", "internal_api_key")
    )
    slack_webhook_url: str | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_WEBHOOK_URL", "slack_webhook_url")
    )
    log_dir: str | None = Field(default=None, validation_alias=AliasChoices("LOG_DIR", "log_dir"))
    access_log: bool = Field(
        default=True,
        validation_alias=AliasChoices("SERVING_ACCESS_LOG", "access_log"),
        description="one JSON access line per predict request (serving/access.py); false: metrics only",
    )
    grafana_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("GRAFANA_URL", "grafana_url"),
        description="Grafana's address for the Explore links in Slack messages (unset: no link)",
    )
    grafana_loki_uid: str = Field(
        default="loki", validation_alias=AliasChoices("GRAFANA_LOKI_UID", "grafana_loki_uid")
    )
    grafana_logs_selector: str = Field(
        default='{namespace=~".+"}',
        validation_alias=AliasChoices("GRAFANA_LOGS_SELECTOR", "grafana_logs_selector"),
        description="LogQL stream selector of the pods whose logs the links search",
    )
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("SERVING_LOG_LEVEL", "log_level"))
    replica_id: str = Field(
        default_factory=_default_replica_id, validation_alias=AliasChoices("SERVING_REPLICA_ID", "replica_id")
    )
    cache_dir: str | None = Field(
        default=None, validation_alias=AliasChoices("SERVING_CACHE_DIR", "cache_dir")
    )

    @field_validator("workers")
    @classmethod
    def _one_process(cls, workers: int) -> int:
        if workers != 1:
            raise ValueError(
                "the gateway runs one process per replica: scale with replicas (each with its own "
                "SERVING_REPLICA_ID), not with workers"
            )
        return workers

    @field_validator("replica_id")
    @classmethod
    def _replica_name(cls, replica: str) -> str:
        if not REPLICA_PATTERN.fullmatch(replica):
            raise ValueError("letters, digits, '.', '_' and '-' only (1-200 characters), e.g. the pod name")
        return replica

    @property
    def api_key(self) -> str | None:
        """The admin key, or None when admin endpoints are disabled."""
        if self.internal_api_key is None:
            return None
        return self.internal_api_key.get_secret_value() or None
