"""The local stack's StatsD exporter: Airflow's StatsD lines become the Prometheus series the alert rules
and dashboards read, with the mapping the cluster's exporter uses (charts/airflow/values/base.yaml)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import statsd
from prometheus_client import CollectorRegistry, generate_latest

from ops.local.airflow.statsd import Exporter, load_rules
from ops.local.stack.settings import REPO_ROOT
from tests.support.ports import free_port


def _exporter() -> tuple[Exporter, CollectorRegistry]:
    exporter = Exporter(load_rules())
    registry = CollectorRegistry()
    registry.register(exporter)
    return exporter, registry


def test_dag_run_durations_are_histograms_in_seconds_by_dag_and_state():
    exporter, registry = _exporter()
    exporter.handle(
        "airflow.dagrun.duration.failed.train:120000|ms\nairflow.dagrun.duration.success.train:5000|ms"
    )
    exporter.handle("airflow.dagrun.duration.success.train:7200000|ms")
    value = registry.get_sample_value
    failed = {"dag_id": "train", "state": "failed"}
    success = {"dag_id": "train", "state": "success"}
    assert value("airflow_dagrun_duration_seconds_count", failed) == 1
    assert value("airflow_dagrun_duration_seconds_sum", failed) == 120.0
    assert (
        value("airflow_dagrun_duration_seconds_bucket", {**success, "le": "3600"}) == 1
    )  # as the Go exporter writes it
    assert value("airflow_dagrun_duration_seconds_bucket", {**success, "le": "+Inf"}) == 2
    # the legacy name without the dag (Airflow 3 sends both) is not mapped: its own name, a summary
    exporter.handle("airflow.dagrun.duration.success:5000|ms")
    assert value("airflow_dagrun_duration_success_count", {}) == 1


def test_counters_gauges_and_bad_lines_follow_the_statsd_exporter():
    exporter, registry = _exporter()
    exporter.handle("airflow.ti.finish.train.fit.failed:1|c\nairflow.ti.finish.train.fit.failed:1|c|@0.5")
    exporter.handle("airflow.executor.open_slots:4|g\nairflow.executor.open_slots:-1|g\nnot a line\nx:1|zz")
    exporter.handle("airflow.scheduler_heartbeat:1|c")
    value = registry.get_sample_value
    assert value("airflow_ti_finish_total", {"dag_id": "train", "task_id": "fit", "state": "failed"}) == 3
    assert value("airflow_executor_open_slots", {}) == 3
    assert value("airflow_scheduler_heartbeat_total", {}) == 1
    text = generate_latest(registry).decode()
    assert "airflow_scheduler_heartbeat_total 1.0" in text  # the name as mapped, no second _total


def test_every_airflow_metric_the_rules_use_is_mapped():
    rules = (REPO_ROOT / "observability" / "rules" / "airflow.rules.yaml").read_text()
    used = set(re.findall(r"\b(airflow_[a-z_]+?)(?:_count|_bucket|_sum)?\{", rules))
    mapped = {rule.name for rule in load_rules()}
    assert used and used <= mapped, used - mapped


def test_the_exporter_process_takes_udp_and_answers_scrapes(tmp_path: Path):
    udp, http = free_port(), free_port()
    argv = [
        sys.executable,
        "-m",
        "ops.local.airflow.statsd",
        "--udp-port",
        str(udp),
        "--http-port",
        str(http),
    ]
    log = (tmp_path / "statsd.log").open("w")
    process = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        client = statsd.StatsClient("127.0.0.1", udp, prefix="airflow")
        url = f"http://127.0.0.1:{http}/metrics"
        deadline = time.monotonic() + 120
        text = ""
        while time.monotonic() < deadline and "airflow_dagrun_duration_seconds_count" not in text:
            client.timing("dagrun.duration.failed.release", 1500)  # UDP: sent until the exporter listens
            time.sleep(0.5)
            try:
                text = httpx.get(url, timeout=5).text
            except httpx.HTTPError:
                continue
        assert re.search(
            r'airflow_dagrun_duration_seconds_count\{dag_id="release",state="failed"\} [1-9]', text
        )
    finally:
        process.terminate()
        process.wait(timeout=30)
