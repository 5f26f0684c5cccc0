"""The full stack's Prometheus and Alertmanager: targets scraped, rules loaded, a broken canary's alert
delivered to the Slack sink (.stack/slack.jsonl) with its model and runbook."""

import contextlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient

from ops.local.stack.monitoring import scrape_jobs
from ops.local.stack.slack_sink import message_text, read_messages
from tests.integration.serving.conftest import _register_faulty
from tests.integration.serving.support import iris_body, wait_for
from tests.support.alerting import ALERT_MODEL, CHALLENGER_ALIAS, CHAMPION_ALIAS
from tests.support.stack import RunningStack, train_and_register

pytestmark = pytest.mark.full

ALERT = "ServingCanaryAborted"


def _prometheus(stack: RunningStack, path: str) -> Any:
    answer = httpx.get(stack.settings.prometheus_url + path, timeout=10).raise_for_status().json()
    assert answer["status"] == "success", answer
    return answer["data"]


def _targets(stack: RunningStack) -> dict[str, dict[str, str]]:
    """Each scrape job's target: its health and last scrape error."""
    targets = _prometheus(stack, "/api/v1/targets?state=active")["activeTargets"]
    return {t["labels"]["job"]: {"health": t["health"], "error": t["lastError"]} for t in targets}


def test_prometheus_scrapes_the_stack_and_loads_the_rule_files(full_stack: RunningStack) -> None:
    jobs = {job.name for job in scrape_jobs(full_stack.settings)}
    assert jobs == {"gateway", "mlflow", "airflow"}
    expected = {"prometheus", *jobs}

    def all_up() -> bool:
        targets = _targets(full_stack)
        return set(targets) == expected and all(t["health"] == "up" for t in targets.values())

    # Prometheus lists no target until its discovery ran, a target is `unknown` until its first scrape,
    # and a scrape that failed may succeed next time; the asserts below say which target is not up and why
    with contextlib.suppress(AssertionError):
        wait_for(all_up, 60, what="targets up")
    targets = _targets(full_stack)
    assert set(targets) == expected
    assert all(target["health"] == "up" for target in targets.values()), targets

    groups = _prometheus(full_stack, "/api/v1/rules")["groups"]
    files = {Path(group["file"]).name for group in groups}
    rule_files = Path(full_stack.settings.prometheus_rule_files)
    assert files == {path.name for path in rule_files.parent.glob(rule_files.name)} and files
    alerts = {rule["name"] for group in groups for rule in group["rules"] if rule["type"] == "alerting"}
    assert ALERT in alerts
    assert all(rule["health"] != "err" for group in groups for rule in group["rules"]), groups


def _runbook(stack: RunningStack) -> str:
    """The runbook link of ALERT as Prometheus loaded it."""
    groups = _prometheus(stack, "/api/v1/rules")["groups"]
    (runbook,) = {r["annotations"]["runbook_url"] for g in groups for r in g["rules"] if r["name"] == ALERT}
    assert runbook.startswith("https://")
    return runbook


def _canary(gateway: httpx.Client) -> dict[str, Any]:
    return gateway.get(f"/v1/models/{ALERT_MODEL}").raise_for_status().json()["canary"]


def _alerts(stack: RunningStack, since: int, status: str) -> list[dict]:
    """Alertmanager's Slack notifications about ALERT in `status`, recorded after message `since`."""
    messages = read_messages(stack.slack_log)[since:]
    tag = f"[{status.upper()}"
    return [
        m
        for m in messages
        if m.get("username") == "alertmanager"
        and any(a.get("title", "").startswith(tag) and ALERT in a.get("title", "") for a in m["attachments"])
    ]


def test_a_broken_canary_alerts_slack_through_prometheus_and_alertmanager(
    full_stack: RunningStack, tmp_path: Path
) -> None:
    settings = full_stack.settings
    train_and_register(full_stack, tmp_path, "iris", alias=CHAMPION_ALIAS, name=ALERT_MODEL)
    faulty = _register_faulty(full_stack.tracking_uri, ALERT_MODEL)
    MlflowClient(full_stack.tracking_uri).set_registered_model_alias(ALERT_MODEL, CHALLENGER_ALIAS, faulty)
    mark = len(read_messages(full_stack.slack_log))

    with httpx.Client(base_url=settings.serving_url, timeout=30) as gateway:
        # the gateway re-reads the aliases every 2 s: the canary starts once both variants are loaded
        wait_for(lambda: _canary(gateway)["status"] == "running", 300, what="the canary to start")
        for i in range(2000):
            gateway.post(
                f"/v1/models/{ALERT_MODEL}/predict", json=iris_body(), headers={"X-Routing-Key": f"user-{i}"}
            )
            if i % 10 == 9 and _canary(gateway)["status"] == "aborted":
                break
        canary = _canary(gateway)
    assert canary["status"] == "aborted", canary

    firing = wait_for(lambda: _alerts(full_stack, mark, "firing"), 300, what=f"{ALERT} firing in Slack")
    text = message_text(firing[0])
    assert f"model `{ALERT_MODEL}`" in text and f"({ALERT_MODEL})" in text
    assert f"Runbook: {_runbook(full_stack)}" in text
    attachment = firing[0]["attachments"][0]
    assert attachment["color"] == "danger"
    assert attachment["title_link"].startswith(settings.alertmanager_url)
