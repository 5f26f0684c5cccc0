"""An in-process stand-in for the part of Airflow 3's REST API the clients use (httpx.MockTransport), for
unit tests of client and trigger logic. The same clients run against the real Airflow in tests/e2e.

It answers like Airflow 3.3: `POST /auth/token` (201, 401 on bad credentials), Bearer tokens (401 when
expired), `POST .../dagRuns` (200, 409 when the run id exists), run, runs (run_id_prefix_pattern,
newest first), task instances, DAG details."""

import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import httpx

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class FakeAirflow:
    users: dict[str, str] = field(default_factory=lambda: {"ci": "secret"})
    dags: dict[str, bool] = field(default_factory=lambda: {"ml_train_register_and_reload": False})
    runs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    calls: list[tuple[str, str]] = field(default_factory=list)
    _clock: itertools.count = field(default_factory=itertools.count)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def created(self, dag_id: str = "ml_train_register_and_reload") -> list[str]:
        return [run_id for (dag, run_id) in self.runs if dag == dag_id]

    # -- routing ------------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        path = unquote(request.url.path)
        self.calls.append((request.method, path))
        if path == "/auth/token" and request.method == "POST":
            body = json.loads(request.content or b"{}")
            if self.users.get(body.get("username")) != body.get("password") or not body.get("password"):
                return httpx.Response(401, json={"detail": "Invalid credentials"})
            token = f"token-{len(self.tokens)}-{next(self._clock)}"
            self.tokens.add(token)
            return httpx.Response(201, json={"access_token": token})
        if path == "/api/v2/monitor/health":
            return httpx.Response(200, json={"metadatabase": {"status": "healthy"}})
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return httpx.Response(401, json={"detail": "Not authenticated"})
        match = re.fullmatch(r"/api/v2/dags/([^/]+)(?:/dagRuns(?:/([^/]+)(/taskInstances)?)?)?", path)
        if not match:
            return httpx.Response(404, json={"detail": "Not Found"})
        dag_id, run_id, tis = match.groups()
        if dag_id not in self.dags:
            return httpx.Response(404, json={"detail": f"The Dag with ID: `{dag_id}` was not found"})
        if path.endswith(f"/{dag_id}"):
            return httpx.Response(200, json={"dag_id": dag_id, "is_paused": self.dags[dag_id]})
        if run_id is None and request.method == "POST":
            return self._trigger(dag_id, json.loads(request.content))
        if run_id is None:
            return self._list(dag_id, request.url.params)
        run = self.runs.get((dag_id, run_id))
        if run is None:
            return httpx.Response(404, json={"detail": f"The DagRun with dag_id: `{dag_id}` was not found"})
        if tis:
            return httpx.Response(200, json={"task_instances": [], "total_entries": 0})
        return httpx.Response(200, json=run)

    def _trigger(self, dag_id: str, body: dict[str, Any]) -> httpx.Response:
        run_id = body["dag_run_id"]
        if (dag_id, run_id) in self.runs:
            detail = f"DAG Run with run_id: `{run_id}` already exists for dag_id: `{dag_id}`"
            return httpx.Response(409, json={"detail": detail})
        run = {
            "dag_id": dag_id,
            "dag_run_id": run_id,
            "state": "queued",
            "conf": body.get("conf") or {},
            "note": body.get("note"),
            "run_type": "manual",
            "run_after": (EPOCH + timedelta(seconds=next(self._clock))).isoformat(),
            "start_date": None,
            "end_date": None,
        }
        self.runs[(dag_id, run_id)] = run
        return httpx.Response(200, json=run)

    def _list(self, dag_id: str, params: httpx.QueryParams) -> httpx.Response:
        prefix = params.get("run_id_prefix_pattern") or ""
        runs = [r for (d, i), r in self.runs.items() if d == dag_id and i.startswith(prefix)]
        runs.sort(key=lambda r: r["run_after"], reverse=params.get("order_by") == "-run_after")
        limit = int(params.get("limit") or 50)
        return httpx.Response(200, json={"dag_runs": runs[:limit], "total_entries": len(runs)})
