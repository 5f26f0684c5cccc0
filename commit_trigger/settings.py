"""Where the trigger finds Airflow and Slack, and who it is (environment; the password from a Secret)."""

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class TriggerSettings(BaseSettings):
    """AIRFLOW_URL, AIRFLOW_API_USER/AIRFLOW_API_PASSWORD (the CI/API user), optional AIRFLOW_UI_URL for
    links when people reach the UI elsewhere (an ingress), optional SLACK_WEBHOOK_URL."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    airflow_url: str = Field(default="http://127.0.0.1:8080", alias="AIRFLOW_URL")
    airflow_ui_url: str | None = Field(default=None, alias="AIRFLOW_UI_URL")
    username: str = Field(default="ci", alias="AIRFLOW_API_USER")
    password: SecretStr = Field(alias="AIRFLOW_API_PASSWORD")
    slack_webhook_url: SecretStr | None = Field(default=None, alias="SLACK_WEBHOOK_URL")
    timeout_seconds: float = Field(default=30.0, gt=0, alias="AIRFLOW_TIMEOUT")

    @property
    def ui_base(self) -> str:
        return (self.airflow_ui_url or self.airflow_url).rstrip("/")
