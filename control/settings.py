"""Environment of `python -m control` (one pydantic-settings class; secrets come from a Secret)."""

import os
import socket
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class ControlSettings(BaseSettings):
    """Where the control API listens and keeps its state, what it talks to, and its secrets.

    Keys and secrets are comma-separated lists so that one can be rotated without downtime: add the new
    one, roll the callers (or receivers) over, remove the old one."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    host: str = Field(default="127.0.0.1", validation_alias=_env("CONTROL_HOST", "host"))
    port: int = Field(default=8010, ge=0, le=65535, validation_alias=_env("CONTROL_PORT", "port"))
    database_url: str = Field(
        default="sqlite:///control.db", validation_alias=_env("CONTROL_DATABASE_URL", "database_url")
    )
    replica_id: str = Field(
        default_factory=_default_replica_id, validation_alias=_env("CONTROL_REPLICA_ID", "replica_id")
    )
    api_keys: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=_env("CONTROL_API_KEYS", "api_keys"),
        description="name:key pairs, comma-separated: may do everything",
    )
    read_api_keys: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=_env("CONTROL_READ_API_KEYS", "read_api_keys"),
        description="name:key pairs, comma-separated: may only read (GET, events)",
    )
    max_body_bytes: int = Field(
        default=256 * 1024, ge=1024, validation_alias=_env("CONTROL_MAX_BODY_BYTES", "max_body_bytes")
    )

    airflow_url: str = Field(default="http://127.0.0.1:8080", validation_alias=_env("AIRFLOW_URL"))
    airflow_ui_url: str | None = Field(default=None, validation_alias=_env("AIRFLOW_UI_URL"))
    airflow_user: str = Field(default="ci", validation_alias=_env("AIRFLOW_API_USER", "airflow_user"))
    airflow_password: SecretStr = Field(
        default=SecretStr(""), validation_alias=_env("AIRFLOW_API_PASSWORD", "airflow_password")
    )
    train_dag_id: str = Field(
        default="ml_train_register_and_reload", validation_alias=_env("CONTROL_TRAIN_DAG", "train_dag_id")
    )
    mlflow_tracking_uri: str = Field(
        default="http://127.0.0.1:5000", validation_alias=_env("MLFLOW_TRACKING_URI", "mlflow_tracking_uri")
    )
    serving_url: str = Field(default="http://127.0.0.1:8000", validation_alias=_env("SERVING_URL"))
    internal_api_key: SecretStr = Field(
        default=SecretStr(""), validation_alias=_env("INTERNAL_API_KEY", "internal_api_key")
    )

    callback_url: str | None = Field(default=None, validation_alias=_env("CALLBACK_URL", "callback_url"))
    callback_secrets: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=_env("CALLBACK_SIGNING_SECRETS", "callback_secrets"),
        description="HMAC secrets, comma-separated; every one signs each callback",
    )
    callback_allowed_hosts: str = Field(
        default="", validation_alias=_env("CALLBACK_ALLOWED_HOSTS", "callback_allowed_hosts")
    )
    callback_events: Literal["terminal", "all"] = Field(
        default="terminal", validation_alias=_env("CALLBACK_EVENTS", "callback_events")
    )
    callback_retry_seconds: float = Field(
        default=6 * 3600, gt=0, validation_alias=_env("CALLBACK_RETRY_SECONDS", "callback_retry_seconds")
    )
    callback_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=120,
        validation_alias=_env("CALLBACK_TIMEOUT_SECONDS", "callback_timeout_seconds"),
    )
    callback_backoff_initial_seconds: float = Field(
        default=1.0,
        gt=0,
        validation_alias=_env("CALLBACK_BACKOFF_INITIAL_SECONDS", "callback_backoff_initial_seconds"),
    )
    callback_backoff_max_seconds: float = Field(
        default=60.0,
        gt=0,
        validation_alias=_env("CALLBACK_BACKOFF_MAX_SECONDS", "callback_backoff_max_seconds"),
    )

    deploy_timeout_seconds: float = Field(
        default=600.0, gt=0, validation_alias=_env("CONTROL_DEPLOY_TIMEOUT_SECONDS", "deploy_timeout_seconds")
    )
    poll_interval_seconds: float = Field(
        default=2.0, gt=0, validation_alias=_env("CONTROL_POLL_SECONDS", "poll_interval_seconds")
    )
    lease_ttl_seconds: float = Field(
        default=15.0, ge=1, validation_alias=_env("CONTROL_LEASE_SECONDS", "lease_ttl_seconds")
    )
    log_dir: str | None = Field(default=None, validation_alias=_env("LOG_DIR", "log_dir"))
    log_level: str = Field(default="INFO", validation_alias=_env("CONTROL_LOG_LEVEL", "log_level"))

    @field_validator("airflow_url", "serving_url", "mlflow_tracking_uri")
    @classmethod
    def _no_trailing_slash(cls, url: str) -> str:
        return url.rstrip("/")

    @property
    def airflow_ui_base(self) -> str:
        return (self.airflow_ui_url or self.airflow_url).rstrip("/")

    def signing_secrets(self) -> list[bytes]:
        return [s.strip().encode() for s in self.callback_secrets.get_secret_value().split(",") if s.strip()]

    def allowed_hosts(self) -> list[str]:
        return [h.strip().lower() for h in self.callback_allowed_hosts.split(",") if h.strip()]
