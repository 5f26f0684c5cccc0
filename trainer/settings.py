"""Trainer settings from the environment (names as in the seed documents)."""

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TrainerSettings(BaseSettings):
    """Where to track, where to write results, and run metadata passed in by the orchestrator."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    mlflow_tracking_uri: str = Field(default="http://127.0.0.1:5000", alias="MLFLOW_TRACKING_URI")
    mlflow_s3_endpoint_url: str | None = Field(default=None, alias="MLFLOW_S3_ENDPOINT_URL")
    result_file: str | None = Field(default=None, alias="TRAINER_RESULT_FILE")
    xcom_dir: str = Field(default="/airflow/xcom", alias="TRAINER_XCOM_DIR")
    git_commit: str | None = Field(default=None, validation_alias=AliasChoices("GIT_COMMIT", "GITHUB_SHA"))
    airflow_dag_run_id: str | None = Field(
        default=None, validation_alias=AliasChoices("AIRFLOW_DAG_RUN_ID", "AIRFLOW_CTX_DAG_RUN_ID")
    )
    airflow_dag_id: str | None = Field(
        default=None, validation_alias=AliasChoices("AIRFLOW_DAG_ID", "AIRFLOW_CTX_DAG_ID")
    )
    airflow_task_id: str | None = Field(
        default=None, validation_alias=AliasChoices("AIRFLOW_TASK_ID", "AIRFLOW_CTX_TASK_ID")
    )
    register_timeout_seconds: float = Field(default=300.0, alias="TRAINER_REGISTER_TIMEOUT")
