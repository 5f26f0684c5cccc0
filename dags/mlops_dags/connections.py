"""Clients built from Airflow connections, with the workers' environment as the fallback."""

import logging
import os

from mlops_dags.registry import Registry
from mlops_dags.serving import Gateway
from mlops_dags.settings import DagSettings

log = logging.getLogger(__name__)


def _connection(conn_id: str):
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id)
    except Exception as error:  # AirflowNotFoundException and friends: fall back to the env
        log.info("connection %s not found (%s); using the environment", conn_id, type(error).__name__)
        return None


def url_of(conn) -> str | None:
    """http(s)://host[:port] of a connection (the host may already be a whole URL)."""
    if conn is None or not conn.host:
        return None
    if "://" in conn.host:
        return conn.host.rstrip("/")
    port = f":{conn.port}" if conn.port else ""
    scheme = conn.schema if conn.schema in ("http", "https") else "http"
    return f"{scheme}://{conn.host}{port}"


def gateway(settings: DagSettings, actor: str = "airflow") -> Gateway:
    """The gateway from `serving_admin` (host = URL, password = INTERNAL_API_KEY), else SERVING_URL."""
    conn = _connection(settings.serving_conn_id)
    url = url_of(conn) or settings.serving_url
    key = (conn.password if conn else None) or os.environ.get("INTERNAL_API_KEY")
    return Gateway(url, key, actor=actor)


def mlflow_uri(settings: DagSettings) -> str:
    """MLflow's URL: the `mlflow_default` connection's host, else MLFLOW_TRACKING_URI.

    The one place the DAGs and the pods they start learn where MLflow is."""
    return url_of(_connection(settings.mlflow_conn_id)) or settings.mlflow_tracking_uri


def registry(settings: DagSettings) -> Registry:
    """MLflow at `mlflow_uri` (token: the `mlflow_default` connection's password)."""
    conn = _connection(settings.mlflow_conn_id)
    return Registry(url_of(conn) or settings.mlflow_tracking_uri, token=conn.password if conn else None)
