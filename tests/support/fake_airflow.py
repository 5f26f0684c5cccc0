"""An in-process stand-in for the part of Airflow 3's REST API the clients use (httpx.MockTransport), for
unit tests of client and trigger logic. The same clients run against the real Airflow in tests/e2e.

It answers like Airflow 3.3: `POST /auth/token` (201, 401 on bad credentials), Bearer tokens (401 when
expired), `POST .../dagRuns` (200, 409 when the run id exists), run, runs (run_id_prefix_pattern,
newest first), task instances, XCom entries, task logs, DAG details (is_paused, tags as `{name, dag_id}`
objects). Tests move runs along with
`set_run` and `set_task`, and take the whole API down with `down = True` (connection refused)."""

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
    tags: dict[str, list[str]] = field(default_factory=dict)
    # Tags a DAG gets on its next reads, one list per read (the DAG processor parsing newer files).
    tag_updates: dict[str, list[list[str]]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    calls: list[tuple[str, str]] = field(default_factory=list)
    tasks: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(default_factory=dict)
    xcoms: dict[tuple[str, str, str, str], Any] = field(default_factory=dict)
    logs: dict[tuple[str, str, str], list[Any]] = field(default_factory=dict)
    down: bool = False
    _clock: itertools.count = field(default_factory=itertools.count)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def created(self, dag_id: str = "ml_train_register_and_reload") -> list[str]:
        return [run_id for (dag, run_id) in self.runs if dag == dag_id]

    def set_run(self, dag_id: str, run_id: str, state: str) -> None:
        self.runs[(dag_id, run_id)]["state"] = state

    def set_task(
        self, dag_id: str, run_id: str, task_id: str, state: str | None, try_number: int = 1, **xcom: Any
    ) -> None:
        """A task instance's state (and XCom values by key, e.g. return_value={...})."""
        stamp = (EPOCH + timedelta(seconds=next(self._clock))).isoformat()
        self.tasks.setdefault((dag_id, run_id), {})[task_id] = {
            "task_id": task_id,
            "state": state,
            "try_number": try_number,
            "map_index": -1,
            "start_date": stamp,
            "end_date": stamp if state in ("success", "failed", "skipped", "upstream_failed") else None,
            "duration": 1.0,
        }
        for key, value in xcom.items():
            self.xcoms[(dag_id, run_id, task_id, key)] = value

    # -- routing ------------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused (the fake Airflow is down)", request=request)
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
        detail = re.fullmatch(
            r"/api/v2/dags/([^/]+)/dagRuns/([^/]+)/taskInstances/([^/]+)/(xcomEntries/([^/]+)|logs/(\d+))",
            path,
        )
        if detail:
            return self._task_detail(*detail.groups())
        match = re.fullmatch(r"/api/v2/dags/([^/]+)(?:/dagRuns(?:/([^/]+)(/taskInstances)?)?)?", path)
        if not match:
            return httpx.Response(404, json={"detail": "Not Found"})
        dag_id, run_id, tis = match.groups()
        if dag_id not in self.dags:
            return httpx.Response(404, json={"detail": f"The Dag with ID: `{dag_id}` was not found"})
        if path.endswith(f"/{dag_id}"):
            if self.tag_updates.get(dag_id):
                self.tags[dag_id] = self.tag_updates[dag_id].pop(0)
            tags = [{"name": name, "dag_id": dag_id} for name in self.tags.get(dag_id, [])]
            return httpx.Response(200, json={"dag_id": dag_id, "is_paused": self.dags[dag_id], "tags": tags})
        if run_id is None and request.method == "POST":
            return self._trigger(dag_id, json.loads(request.content))
        if run_id is None:
            return self._list(dag_id, request.url.params)
        run = self.runs.get((dag_id, run_id))
        if run is None:
            return httpx.Response(404, json={"detail": f"The DagRun with dag_id: `{dag_id}` was not found"})
        if tis:
            found = list(self.tasks.get((dag_id, run_id), {}).values())
            return httpx.Response(200, json={"task_instances": found, "total_entries": len(found)})
        return httpx.Response(200, json=run)

    def _task_detail(
        self, dag_id: str, run_id: str, task_id: str, _what: str, key: str | None, try_number: str | None
    ) -> httpx.Response:
        if key is not None:
            if (dag_id, run_id, task_id, key) not in self.xcoms:
                return httpx.Response(404, json={"detail": f"XCom entry with key: `{key}` not found"})
            return httpx.Response(200, json={"key": key, "value": self.xcoms[(dag_id, run_id, task_id, key)]})
        content = self.logs.get((dag_id, run_id, task_id))
        if content is None:
            return httpx.Response(404, json={"detail": "TaskInstance not found"})
        return httpx.Response(200, json={"content": content, "continuation_token": None})

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
