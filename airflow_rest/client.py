"""AirflowClient: a JWT from `POST /auth/token`, then `/api/v2` calls with it (renewed once on a 401)."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from airflow_rest.errors import AirflowAPIError, AirflowAuthError, AirflowUnreachable
from airflow_rest.models import DagRun, TaskInstance


@dataclass(frozen=True)
class Triggered:
    """The outcome of a trigger: the run, and whether this call created it (False: it existed: 409)."""

    run: DagRun
    created: bool


def _detail(response: httpx.Response) -> str:
    """Airflow's own message for an error answer (`detail` may be a string or a validation list)."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg')}"
            if isinstance(item, dict)
            else str(item)
            for item in detail
        )
    return str(detail)


class AirflowClient:
    """One Airflow deployment, one user. Thread-unsafe by design: one client per thread."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = {"username": username, "password": password}
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)
        self._token: str | None = None

    def __enter__(self) -> "AirflowClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- transport ----------------------------------------------------------------------------
    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise AirflowUnreachable(
                f"Airflow at {self.base_url} did not answer {method} {path}: {type(error).__name__}: {error}"
            ) from None

    def token(self, renew: bool = False) -> str:
        """A JWT for the user (cached; `renew` asks for a new one)."""
        if self._token is None or renew:
            response = self._send("POST", "/auth/token", json=self._credentials)
            if response.status_code in (401, 403):
                raise AirflowAuthError(
                    f"Airflow at {self.base_url} refused user {self._credentials['username']!r}: "
                    f"{_detail(response)}",
                    response.status_code,
                )
            if response.status_code >= 400:
                raise AirflowAPIError(
                    f"POST /auth/token answered {response.status_code}: {_detail(response)}",
                    response.status_code,
                )
            self._token = response.json()["access_token"]
        return self._token

    def request(
        self, method: str, path: str, *, allow: tuple[int, ...] = (), **kwargs: Any
    ) -> httpx.Response:
        """An authenticated call; statuses in `allow` are returned, other errors raised."""
        for attempt in (0, 1):
            headers = {"Authorization": f"Bearer {self.token(renew=attempt == 1)}"}
            response = self._send(method, path, headers=headers, **kwargs)
            if response.status_code != 401:
                break
        if response.status_code in allow or response.status_code < 400:
            return response
        error = AirflowAuthError if response.status_code in (401, 403) else AirflowAPIError
        raise error(
            f"{method} {path} answered {response.status_code}: {_detail(response)}", response.status_code
        )

    # -- API ----------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """`/api/v2/monitor/health` (no login needed): metadatabase, scheduler, triggerer, dag processor."""
        response = self._send("GET", "/api/v2/monitor/health")
        if response.status_code >= 400:
            raise AirflowAPIError(f"health answered {response.status_code}", response.status_code)
        return response.json()

    def dag_ids(self) -> list[str]:
        response = self.request("GET", "/api/v2/dags", params={"limit": 1000})
        return sorted(d["dag_id"] for d in response.json()["dags"])

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 300.0, interval: float = 2.0) -> None:
        """Wait until Airflow lists these DAGs (the DAG processor parses new files shortly after start)."""
        deadline = time.monotonic() + timeout
        while not set(dag_ids) <= set(self.dag_ids()):
            if time.monotonic() > deadline:
                missing = sorted(set(dag_ids) - set(self.dag_ids()))
                raise TimeoutError(f"Airflow at {self.base_url} does not list {missing} after {timeout:.0f}s")
            time.sleep(interval)

    def dag(self, dag_id: str) -> dict[str, Any]:
        """`GET /api/v2/dags/{dag_id}`: is_paused, tags, last parse time, ..."""
        return self.request("GET", f"/api/v2/dags/{quote(dag_id, safe='')}").json()

    def trigger(
        self,
        dag_id: str,
        run_id: str,
        conf: dict[str, Any],
        note: str | None = None,
        *,
        attempts: int = 3,
        backoff: float = 1.0,
    ) -> Triggered:
        """Start a run with this run id; when one exists already (409), return it with created=False.

        The run id makes a retry safe: after a server error or no answer (the local SQLite busy with
        concurrent triggers, an API server restarting) the run is looked up, found (created=False) or
        triggered again, up to `attempts` times."""
        body: dict[str, Any] = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
        if note:
            body["note"] = note
        path = f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns"
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.request("POST", path, json=body, allow=(409,))
            except AirflowAPIError as error:
                retryable = not isinstance(error, AirflowAuthError) and (error.status or 500) >= 500
                if not retryable or attempt >= attempts:
                    raise
                existing = self._run_if_exists(dag_id, run_id)
                if existing is not None:
                    return Triggered(existing, created=False)
                time.sleep(backoff * attempt)
                continue
            if response.status_code == 409:
                return Triggered(self.run(dag_id, run_id), created=False)
            return Triggered(DagRun.from_json(response.json()), created=True)

    def _run_if_exists(self, dag_id: str, run_id: str) -> DagRun | None:
        path = f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
        response = self.request("GET", path, allow=(404,))
        return None if response.status_code == 404 else DagRun.from_json(response.json())

    def run(self, dag_id: str, run_id: str) -> DagRun:
        path = f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
        return DagRun.from_json(self.request("GET", path).json())

    def runs(self, dag_id: str, *, run_id_prefix: str | None = None, limit: int = 100) -> list[DagRun]:
        """Runs of a DAG, newest first (optionally only those whose run id starts with a prefix)."""
        params: dict[str, Any] = {"limit": limit, "order_by": "-run_after"}
        if run_id_prefix:
            params["run_id_prefix_pattern"] = run_id_prefix
        response = self.request("GET", f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns", params=params)
        return [DagRun.from_json(item) for item in response.json()["dag_runs"]]

    def task_instances(self, dag_id: str, run_id: str) -> list[TaskInstance]:
        path = f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        response = self.request("GET", path, params={"limit": 1000})
        return [TaskInstance.from_json(item) for item in response.json()["task_instances"]]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """A task's XCom value (deserialized by Airflow); None when the task pushed none."""
        path = (
            f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
            f"/taskInstances/{quote(task_id, safe='')}/xcomEntries/{quote(key, safe='')}"
        )
        response = self.request("GET", path, params={"deserialize": "true"}, allow=(404,))
        return None if response.status_code == 404 else response.json().get("value")

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> list[Any]:
        """A task try's log as Airflow's structured entries (dicts with `event`, `level`, and
        `error_detail` for exceptions); empty when Airflow has none."""
        path = (
            f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
            f"/taskInstances/{quote(task_id, safe='')}/logs/{try_number}"
        )
        response = self.request("GET", path, params={"full_content": "true"}, allow=(404,))
        return [] if response.status_code == 404 else list(response.json().get("content") or [])

    def wait(
        self,
        dag_id: str,
        run_id: str,
        *,
        timeout: float = 1800.0,
        interval: float = 2.0,
        on_task: Callable[[TaskInstance], None] | None = None,
        unreachable_grace: float = 180.0,
    ) -> DagRun:
        """Poll until the run is success or failed; `on_task` gets each task instance once it finishes.
        Airflow not answering for up to `unreachable_grace` seconds in a row (its API server restarting)
        is waited out; longer raises AirflowUnreachable."""
        reported: set[tuple[str, int, int]] = set()
        deadline = time.monotonic() + timeout
        down_since: float | None = None
        while True:
            try:
                run = self._poll(dag_id, run_id, on_task, reported)
                down_since = None
            except AirflowUnreachable:
                down_since = down_since if down_since is not None else time.monotonic()
                if time.monotonic() - down_since > unreachable_grace:
                    raise
                run = None
            if run is not None and run.finished:
                return run
            if time.monotonic() > deadline:
                state = run.state if run is not None else "unknown (Airflow does not answer)"
                raise TimeoutError(f"{dag_id} run {run_id} is still {state} after {timeout:.0f}s")
            time.sleep(interval)

    def _poll(
        self,
        dag_id: str,
        run_id: str,
        on_task: Callable[[TaskInstance], None] | None,
        reported: set[tuple[str, int, int]],
    ) -> DagRun:
        """The run now; `on_task` for each task instance that finished since the last poll."""
        run = self.run(dag_id, run_id)
        if on_task is not None:
            finished = [ti for ti in self.task_instances(dag_id, run_id) if ti.finished]
            for ti in sorted(finished, key=lambda t: (t.end_date is None, t.end_date or 0, t.task_id)):
                key = (ti.task_id, ti.map_index, ti.try_number)
                if key not in reported:
                    reported.add(key)
                    on_task(ti)
        return run

    def ui_link(self, dag_id: str, run_id: str) -> str:
        """The run's page in the Airflow UI."""
        return f"{self.base_url}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
