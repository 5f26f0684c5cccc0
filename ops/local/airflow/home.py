"""The local Airflow's home under the stack's state folder: its configuration (environment), the users
and their passwords, the keys it signs with, and the metadata database (SQLite embedded, the stack's
PostgreSQL in the full stack)."""

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from cryptography.fernet import Fernet

from ops.local.stack.envfile import read_env_file, token, write_env_file
from ops.local.stack.errors import StackError
from ops.local.stack.settings import REPO_ROOT, StackSettings

ADMIN_USER = "admin"
API_USER = "ci"
# SimpleAuthManager roles: admin may do everything; `user` may trigger and read DAG runs (CI, APIs).
ROLES = {ADMIN_USER: "admin", API_USER: "user"}
# Generated once into .stack/env (what people and clients log in with) ...
LOGINS = {"AIRFLOW_ADMIN_PASSWORD": token, "AIRFLOW_API_PASSWORD": token}
# ... and into .stack/airflow/keys.env (what Airflow signs and encrypts with; never exported).
KEYS = {
    "AIRFLOW__API_AUTH__JWT_SECRET": lambda: token() + token(),
    "AIRFLOW__API__SECRET_KEY": token,
    "AIRFLOW__CORE__FERNET_KEY": lambda: Fernet.generate_key().decode(),
}


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


class AirflowHome:
    """AIRFLOW_HOME of the stack: `env()` is the environment of every Airflow component."""

    def __init__(
        self, settings: StackSettings, stack_env: dict[str, str], extra: dict[str, str] | None = None
    ):
        self.settings = settings
        self.stack_env = stack_env
        self.extra = extra or {}
        self.home = settings.airflow_home

    @property
    def keys_file(self) -> Path:
        return self.home / "keys.env"

    @property
    def passwords_file(self) -> Path:
        return self.home / "passwords.json"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    def database_url(self) -> str:
        if self.settings.mode == "full":
            return self.settings.postgres_url.replace("postgresql://", "postgresql+psycopg2://") + "/airflow"
        return f"sqlite:///{self.home / 'airflow.db'}"

    def keys(self) -> dict[str, str]:
        """The signing/encryption keys, generated on first use and kept (tokens survive restarts)."""
        existing = read_env_file(self.keys_file)
        if all(existing.get(name) for name in KEYS):
            return {name: existing[name] for name in KEYS}
        return write_env_file(self.keys_file, {}, KEYS, header="Airflow's keys of the local stack")

    def connections(self) -> dict[str, str]:
        """AIRFLOW_CONN_* the DAGs use, pointed at the stack."""
        env = self.stack_env
        serving = {"conn_type": "http", "host": env["SERVING_URL"], "password": env["INTERNAL_API_KEY"]}
        # The Slack provider uses the password as the whole webhook URL when it contains "://".
        slack = {"conn_type": "slackwebhook", "password": env["SLACK_WEBHOOK_URL"]}
        mlflow = {"conn_type": "http", "host": env["MLFLOW_TRACKING_URI"]}
        conns = {
            "AIRFLOW_CONN_SERVING_ADMIN": json.dumps(serving),
            "AIRFLOW_CONN_SLACK_DEFAULT": json.dumps(slack),
            "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps(mlflow),
        }
        if self.settings.mode == "full":
            aws = {
                "conn_type": "aws",
                "login": self.settings.aws_access_key_id,
                "password": self.settings.aws_secret_access_key,
                "extra": {"endpoint_url": self.settings.s3_endpoint_url, "region_name": "us-east-1"},
            }
            conns["AIRFLOW_CONN_AWS_LOGS"] = json.dumps(aws)
        return conns

    def remote_logging(self) -> dict[str, str]:
        """Task logs to the full stack's S3 (uploaded by each task's supervisor when the task ends)."""
        if self.settings.mode != "full":
            return {}
        return {
            "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
            "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": "aws_logs",
            "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f"s3://{self.settings.s3_bucket}/airflow-logs",
            "AIRFLOW__LOGGING__ENCRYPT_S3_LOGS": "False",
        }

    def env(self) -> dict[str, str]:
        """Environment of every Airflow process of the stack (API server, scheduler, DAG processor,
        triggerer and the LocalExecutor's task processes)."""
        s = self.settings
        return {
            **self.stack_env,
            **self.keys(),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(s.airflow_parallelism),
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
            "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "180",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{s.airflow_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in ROLES.items()),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url(),
            "AIRFLOW__API__BASE_URL": s.airflow_url,
            "AIRFLOW__API__HOST": s.host,
            "AIRFLOW__API__PORT": str(s.airflow_port),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs_dir),
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": s.host,
            "AIRFLOW__METRICS__STATSD_PORT": str(s.airflow_statsd_port),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
            **self.remote_logging(),
            **self.connections(),
            "MLOPS_RUNTIME": "local",
            "MLOPS_RETRY_DELAY": "5",
            "MLOPS_SENSOR_POKE_SECONDS": "2",
            "MLOPS_ROLLBACK_POKE_SECONDS": "2",
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p),
            **self.extra,
        }

    def write_passwords(self) -> None:
        """The SimpleAuthManager's password file, from the passwords generated into .stack/env."""
        passwords = {
            ADMIN_USER: self.stack_env["AIRFLOW_ADMIN_PASSWORD"],
            API_USER: self.stack_env["AIRFLOW_API_PASSWORD"],
        }
        self.home.mkdir(parents=True, exist_ok=True)
        self.passwords_file.write_text(json.dumps(passwords) + "\n", encoding="utf-8")
        self.passwords_file.chmod(0o600)

    def migrate(self) -> bool:
        """Create or upgrade the metadata database when this Airflow version has not migrated it yet
        (a marker records version and database); True when the migration ran."""
        self.home.mkdir(parents=True, exist_ok=True)
        marker = self.home / "migrated.json"
        wanted = {"airflow": version("apache-airflow-core"), "database": self.database_url()}
        if marker.exists() and json.loads(marker.read_text()) == wanted:
            return False
        completed = subprocess.run(
            [_bin("airflow"), "db", "migrate"],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if completed.returncode != 0:
            raise StackError(f"airflow db migrate failed:\n{(completed.stderr or completed.stdout)[-2000:]}")
        marker.write_text(json.dumps(wanted) + "\n")
        return True


def logins(env_file: Path) -> dict[str, str]:
    """User names and passwords of the local Airflow, as .stack/env holds them."""
    values = read_env_file(env_file)
    return {
        "AIRFLOW_ADMIN_USER": ADMIN_USER,
        "AIRFLOW_ADMIN_PASSWORD": values.get("AIRFLOW_ADMIN_PASSWORD", ""),
        "AIRFLOW_API_USER": API_USER,
        "AIRFLOW_API_PASSWORD": values.get("AIRFLOW_API_PASSWORD", ""),
    }
