"""Train and register every example config against the real embedded stack; load what was registered."""

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow.pyfunc
import pytest
from mlflow import MlflowClient

from tests.support.stack import CONFIGS, RunningStack, run_trainer

# Held-out quality each example must reach (the primary metric: accuracy, or R² for diabetes).
EXAMPLES = {"iris": 0.85, "diabetes": 0.3, "text": 0.8, "digits": 0.9, "wine": 0.85}


@pytest.mark.parametrize("base", list(EXAMPLES))
def test_train_register_and_load_every_example(base: str, register_model, mlflow_stack: RunningStack) -> None:
    config = json.loads((CONFIGS / f"{base}.json").read_text())
    result = register_model(base, alias="champion")
    trained, registered = result["train"], result["register"]

    assert trained["primary_metric_value"] == trained["metrics"][trained["primary_metric"]]
    assert trained["primary_metric_value"] > EXAMPLES[base]
    assert registered["status"] == "READY"
    assert registered["name"] == config["model_name"]

    client = MlflowClient(mlflow_stack.tracking_uri)
    run = client.get_run(trained["run_id"])
    assert run.data.params["dataset"] == config["dataset"]
    assert set(trained["metrics"]) <= set(run.data.metrics)
    assert run.data.tags["task"] == config["task"]
    version = client.get_model_version_by_alias(config["model_name"], "champion")
    assert version.version == registered["version"]
    assert version.tags[f"metric.{trained['primary_metric']}"]

    mlflow.set_tracking_uri(mlflow_stack.tracking_uri)
    uri = f"models:/{config['model_name']}/{registered['version']}"
    model = mlflow.pyfunc.load_model(uri)
    example = model.input_example
    assert example is not None
    predictions = model.predict(example)
    assert len(predictions) == len(example)


def test_tags_from_the_orchestrator(mlflow_stack: RunningStack, tmp_path: Path) -> None:
    env = {**mlflow_stack.env, "GIT_COMMIT": "abc1234", "AIRFLOW_CTX_DAG_RUN_ID": "manual__2026"}
    trained = run_trainer(["train", "--config", str(CONFIGS / "iris.json")], env, tmp_path / "t.json")
    run = MlflowClient(mlflow_stack.tracking_uri).get_run(trained["run_id"])
    assert run.data.tags["git_commit"] == "abc1234"
    assert run.data.tags["airflow_dag_run_id"] == "manual__2026"
    registered = run_trainer(
        ["register", "--run-id", trained["run_id"], "--name", "iris-tags", "--tag", "owner=ml"],
        env,
        tmp_path / "r.json",
    )
    version = MlflowClient(mlflow_stack.tracking_uri).get_model_version("iris-tags", registered["version"])
    assert version.tags["git_commit"] == "abc1234"
    assert version.tags["owner"] == "ml"
    assert version.tags["airflow_dag_run_id"] == "manual__2026"


def test_xcom_contract(mlflow_stack: RunningStack, tmp_path: Path) -> None:
    """Without --result-file, the result lands in <xcom dir>/return.json as the pod's XCom."""
    xcom = tmp_path / "xcom"
    xcom.mkdir()
    env = {**os.environ, **mlflow_stack.env, "TRAINER_XCOM_DIR": str(xcom)}
    env.pop("TRAINER_RESULT_FILE", None)
    completed = subprocess.run(
        [sys.executable, "-m", "trainer", "train", "--config", str(CONFIGS / "iris.json")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    written = json.loads((xcom / "return.json").read_text())
    assert written["run_id"] in completed.stdout
    assert written["model_uri"].startswith("models:/")


def test_register_unknown_run_exits_2(mlflow_stack: RunningStack, tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "trainer", "register", "--run-id", "0" * 32, "--name", "iris"],
        env={**os.environ, **mlflow_stack.env},
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 2
    assert "no such MLflow run" in completed.stderr and "Traceback" not in completed.stderr


def test_unreachable_mlflow_exits_3(tmp_path: Path) -> None:
    from tests.support.ports import free_port

    env = {**os.environ, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}
    completed = subprocess.run(
        [sys.executable, "-m", "trainer", "train", "--config", str(CONFIGS / "iris.json")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 3
    assert "unreachable" in completed.stderr and "Traceback" not in completed.stderr
