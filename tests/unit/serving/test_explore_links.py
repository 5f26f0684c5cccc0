"""Grafana Explore links in the gateway's Slack messages: Explore's URL format, encoded, and no link without
GRAFANA_URL (issue 16 item 5)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from serving.explore import LogLinks, explore_url, logql_string
from serving.slack import Slack, SlackNotifier

LINKS = LogLinks("https://grafana.example.internal/", "loki", '{namespace="mlops-prod"}')


def _pane(url: str) -> tuple[str, dict[str, Any]]:
    parts = urlsplit(url)
    query = parse_qs(parts.query, strict_parsing=True)
    assert query["schemaVersion"] == ["1"] and query["orgId"] == ["1"]
    [panes] = query["panes"]
    [(_, pane)] = json.loads(panes).items()
    return f"{parts.scheme}://{parts.netloc}{parts.path}", pane


def test_the_url_is_explores_panes_format_and_decodes_to_the_query():
    expr = '{namespace="mlops-prod"} |= "manual__2026-11-30T20:00:00+00:00"'
    url = explore_url("https://grafana.example.internal/", "loki", expr, 1_700_000_000.5, 1_700_000_600)
    base, pane = _pane(url)
    assert base == "https://grafana.example.internal/explore"
    assert pane["datasource"] == "loki"
    [query] = pane["queries"]
    assert query["expr"] == expr and query["datasource"] == {"type": "loki", "uid": "loki"}
    assert pane["range"] == {"from": "1700000000500", "to": "1700000600000"}
    value = url.split("panes=", 1)[1]
    # Slack's <url|text> and the query string: nothing in the value that would end or split either.
    for raw in ('"', "{", "}", "|", " ", "&", "+", ">", "<", "#"):
        assert raw not in value, raw


def test_logql_strings_escape_quotes_and_backslashes():
    assert logql_string('a"b\\c') == '"a\\"b\\\\c"'


def test_no_grafana_url_no_link():
    assert LogLinks(None).for_event({"type": "rollback", "model": "iris", "at": 1.0, "data": {}}) is None
    assert LogLinks("").for_event({"type": "rollback", "model": "iris", "at": 1.0, "data": {}}) is None


def test_an_airflow_ordered_event_links_to_the_runs_logs():
    run_id = "manual__2026-11-30T20:00:00+00:00"
    item = {
        "type": "rollback",
        "model": "iris",
        "at": 1_700_000_000.0,
        "data": {"actor": f"airflow:rollback_model/{run_id}", "to_version": "3"},
    }
    _, pane = _pane(LINKS.for_event(item))
    assert pane["queries"][0]["expr"] == f'{{namespace="mlops-prod"}} |= "{run_id}"'
    start, end = int(pane["range"]["from"]), int(pane["range"]["to"])
    assert start < 1_700_000_000_000 < end


def test_a_canary_abort_links_to_the_versions_lines():
    item = {"type": "canary_abort", "model": "iris", "at": 1_700_000_000.0, "data": {"version": "7"}}
    _, pane = _pane(LINKS.for_event(item))
    assert pane["queries"][0]["expr"] == '{namespace="mlops-prod"} | json | model="iris" | version="7"'


class Recording(Slack):
    def __init__(self) -> None:
        super().__init__(None)
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    def notify(self, kind: str, title: str, **fields: Any) -> None:
        self.sent.append((kind, title, fields))


def test_slack_messages_carry_the_link_only_when_grafana_is_set():
    item = {
        "type": "reload_failed",
        "model": "iris",
        "at": 1_700_000_000.0,
        "replica": "r1",
        "data": {"alias": "challenger", "version": "4", "reason": "cannot load"},
    }
    with_link, without = Recording(), Recording()
    SlackNotifier(with_link, LINKS)(item)
    SlackNotifier(without)(item)
    [(_, _, fields)] = with_link.sent
    assert fields["logs"].startswith("<https://grafana.example.internal/explore?schemaVersion=1")
    assert fields["logs"].endswith("|Grafana Explore>")
    assert "logs" not in without.sent[0][2]
