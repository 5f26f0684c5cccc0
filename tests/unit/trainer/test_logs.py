"""The trainer's log lines: JSON on stderr with the Airflow ids the pod contract passes (issue 16 item 5)."""

import json
import logging
import sys
from pathlib import Path

import pytest
from loguru import logger

from trainer import cli, logs

IRIS = Path(__file__).resolve().parents[3] / "trainer" / "configs" / "iris.json"
RUN_ID = "manual__2026-11-30T20:00:00+00:00"


@pytest.fixture(autouse=True)
def _restore_loguru():
    yield
    logger.remove()
    logger.configure(extra={})
    logger.add(sys.stderr)
    logging.basicConfig(handlers=[], force=True)


def _lines(err: str) -> list[dict]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def test_the_cli_binds_the_airflow_ids_from_the_pod_env(monkeypatch, capsys) -> None:
    monkeypatch.setenv("AIRFLOW_DAG_RUN_ID", RUN_ID)
    monkeypatch.setenv("AIRFLOW_DAG_ID", "ml_train_register_and_reload")
    monkeypatch.setenv("AIRFLOW_TASK_ID", "train")
    assert cli.run(["validate", "--config", str(IRIS)]) == 0
    logger.info("after validate")
    [line] = _lines(capsys.readouterr().err)
    assert line["message"] == "after validate" and line["level"] == "INFO" and line["service"] == "trainer"
    ids = (line["run_id"], line["dag_id"], line["task_id"])
    assert ids == (RUN_ID, "ml_train_register_and_reload", "train")


def test_airflows_own_context_names_are_read_too(monkeypatch, capsys) -> None:
    for name in ("AIRFLOW_DAG_RUN_ID", "AIRFLOW_DAG_ID", "AIRFLOW_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIRFLOW_CTX_DAG_RUN_ID", "scheduled__1")
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "d")
    monkeypatch.setenv("AIRFLOW_CTX_TASK_ID", "t")
    assert cli.run(["validate", "--config", str(IRIS)]) == 0
    logger.warning("x")
    [line] = _lines(capsys.readouterr().err)
    ids = (line["run_id"], line["dag_id"], line["task_id"], line["level"])
    assert ids == ("scheduled__1", "d", "t", "WARNING")


def test_without_ids_the_fields_are_left_out_and_stdlib_lines_are_json_too(monkeypatch, capsys) -> None:
    for name in ("AIRFLOW_DAG_RUN_ID", "AIRFLOW_CTX_DAG_RUN_ID", "AIRFLOW_DAG_ID", "AIRFLOW_CTX_DAG_ID"):
        monkeypatch.delenv(name, raising=False)
    logs.setup()
    logs.bind_ids(None, None, "register")
    logs.route_stdlib("mlflow")
    logging.getLogger("mlflow.tracking").info("registered %s", "iris")
    try:
        raise ValueError("bad")
    except ValueError:
        logger.exception("failed")
    first, second = _lines(capsys.readouterr().err)
    assert first["message"] == "registered iris" and first["task_id"] == "register" and "run_id" not in first
    assert second["level"] == "ERROR" and second["exception"] == "ValueError: bad"
