"""Local stack settings: mode, ports and where its state lives (all overridable by environment)."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[3]
# A Prometheus duration as Prometheus and Alertmanager read it: 15s, 1m30s, 4h.
DURATION = r"^([0-9]+(ms|s|m|h|d|w|y))+$"


class StackSettings(BaseSettings):
    """Everything that decides how the local stack runs."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    mode: Literal["embedded", "full"] = Field(default="embedded", alias="MLOPS_STACK")
    state_dir: Path = Field(default=REPO_ROOT / ".stack", alias="MLOPS_STACK_DIR")
    host: str = Field(default="127.0.0.1", alias="MLOPS_STACK_HOST")
    mlflow_port: int = Field(default=5000, alias="MLFLOW_PORT")
    serving_port: int = Field(default=8000, alias="SERVING_PORT")
    slack_sink_port: int = Field(default=8025, alias="SLACK_SINK_PORT")
    airflow_port: int = Field(default=8080, alias="AIRFLOW_PORT")
    # Airflow's metrics: StatsD (UDP) into the local exporter, Prometheus /metrics out of it
    airflow_statsd_port: int = Field(default=9125, alias="AIRFLOW_STATSD_PORT")
    airflow_metrics_port: int = Field(default=9102, alias="AIRFLOW_METRICS_PORT")
    control_port: int = Field(default=8010, alias="CONTROL_PORT")
    postgres_port: int = Field(default=5433, alias="POSTGRES_PORT")
    s3_port: int = Field(default=8333, alias="S3_PORT")
    weed_base_port: int = Field(default=9333, alias="WEED_BASE_PORT")
    prometheus_port: int = Field(default=9090, alias="PROMETHEUS_PORT")
    alertmanager_port: int = Field(default=9093, alias="ALERTMANAGER_PORT")
    serving_database: str = Field(default="serving", pattern=r"^[a-z][a-z0-9_]*$", alias="SERVING_DATABASE")
    s3_bucket: str = Field(default="mlflow", alias="MLFLOW_S3_BUCKET")
    aws_access_key_id: str = Field(default="mlops-local", alias="AWS_ACCESS_KEY_ID")
    aws_secret_access_key: str = Field(default="mlops-local-secret", alias="AWS_SECRET_ACCESS_KEY")
    with_gateway: bool = Field(default=True, alias="MLOPS_STACK_GATEWAY")
    with_airflow: bool = Field(default=True, alias="MLOPS_STACK_AIRFLOW")
    with_control: bool = Field(default=True, alias="MLOPS_STACK_CONTROL")
    with_monitoring: bool = Field(default=True, alias="MLOPS_STACK_MONITORING")
    prometheus_rule_files: str = Field(
        default=str(REPO_ROOT / "observability" / "rules" / "*.rules.yaml"), alias="PROMETHEUS_RULE_FILES"
    )
    scrape_interval: str = Field(default="15s", pattern=DURATION, alias="PROMETHEUS_SCRAPE_INTERVAL")
    evaluation_interval: str = Field(default="15s", pattern=DURATION, alias="PROMETHEUS_EVALUATION_INTERVAL")
    alert_group_wait: str = Field(default="30s", pattern=DURATION, alias="ALERTMANAGER_GROUP_WAIT")
    alert_group_interval: str = Field(default="5m", pattern=DURATION, alias="ALERTMANAGER_GROUP_INTERVAL")
    alert_repeat_interval: str = Field(default="4h", pattern=DURATION, alias="ALERTMANAGER_REPEAT_INTERVAL")
    airflow_parallelism: int = Field(default=4, ge=2, alias="MLOPS_AIRFLOW_PARALLELISM")
    serving_config: Path = Field(
        default=REPO_ROOT / "serving" / "examples" / "local.yaml", alias="SERVING_CONFIG"
    )
    start_timeout: float = Field(default=90.0, alias="MLOPS_STACK_TIMEOUT")

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def mlflow_uri(self) -> str:
        return f"http://{self.host}:{self.mlflow_port}"

    @property
    def serving_url(self) -> str:
        return f"http://{self.host}:{self.serving_port}"

    @property
    def slack_webhook_url(self) -> str:
        return f"http://{self.host}:{self.slack_sink_port}/services/local/webhook"

    @property
    def airflow_url(self) -> str:
        return f"http://{self.host}:{self.airflow_port}"

    @property
    def airflow_metrics_url(self) -> str:
        """Airflow's metrics in Prometheus format (the local StatsD exporter; scrape job `airflow`)."""
        return f"http://{self.host}:{self.airflow_metrics_port}/metrics"

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self.control_port}"

    @property
    def callback_url(self) -> str:
        """The local receiver of the control API's callbacks (the Slack sink records them)."""
        return f"http://{self.host}:{self.slack_sink_port}/callbacks/local"

    @property
    def callbacks_log(self) -> Path:
        return self.state_dir / "callbacks.jsonl"

    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"

    @property
    def slack_log(self) -> Path:
        return self.state_dir / "slack.jsonl"

    @property
    def monitoring(self) -> bool:
        """Prometheus and Alertmanager run in the full stack (unless MLOPS_STACK_MONITORING=false)."""
        return self.mode == "full" and self.with_monitoring

    @property
    def prometheus_url(self) -> str:
        return f"http://{self.host}:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://{self.host}:{self.alertmanager_port}"

    @property
    def monitoring_dir(self) -> Path:
        """Generated prometheus.yml and alertmanager.yml, Prometheus' TSDB, Alertmanager's state."""
        return self.state_dir / "monitoring"

    @property
    def s3_endpoint_url(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    @property
    def postgres_url(self) -> str:
        return f"postgresql://mlops:mlops@{self.host}:{self.postgres_port}"
