"""The full stack's Prometheus and Alertmanager: generated configs (checked by promtool and amtool), how
they run, the settings that tune them, and the Slack sink taking Alertmanager's payloads."""

import json
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from ops.local.stack import Stack, StackError, monitoring
from ops.local.stack.settings import REPO_ROOT, StackSettings
from ops.local.stack.slack_sink import message_text, read_messages, serve
from tests.support.ports import free_port


def _full(tmp_path: Path, **env: str) -> StackSettings:
    return StackSettings(MLOPS_STACK="full", MLOPS_STACK_DIR=tmp_path, **env)


def test_generated_configs_pass_promtool_and_amtool(tmp_path: Path) -> None:
    settings = _full(tmp_path)
    monitoring.write_configs(settings)
    for argv in (
        ["promtool", "check", "config", str(monitoring.prometheus_config_file(settings))],
        ["amtool", "check-config", str(monitoring.alertmanager_config_file(settings))],
    ):
        checked = subprocess.run(argv, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_prometheus_scrapes_the_stack_and_alerts_to_the_local_alertmanager(tmp_path: Path) -> None:
    ports = {"SERVING_PORT": "18000", "MLFLOW_PORT": "15000", "AIRFLOW_METRICS_PORT": "19102"}
    settings = _full(tmp_path, ALERTMANAGER_PORT="19093", **ports)
    config = monitoring.prometheus_config(settings)
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert targets["gateway"] == ["127.0.0.1:18000"] and targets["mlflow"] == ["127.0.0.1:15000"]
    assert targets["airflow"] == ["127.0.0.1:19102"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:19093"]
    assert config["rule_files"] == [str(REPO_ROOT / "observability" / "rules" / "*.rules.yaml")]
    alone = monitoring.prometheus_config(
        _full(tmp_path, MLOPS_STACK_GATEWAY="false", MLOPS_STACK_AIRFLOW="false")
    )
    assert [job["job_name"] for job in alone["scrape_configs"]] == ["prometheus", "mlflow"]


def test_alertmanager_sends_firing_and_resolved_to_the_slack_sink(tmp_path: Path) -> None:
    settings = _full(tmp_path, SLACK_SINK_PORT="18025", ALERTMANAGER_GROUP_WAIT="1s")
    config = monitoring.alertmanager_config(settings)
    assert config["route"]["group_wait"] == "1s" and config["route"]["group_interval"] == "5m"
    (receiver,) = config["receivers"]
    assert config["route"]["receiver"] == receiver["name"]
    (slack,) = receiver["slack_configs"]
    assert slack["api_url"] == settings.slack_webhook_url and slack["send_resolved"] is True
    assert "runbook_url" in slack["text"]


def test_both_listen_on_loopback_keep_data_in_the_state_dir_and_alertmanager_runs_alone(
    tmp_path: Path,
) -> None:
    settings = _full(tmp_path, PROMETHEUS_PORT="19090", ALERTMANAGER_PORT="19093")
    prometheus = monitoring.prometheus_server(settings)
    alertmanager = monitoring.alertmanager_server(settings)
    assert "--web.listen-address=127.0.0.1:19090" in prometheus.argv
    assert f"--storage.tsdb.path={tmp_path / 'monitoring' / 'prometheus'}" in prometheus.argv
    assert prometheus.health_url == "http://127.0.0.1:19090/-/ready"
    assert "--web.listen-address=127.0.0.1:19093" in alertmanager.argv
    assert "--cluster.listen-address=" in alertmanager.argv
    assert f"--storage.path={tmp_path / 'monitoring' / 'alertmanager'}" in alertmanager.argv
    assert alertmanager.health_url == "http://127.0.0.1:19093/-/ready"


def test_only_the_full_stack_runs_them_and_status_lists_them(tmp_path: Path) -> None:
    names = [svc.name for svc in Stack(_full(tmp_path, MLOPS_STACK_AIRFLOW="false")).services()]
    assert names[-2:] == ["alertmanager", "prometheus"]
    off = _full(tmp_path, MLOPS_STACK_MONITORING="false", MLOPS_STACK_AIRFLOW="false")
    assert "prometheus" not in [svc.name for svc in Stack(off).services()]
    embedded = StackSettings(MLOPS_STACK_DIR=tmp_path, MLOPS_STACK_AIRFLOW="false")
    assert "prometheus" not in [svc.name for svc in Stack(embedded).services()]
    rows = {row.name: row for row in Stack(_full(tmp_path, MLOPS_STACK_AIRFLOW="false")).status()}
    assert rows["prometheus"].endpoint == "http://127.0.0.1:9090" and rows["prometheus"].pid is None
    assert rows["alertmanager"].endpoint == "http://127.0.0.1:9093"


def test_a_bad_interval_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="PROMETHEUS_SCRAPE_INTERVAL"):
        _full(tmp_path, PROMETHEUS_SCRAPE_INTERVAL="15 seconds")
    assert _full(tmp_path, PROMETHEUS_SCRAPE_INTERVAL="1m30s").scrape_interval == "1m30s"


def test_missing_binaries_say_how_to_install_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError, match=r"ci/system-deps\.sh prometheus"):
        monitoring.check_installed()


ALERTMANAGER_PAYLOAD = {
    "channel": "#mlops-alerts",
    "username": "alertmanager",
    "attachments": [
        {
            "title": "[FIRING:1] ServingCanaryAborted (iris)",
            "text": "*ServingCanaryAborted* model `iris`: firing\nRunbook: https://example.org/runbook\n",
            "color": "danger",
        }
    ],
}


def test_the_sink_records_alertmanager_attachments_and_still_refuses_empty_messages(tmp_path: Path) -> None:
    file = tmp_path / "slack.jsonl"
    server = serve("127.0.0.1", free_port(), file)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/services/local/webhook"
    try:
        accepted = httpx.post(url, content=json.dumps(ALERTMANAGER_PAYLOAD), timeout=10)
        assert (accepted.status_code, accepted.text) == (200, "ok")
        empty = httpx.post(url, json={"channel": "#x", "attachments": []}, timeout=10)
        assert (empty.status_code, empty.text) == (400, "no_text")
    finally:
        server.shutdown()
        server.server_close()
    (recorded,) = read_messages(file)
    assert recorded == ALERTMANAGER_PAYLOAD
    assert message_text(recorded).splitlines()[0] == "[FIRING:1] ServingCanaryAborted (iris)"
    assert "Runbook: https://example.org/runbook" in message_text(recorded)
    assert json.loads(file.read_text().splitlines()[0])["attachments"][0]["color"] == "danger"
