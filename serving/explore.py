"""Grafana Explore links to the gateway's logs in Loki, for Slack messages (no GRAFANA_URL: no link).

The URL is Explore's current format (Grafana 10 and later): `/explore?schemaVersion=1&orgId=1&panes=<JSON>`,
one pane with the Loki datasource's uid, one LogQL query and an absolute time range in epoch milliseconds
(a link opened days later still shows the moment it was sent for). Every part is percent-encoded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

BEFORE_SECONDS = 30 * 60  # requests that led to a decision (a canary window, a failing reload)
AFTER_SECONDS = 10 * 60


def logql_string(value: str) -> str:
    """`value` as a LogQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def explore_url(grafana_url: str, datasource_uid: str, expr: str, start: float, end: float) -> str:
    """The Explore URL of one Loki query over [start, end] (epoch seconds)."""
    datasource = {"type": "loki", "uid": datasource_uid}
    pane = {
        "datasource": datasource_uid,
        "queries": [{"refId": "A", "expr": expr, "queryType": "range", "datasource": datasource}],
        "range": {"from": str(int(start * 1000)), "to": str(int(end * 1000))},
    }
    query = {"schemaVersion": 1, "orgId": 1, "panes": json.dumps({"logs": pane}, separators=(",", ":"))}
    return f"{grafana_url.rstrip('/')}/explore?{urlencode(query, quote_via=quote, safe='')}"


@dataclass(frozen=True)
class LogLinks:
    """Where Grafana is, the uid of its Loki datasource, and the stream selector of our pods."""

    grafana_url: str | None
    datasource_uid: str = "loki"
    selector: str = '{namespace=~".+"}'

    def for_event(self, item: dict[str, Any]) -> str | None:
        """Logs around one gateway event: the Airflow run that ordered it (its actor names the run id),
        else the access and error lines of the model (and version) it concerns."""
        if not self.grafana_url:
            return None
        at, data = float(item.get("at") or 0.0), item.get("data") or {}
        actor = str(data.get("actor") or "")
        if actor.startswith("airflow:") and "/" in actor:
            expr = f"{self.selector} |= {logql_string(actor.split('/', 1)[1])}"
        else:
            expr = f"{self.selector} | json | model={logql_string(str(item.get('model') or ''))}"
            version = data.get("version") or data.get("to_version")
            if version is not None:
                expr += f" | version={logql_string(str(version))}"
        start, end = at - BEFORE_SECONDS, at + AFTER_SECONDS
        return explore_url(self.grafana_url, self.datasource_uid, expr, start, end)
