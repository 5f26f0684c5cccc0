"""Start real local stacks (ops.local.stack) on free ports in temporary folders, for tests."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_rest import AirflowClient
from ops.local.airflow import API_USER
from ops.local.stack import Stack, StackSettings
from ops.local.stack.slack_sink import read_messages
from tests.support.ports import free_port, free_port_block

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS = REPO_ROOT / "trainer" / "configs"


def stack_settings(
    state_dir: Path,
    mode: str = "embedded",
    with_gateway: bool = False,
    with_airflow: bool = False,
    with_control: bool = False,
    **extra: Any,
) -> StackSettings:
    """Settings for a stack on free ports under state_dir (Airflow and the control API only when asked)."""
    values: dict[str, Any] = {
        "mode": mode,
        "state_dir": state_dir,
        "mlflow_port": free_port(),
        "serving_port": free_port(),
        "slack_sink_port": free_port(),
        "airflow_port": free_port(),
        "airflow_statsd_port": free_port(),
        "airflow_metrics_port": free_port(),
        "control_port": free_port(),
        "with_gateway": with_gateway,
        "with_airflow": with_airflow,
        "with_control": with_control,
        "start_timeout": 240.0 if with_airflow else 120.0,
    }
    if mode == "full":
        values.update(postgres_port=free_port(), s3_port=free_port(), weed_base_port=free_port_block(7))
        # Prometheus and Alertmanager: short intervals, so an alert reaches the Slack sink in seconds.
        values.update(
            prometheus_port=free_port(),
            alertmanager_port=free_port(),
            scrape_interval="2s",
            evaluation_interval="2s",
            alert_group_wait="1s",
            alert_group_interval="5s",
        )
    values.update(extra)
    return StackSettings.model_validate(values)


@dataclass
class RunningStack:
    """A started stack and what tests need from it."""

    stack: Stack

    @property
    def settings(self) -> StackSettings:
        return self.stack.settings

    @property
    def tracking_uri(self) -> str:
        return self.settings.mlflow_uri

    @property
    def env(self) -> dict[str, str]:
        """Environment for subprocesses (trainer, DAG tasks) that use this stack."""
        return self.stack.client_env()

    @property
    def slack_log(self) -> Path:
        return self.settings.slack_log

    def airflow(self) -> AirflowClient:
        """A REST client of the stack's Airflow, logged in as the CI/API user."""
        password = self.stack.env_values()["AIRFLOW_API_PASSWORD"]
        return AirflowClient(self.settings.airflow_url, API_USER, password)


@dataclass
class SlackSink:
    """The stack's local Slack webhook sink."""

    url: str
    file: Path

    def messages(self) -> list[dict]:
        return read_messages(self.file)

    def mark(self) -> int:
        """A position; messages_since(mark) returns what arrived after it."""
        return len(self.messages())

    def messages_since(self, mark: int) -> list[dict]:
        return self.messages()[mark:]


def run_trainer(args: list[str], env: dict[str, str], result_file: Path, check: bool = True) -> dict:
    """Run `python -m trainer ...` as a subprocess (the pod contract) and return its result JSON."""
    completed = subprocess.run(
        [sys.executable, "-m", "trainer", *args, "--result-file", str(result_file)],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if check and completed.returncode != 0:
        raise AssertionError(f"trainer {args[0]} failed ({completed.returncode}): {completed.stderr[-2000:]}")
    return json.loads(result_file.read_text()) if completed.returncode == 0 else {}


def write_config(folder: Path, base: str, **overrides: Any) -> Path:
    """A copy of trainer/configs/<base>.json with top-level overrides."""
    config = json.loads((CONFIGS / f"{base}.json").read_text())
    config.update(overrides)
    path = folder / f"{base}-{abs(hash(json.dumps(overrides, sort_keys=True)))}.json"
    path.write_text(json.dumps(config))
    return path


def train_and_register(
    running: RunningStack,
    folder: Path,
    base: str = "iris",
    alias: str | None = None,
    name: str | None = None,
    **overrides: Any,
) -> dict:
    """Train trainer/configs/<base>.json (with overrides) and register it; return both results."""
    folder.mkdir(parents=True, exist_ok=True)
    if name:
        overrides.setdefault("model_name", name)
    config = write_config(folder, base, **overrides)
    trained = run_trainer(["train", "--config", str(config)], running.env, folder / "train.json")
    args = ["register", "--run-id", trained["run_id"], "--name", trained["model_name"]]
    if alias:
        args += ["--alias", alias]
    registered = run_trainer(args, running.env, folder / "register.json")
    return {"train": trained, "register": registered}
