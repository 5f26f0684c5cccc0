"""DAG settings from the environment of the Airflow workers (one class, read when a DAG file is parsed)."""

import sys
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The checkout the DAGs were loaded from: in the cluster the git-sync clone of the whole repository
# (/opt/airflow/dags/repo, a symlink git-sync moves to each new commit), locally the working tree.
# `absolute()`, not `resolve()`: a resolved path would pin the commit that was current at import time.
DAGS_DIR = Path(__file__).absolute().parents[1]
REPO_ROOT = DAGS_DIR.parent
# The local runtime's trainer environment (ci/trainer-runtime.sh): the trainer image's packages.
TRAINER_VENV_PYTHON = REPO_ROOT / ".venv-trainer" / "bin" / "python"
# Below this poke interval a reschedule sensor under KubernetesExecutor starts a worker pod (and a
# git-sync clone) every few seconds.
MIN_CLUSTER_POKE_SECONDS = 30


class DagSettings(BaseSettings):
    """Runtime, namespaces, file locations, connection ids and timeouts of the MLOps DAGs."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    runtime: Literal["kubernetes", "local"] = Field(default="kubernetes", alias="MLOPS_RUNTIME")
    namespace: str = Field(default="default", alias="K8S_NAMESPACE")
    profiles_path: Path = Field(
        default=REPO_ROOT / "trainer" / "model_profiles.yaml",
        alias="MODEL_PROFILES_PATH",
        description="Default: the checkout's file (git-sync in the cluster); no image carries a copy.",
    )
    configs_dir: Path = Field(default=REPO_ROOT / "trainer" / "configs", alias="TRAINER_CONFIGS_DIR")
    pod_template_file: str | None = Field(default=None, alias="KPO_POD_TEMPLATE_FILE")
    trainer_image_tag: str | None = Field(default=None, alias="TRAINER_IMAGE_TAG")
    trainer_secret: str = Field(default="trainer-aws", alias="TRAINER_AWS_SECRET")
    trainer_secret_keys: list[str] = Field(
        default=["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
        alias="TRAINER_AWS_SECRET_KEYS",
        description="Keys of the trainer Secret; the local runtime takes them from the worker's env.",
    )
    xcom_sidecar_image: str | None = Field(
        default=None,
        alias="MLOPS_XCOM_SIDECAR_IMAGE",
        description="Image of the XCom sidecar (needs sh, cat, sleep); default: the pod's trainer image.",
    )
    kubernetes_conn_id: str = Field(default="kubernetes_default", alias="MLOPS_KUBERNETES_CONN_ID")
    kubernetes_in_cluster: bool = Field(
        default=True,
        alias="MLOPS_KUBERNETES_IN_CLUSTER",
        description="Pod tasks reach the API server with the pod's service account (worker and triggerer); "
        "false: the connection MLOPS_KUBERNETES_CONN_ID says how (kube_config, another cluster).",
    )
    mlflow_tracking_uri: str = Field(default="http://127.0.0.1:5000", alias="MLFLOW_TRACKING_URI")
    mlflow_s3_endpoint_url: str | None = Field(default=None, alias="MLFLOW_S3_ENDPOINT_URL")
    git_commit: str | None = Field(default=None, alias="GIT_COMMIT")
    mlflow_conn_id: str = Field(default="mlflow_default", alias="MLOPS_MLFLOW_CONN_ID")
    serving_conn_id: str = Field(default="serving_admin", alias="MLOPS_SERVING_CONN_ID")
    serving_url: str = Field(default="http://127.0.0.1:8000", alias="SERVING_URL")
    slack_conn_id: str = Field(default="slack_default", alias="MLOPS_SLACK_CONN_ID")
    airflow_base_url: str = Field(default="http://localhost:8080", alias="AIRFLOW__API__BASE_URL")
    grafana_url: str | None = Field(
        default=None,
        alias="GRAFANA_URL",
        description="Grafana's address for the Explore links to a run's logs in Slack messages (unset: none)",
    )
    grafana_loki_uid: str = Field(default="loki", alias="GRAFANA_LOKI_UID")
    grafana_logs_selector: str = Field(
        default='{namespace=~".+"}',
        alias="GRAFANA_LOGS_SELECTOR",
        description="LogQL stream selector of the pods whose logs the links search",
    )
    local_python: str = Field(
        default="",
        alias="MLOPS_LOCAL_PYTHON",
        description="python of local pods; default: .venv-trainer (the trainer image's packages)",
    )
    ready_timeout_seconds: int = Field(default=600, ge=1, alias="MLOPS_READY_TIMEOUT")
    sensor_poke_seconds: int = Field(default=60, ge=1, alias="MLOPS_SENSOR_POKE_SECONDS")
    rollback_poke_seconds: int = Field(default=15, ge=1, alias="MLOPS_ROLLBACK_POKE_SECONDS")
    pod_timeout_seconds: int = Field(default=3600, ge=1, alias="MLOPS_POD_TIMEOUT")
    retries: int = Field(default=1, ge=0, alias="MLOPS_TASK_RETRIES")
    retry_delay_seconds: int = Field(default=30, ge=0, alias="MLOPS_RETRY_DELAY")

    @model_validator(mode="after")
    def _cluster_poke_interval(self) -> "DagSettings":
        if self.runtime == "kubernetes" and self.sensor_poke_seconds < MIN_CLUSTER_POKE_SECONDS:
            raise ValueError(
                f"MLOPS_SENSOR_POKE_SECONDS={self.sensor_poke_seconds}: with MLOPS_RUNTIME=kubernetes every "
                f"poke of a reschedule sensor is a new worker pod; use at least {MIN_CLUSTER_POKE_SECONDS}"
            )
        return self

    @property
    def local_interpreter(self) -> str:
        """The python first on PATH of local pods."""
        if self.local_python:
            return self.local_python
        return str(TRAINER_VENV_PYTHON) if TRAINER_VENV_PYTHON.is_file() else sys.executable

    def run_link(self, dag_id: str, run_id: str) -> str:
        """The run's page in the Airflow UI."""
        return f"{self.airflow_base_url.rstrip('/')}/dags/{dag_id}/runs/{run_id}"
