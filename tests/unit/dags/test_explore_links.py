"""Grafana Explore links to a run's logs in the DAGs' Slack messages: Explore's URL format, encoded, the run
id as the filter, no link without GRAFANA_URL (issue 16 item 5)."""

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier
from airflow.sdk import DAG
from mlops_dags.explore import logs_text, run_logs_url
from mlops_dags.notify import dag_notifiers, task_failure_notifier
from mlops_dags.settings import DagSettings

RUN_ID = "manual__2026-11-30T20:00:00+00:00"
STARTED = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)


def _settings(**env: str) -> DagSettings:
    return DagSettings(**{"MLOPS_RUNTIME": "local", **env})


def _pane(url: str) -> dict[str, Any]:
    query = parse_qs(urlsplit(url).query, strict_parsing=True)
    assert urlsplit(url).path == "/grafana/explore"
    assert query["schemaVersion"] == ["1"] and query["orgId"] == ["1"]
    [(_, pane)] = json.loads(query["panes"][0]).items()
    return pane


def test_no_grafana_url_no_link() -> None:
    assert run_logs_url(_settings(), RUN_ID, STARTED, STARTED) is None
    assert logs_text(_settings(), {"run_id": RUN_ID}) == ""


def test_the_link_filters_on_the_run_id_over_the_run() -> None:
    settings = _settings(GRAFANA_URL="https://ops.example.internal/grafana/", GRAFANA_LOKI_UID="logs-uid")
    now = STARTED + timedelta(minutes=20)
    url = run_logs_url(settings, RUN_ID, STARTED, now)
    pane = _pane(url)
    [query] = pane["queries"]
    assert query["expr"] == '{namespace=~".+"} |= "manual__2026-11-30T20:00:00+00:00"'
    assert pane["datasource"] == "logs-uid" and query["datasource"] == {"type": "loki", "uid": "logs-uid"}
    start, end = int(pane["range"]["from"]), int(pane["range"]["to"])
    assert start == int((STARTED - timedelta(minutes=5)).timestamp() * 1000)
    assert end == int((now + timedelta(minutes=5)).timestamp() * 1000)
    value = url.split("panes=", 1)[1]
    for raw in ('"', "{", "}", "|", " ", "&", "+", "<", ">"):  # a run id's "+" must not read as a space
        assert raw not in value, raw


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    texts: list[str] = []
    monkeypatch.setattr(SlackWebhookNotifier, "notify", lambda self, context: texts.append(self.text))
    return texts


def _context() -> dict[str, Any]:
    return {
        "dag": DAG("ml_train_register_and_reload", schedule=None),  # its template env renders the text
        "ti": SimpleNamespace(task_id="train"),
        "task": SimpleNamespace(task_id="train"),
        "run_id": RUN_ID,
        "dag_run": SimpleNamespace(start_date=STARTED),
        "exception": RuntimeError("pod exited 3"),
        "reason": "task train failed",
    }


def test_failure_messages_carry_the_logs_link(sent: list[str]) -> None:
    settings = _settings(GRAFANA_URL="https://ops.example.internal/grafana")
    task_failure_notifier(settings)(_context())
    dag_notifiers(settings)["on_failure_callback"][0](_context())
    assert len(sent) == 2
    for text in sent:
        logs = text.split(" Logs: ", 1)[1]
        assert logs.startswith("https://ops.example.internal/grafana/explore?schemaVersion=1")
        assert _pane(logs)["queries"][0]["expr"].endswith(f'|= "{RUN_ID}"')
    assert sent[0].startswith(":warning: ml_train_register_and_reload.train failed: pod exited 3")


def test_without_grafana_the_messages_are_unchanged(sent: list[str]) -> None:
    task_failure_notifier(_settings())(_context())
    assert sent[0].endswith(f"/dags/ml_train_register_and_reload/runs/{RUN_ID}")
