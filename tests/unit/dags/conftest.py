"""Airflow for DAG unit tests: a private AIRFLOW_HOME (set before Airflow is imported) and one DagBag."""

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
DAGS_DIR = REPO_ROOT / "dags"

if "airflow" not in sys.modules:
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="mlops-airflow-unit-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_DIR)
# The DagBag is parsed as the deployment parses it (subprocess runs set their own env).
os.environ["MLOPS_RUNTIME"] = "kubernetes"
os.environ.pop("MLOPS_ROLLBACK_MODE", None)
if str(DAGS_DIR) not in sys.path:
    sys.path.insert(0, str(DAGS_DIR))


@pytest.fixture(scope="session")
def dagbag() -> Any:
    """dags/ parsed once per session; prints each file's import time (a benchmark line)."""
    from airflow.dag_processing.dagbag import DagBag

    started = time.perf_counter()
    bag = DagBag(dag_folder=str(DAGS_DIR))
    total = time.perf_counter() - started
    for stat in bag.dagbag_stats:
        print(f"\nBENCH dag import {stat.file}: {stat.duration.total_seconds():.3f}s ({stat.dag_num} DAGs)")
    print(f"BENCH DagBag total (with Airflow imports): {total:.2f}s")
    return bag
