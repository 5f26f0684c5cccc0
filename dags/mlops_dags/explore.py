"""Grafana Explore links to a DAG run's logs in Loki, for the Slack messages (no GRAFANA_URL: no link).

The query is a line filter on the Airflow run id: it matches the trainer pods' JSON lines (their `run_id`
field, from AIRFLOW_DAG_RUN_ID in the pod contract) and any other line that names the run. The URL is
Explore's current format (Grafana 10 and later): `/explore?schemaVersion=1&orgId=1&panes=<JSON>`, one pane,
the Loki datasource's uid and an absolute range in epoch milliseconds, every part percent-encoded. The
gateway builds its links the same way (serving/explore.py): the rooms share no code (docs/architecture.md).
"""

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from mlops_dags.settings import DagSettings

MARGIN_SECONDS = 5 * 60  # before the run started; after now (a late line still falls in the range)


def logql_string(value: str) -> str:
    """`value` as a LogQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_query(selector: str, run_id: str) -> str:
    """LogQL: every line of the selected streams that names the run."""
    return f"{selector} |= {logql_string(run_id)}"


def explore_url(grafana_url: str, datasource_uid: str, expr: str, start: float, end: float) -> str:
    """The Explore URL of one Loki query over [start, end] (epoch seconds)."""
    source = {"type": "loki", "uid": datasource_uid}
    queries = [{"refId": "A", "expr": expr, "queryType": "range", "datasource": source}]
    window = {"from": str(int(start * 1000)), "to": str(int(end * 1000))}
    pane = {"datasource": datasource_uid, "queries": queries, "range": window}
    query = {"schemaVersion": 1, "orgId": 1, "panes": json.dumps({"run": pane}, separators=(",", ":"))}
    return f"{grafana_url.rstrip('/')}/explore?{urlencode(query, quote_via=quote, safe='')}"


def run_logs_url(settings: DagSettings, run_id: str, started: datetime | None, now: datetime) -> str | None:
    """Explore link to the run's logs from its start to now, or None without GRAFANA_URL."""
    if not settings.grafana_url:
        return None
    start = (started or now).timestamp() - MARGIN_SECONDS
    end = now.timestamp() + MARGIN_SECONDS
    expr = run_query(settings.grafana_logs_selector, run_id)
    return explore_url(settings.grafana_url, settings.grafana_loki_uid, expr, start, end)


def logs_text(settings: DagSettings, context: Mapping[str, Any]) -> str:
    """ " Logs: <url>" for a message about the context's run, or "" without GRAFANA_URL or run id."""
    run_id = context.get("run_id")
    if not run_id:
        return ""
    dag_run = context.get("dag_run")
    started = getattr(dag_run, "start_date", None)
    url = run_logs_url(settings, str(run_id), started, datetime.now(UTC))
    return f" Logs: {url}" if url else ""
