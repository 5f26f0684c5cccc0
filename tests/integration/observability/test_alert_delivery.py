"""Alert delivery with the configs the full stack generates: the real Prometheus and Alertmanager and the
Slack sink (only these three, seconds to start), a rule that fires and then resolves by itself; both
notifications reach slack.jsonl, readable."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ops.local.stack import monitoring, process
from ops.local.stack.services import Service, slack_sink
from ops.local.stack.settings import REPO_ROOT, StackSettings
from ops.local.stack.slack_sink import message_text, read_messages
from ops.local.stack.stack import service_healthy
from tests.integration.serving.support import wait_for
from tests.support.ports import free_port

# Fires for 12 s of every 20: a firing notification, then a resolved one.
FLAPPING_RULE = {
    "alert": "LocalStackFlapping",
    "expr": "(vector(time()) % 20) < 12",
    "labels": {"severity": "warning", "model": "flap-model"},
    "annotations": {
        "summary": "flap-model flaps",
        "description": "A test alert that resolves by itself.",
        "runbook_url": "https://example.org/runbooks#localstackflapping",
    },
}


@pytest.fixture
def alerting(tmp_path: Path) -> Iterator[StackSettings]:
    rules = tmp_path / "test.rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "test", "rules": [FLAPPING_RULE]}]}))
    settings = StackSettings.model_validate(
        {
            "mode": "full",
            "state_dir": tmp_path / "state",
            "slack_sink_port": free_port(),
            "prometheus_port": free_port(),
            "alertmanager_port": free_port(),
            "prometheus_rule_files": str(rules),
            "scrape_interval": "1s",
            "evaluation_interval": "1s",
            "alert_group_wait": "1s",
            "alert_group_interval": "2s",
            "with_gateway": False,
        }
    )
    monitoring.write_configs(settings)
    services: list[Service] = [
        slack_sink(settings),
        monitoring.alertmanager_server(settings),
        monitoring.prometheus_server(settings),
    ]
    try:
        for service in services:
            process.start(
                service.argv, service.env, service.log_file(settings), service.pid_file(settings), REPO_ROOT
            )
            wait_for(lambda service=service: service_healthy(service), 60, what=f"{service.name} ready")
        yield settings
    finally:
        for service in reversed(services):
            process.stop(service.pid_file(settings))


def _notifications(settings: StackSettings, status: str) -> list[dict]:
    return [
        m
        for m in read_messages(settings.slack_log)
        if m["attachments"][0]["title"].startswith(f"[{status}") and "LocalStackFlapping" in message_text(m)
    ]


def test_a_firing_and_a_resolved_alert_reach_the_slack_sink(alerting: StackSettings) -> None:
    (firing, *_) = wait_for(lambda: _notifications(alerting, "FIRING"), 120, what="the firing notification")
    (resolved, *_) = wait_for(lambda: _notifications(alerting, "RESOLVED"), 120, what="the resolved one")
    text = message_text(firing)
    assert text.splitlines()[0] == "[FIRING:1] LocalStackFlapping (flap-model)"
    assert "*LocalStackFlapping* model `flap-model` severity warning: firing" in text
    assert "flap-model flaps" in text and "A test alert that resolves by itself." in text
    assert "Runbook: https://example.org/runbooks#localstackflapping" in text
    assert firing["attachments"][0]["color"] == "danger" and resolved["attachments"][0]["color"] == "good"
    assert message_text(resolved).splitlines()[0] == "[RESOLVED] LocalStackFlapping (flap-model)"
    assert firing["username"] == "alertmanager" and firing["channel"] == "#mlops-alerts"
