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


@pytest.fixture(scope="session")
def rendered_workers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """env → what a KubernetesExecutor worker sees (plain env, KPO pod template) in the official Airflow
    chart rendered with our values, as CI renders it (the real helm and the vendored chart)."""
    import subprocess

    from ci.validate import kpo_pods, render
    from ci.validate.manifests import parse_documents
    from ci.validate.settings import Settings, missing_vendor

    settings = Settings.from_env()
    if missing := missing_vendor(settings):  # one line for the session, not an error per test
        pytest.exit(missing, returncode=2)
    if not Path(settings.helm).is_file():
        subprocess.run(["bash", str(REPO_ROOT / "ci" / "install-tools.sh")], check=True, cwd=REPO_ROOT)
    settings = Settings(**{**settings.__dict__, "build": tmp_path_factory.mktemp("airflow-render")})
    chart = render.airflow_chart(settings)
    workers = {}
    for env in render.environments(REPO_ROOT):
        values = [
            REPO_ROOT / "charts/airflow/values/base.yaml",
            REPO_ROOT / f"charts/airflow/values/{env['env']}.yaml",
        ]
        text, findings = render.helm_template(
            settings, "airflow", chart, env["namespace"], values, env["env"]
        )
        assert text is not None, [str(f) for f in findings]
        workers[env["env"]] = kpo_pods.worker_of(parse_documents(text, f"rendered/airflow-{env['env']}.yaml"))
    return workers
