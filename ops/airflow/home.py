"""AIRFLOW_HOME under the stack state folder (SQLite metadata DB) and the env wiring the DAGs to the stack."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ops.stack.settings import REPO_ROOT


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


@dataclass
class AirflowHome:
    """A local Airflow installation for the DAGs in dags/ (runtime `local`)."""

    home: Path
    stack_env: dict[str, str]
    api_key: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def db_file(self) -> Path:
        return self.home / "airflow.db"

    def env(self) -> dict[str, str]:
        """Environment of an Airflow process (`airflow ...`, dag.test runner) that uses the stack."""
        serving = {"conn_type": "http", "host": self.stack_env["SERVING_URL"], "password": self.api_key}
        # The Slack provider uses the password as the whole webhook URL when it contains "://".
        slack = {"conn_type": "slackwebhook", "password": self.stack_env["SLACK_WEBHOOK_URL"]}
        mlflow = {"conn_type": "http", "host": self.stack_env["MLFLOW_TRACKING_URI"]}
        env = {
            **self.stack_env,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db_file}",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
            "AIRFLOW__API__BASE_URL": "http://localhost:8080",
            "AIRFLOW_CONN_SERVING_ADMIN": json.dumps(serving),
            "AIRFLOW_CONN_SLACK_DEFAULT": json.dumps(slack),
            "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps(mlflow),
            "MLOPS_RUNTIME": "local",
            "MLOPS_RETRY_DELAY": "5",
            "MLOPS_SENSOR_POKE_SECONDS": "2",
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p),
            **self.extra,
        }
        return env

    def migrate(self) -> bool:
        """Create or upgrade the SQLite metadata DB (once: later calls find it); True when it ran."""
        self.home.mkdir(parents=True, exist_ok=True)
        marker = self.home / ".migrated"
        if marker.exists() and self.db_file.exists():
            return False
        completed = subprocess.run(
            [_bin("airflow"), "db", "migrate"],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed: {completed.stderr[-2000:]}")
        marker.write_text("ok\n")
        return True


def write_env_file(path: Path, env: dict[str, str]) -> Path:
    """`source`-able exports of an Airflow env (to start `airflow standalone` on the same DB)."""
    import shlex

    lines = [f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
    # `airflow standalone` starts its components as `airflow ...` from PATH: the venv's first.
    lines.append(f'export PATH={shlex.quote(str(Path(sys.executable).parent))}:"$PATH"')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path
