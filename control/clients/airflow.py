"""Airflow's REST API through `airflow_rest` (a standalone client package, no Airflow import): one
client per thread, since a client holds its own connection pool and token."""

import threading
from typing import Any

import httpx

from airflow_rest import AirflowClient
from control.settings import ControlSettings


class AirflowClients:
    """Hands each thread its own logged-in client."""

    def __init__(
        self, settings: ControlSettings, timeout: float = 30.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self._settings = settings
        self._timeout = timeout
        self._transport = transport
        self._local = threading.local()
        self._all: list[AirflowClient] = []
        self._lock = threading.Lock()

    def get(self) -> AirflowClient:
        client = getattr(self._local, "client", None)
        if client is None:
            s = self._settings
            client = AirflowClient(
                s.airflow_url,
                s.airflow_user,
                s.airflow_password.get_secret_value(),
                timeout=self._timeout,
                transport=self._transport,
            )
            self._local.client = client
            with self._lock:
                self._all.append(client)
        return client

    def close(self) -> None:
        with self._lock:
            for client in self._all:
                client.close()
            self._all.clear()


def failure_line(entries: list[Any]) -> str | None:
    """The last exception (`Type: message`) or error line of a task log, one line, at most 500 chars."""
    for entry in reversed(entries):
        if not isinstance(entry, dict):
            continue
        for detail in reversed(entry.get("error_detail") or []):
            if isinstance(detail, dict) and detail.get("exc_type"):
                return f"{detail['exc_type']}: {detail.get('exc_value', '')}".strip().splitlines()[0][:500]
    for entry in reversed(entries):
        if isinstance(entry, dict) and str(entry.get("level", "")).lower() in ("error", "critical"):
            text = str(entry.get("event", "")).strip()
            if text:
                return text.splitlines()[0][:500]
    return None
