"""DAG settings from the environment of the Airflow workers (one class, read when a DAG file is parsed)."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DAGS_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = DAGS_DIR.parent


class DagSettings(BaseSettings):
    """Runtime, namespaces, file locations, connection ids and timeouts of the MLOps DAGs."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    runtime: Literal["kubernetes", "local"] = Field(default="kubernetes", alias="MLOPS_RUNTIME")
    rollback_mode: Literal["trigger", "inline"] | None = Field(
        default=None,
        alias="MLOPS_ROLLBACK_MODE",
        description="trigger: a TriggerDagRunOperator starts rollback_model; inline: the same rollback runs "
        "as a task of the failed run. Default: trigger on kubernetes, inline on local.",
    )
    namespace: str = Field(default="default", alias="K8S_NAMESPACE")
    profiles_path: Path = Field(
        default=REPO_ROOT / "trainer" / "model_profiles.yaml", alias="MODEL_PROFILES_PATH"
    )
    configs_dir: Path = Field(default=REPO_ROOT / "trainer" / "configs", alias="TRAINER_CONFIGS_DIR")
    pod_template_file: str | None = Field(default=None, alias="KPO_POD_TEMPLATE_FILE")
    trainer_image_tag: str | None = Field(default=None, alias="TRAINER_IMAGE_TAG")
    trainer_secret: str = Field(default="trainer-aws", alias="TRAINER_AWS_SECRET")
    kubernetes_conn_id: str = Field(default="kubernetes_default", alias="MLOPS_KUBERNETES_CONN_ID")
    mlflow_tracking_uri: str = Field(default="http://127.0.0.1:5000", alias="MLFLOW_TRACKING_URI")
    mlflow_conn_id: str = Field(default="mlflow_default", alias="MLOPS_MLFLOW_CONN_ID")
    serving_conn_id: str = Field(default="serving_admin", alias="MLOPS_SERVING_CONN_ID")
    serving_url: str = Field(default="http://127.0.0.1:8000", alias="SERVING_URL")
    slack_conn_id: str = Field(default="slack_default", alias="MLOPS_SLACK_CONN_ID")
    airflow_base_url: str = Field(default="http://localhost:8080", alias="AIRFLOW__API__BASE_URL")
    local_python: str = Field(default="", alias="MLOPS_LOCAL_PYTHON", description="python for local pods")
    ready_timeout_seconds: int = Field(default=600, ge=1, alias="MLOPS_READY_TIMEOUT")
    sensor_poke_seconds: int = Field(default=5, ge=1, alias="MLOPS_SENSOR_POKE_SECONDS")
    pod_timeout_seconds: int = Field(default=3600, ge=1, alias="MLOPS_POD_TIMEOUT")
    retries: int = Field(default=1, ge=0, alias="MLOPS_TASK_RETRIES")
    retry_delay_seconds: int = Field(default=30, ge=0, alias="MLOPS_RETRY_DELAY")

    @property
    def rollback(self) -> Literal["trigger", "inline"]:
        return self.rollback_mode or ("trigger" if self.runtime == "kubernetes" else "inline")

    def run_link(self, dag_id: str, run_id: str) -> str:
        """The run's page in the Airflow UI."""
        return f"{self.airflow_base_url.rstrip('/')}/dags/{dag_id}/runs/{run_id}"
