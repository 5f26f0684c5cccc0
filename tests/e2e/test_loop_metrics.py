"""Every metric the Grafana dashboards name is exported by the running local stack after the loop ran.

Runs on the session's Airflow stack (the `loop` fixture) after tests/e2e/test_loop.py (file order); run
alone, it first runs one release that trains and fails its quality gate, so Airflow has emitted DAG run and
task metrics. It then reads the stack's metrics endpoints (what the local Prometheus scrapes, jobs
`gateway`, `mlflow`, `airflow`) and checks each name read by each dashboard expression (the committed
JSON, names found by observability.promql's tokenizer): a sample of it, or its `# TYPE` declaration
(labelled metrics not observed yet), or the histogram/summary it is a series of."""

import httpx
import pytest

from observability.dashboards import OUTPUT_DIR
from observability.dashboards.queries import committed_expressions, metric_names
from observability.exposition import Exposition, parse
from tests.e2e.conftest import Loop
from tests.support.stack import RunningStack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
TRAIN = "ml_train_register_and_reload"
# Series Prometheus writes itself for every scrape target.
PROMETHEUS_SERIES = {"up"}


def metrics_endpoints(running: RunningStack) -> dict[str, str]:
    """Scrape job -> /metrics URL of the stack's services, as the local Prometheus scrapes them."""
    settings = running.settings
    return {
        "gateway": f"{settings.serving_url}/metrics",
        "mlflow": f"{settings.mlflow_uri}/metrics",
        "airflow": settings.airflow_metrics_url,
    }


def scrape(urls: dict[str, str]) -> tuple[dict[str, Exposition], list[str]]:
    """Each job's exposition, and what went wrong with the jobs that did not answer one."""
    scraped, problems = {}, []
    for job, url in urls.items():
        try:
            response = httpx.get(url, timeout=30)
        except httpx.HTTPError as error:
            problems.append(f"{job}: GET {url}: {error!r}")
            continue
        if response.status_code != 200:
            problems.append(f"{job}: GET {url} answered {response.status_code}")
            continue
        scraped[job] = parse(response.text)
    return scraped, problems


def test_every_metric_a_dashboard_names_is_exported_after_the_loop(loop: Loop) -> None:
    if not any(run.finished for run in loop.airflow.runs(TRAIN)):
        loop.run(TRAIN, {"alias": "challenger", "quality_threshold": 0.999}, "dashboards")
    scraped, problems = scrape(metrics_endpoints(loop.running))
    missing = {
        name: sorted({f"{e.dashboard} {e.where}" for e in uses})
        for name, uses in metric_names(committed_expressions(OUTPUT_DIR)).items()
        if name not in PROMETHEUS_SERIES and not any(found.exports(name) for found in scraped.values())
    }
    assert not problems and not missing, (
        f"endpoints that failed: {problems}; named by a dashboard, exported by no job of {sorted(scraped)}: "
        f"{missing}"
    )
