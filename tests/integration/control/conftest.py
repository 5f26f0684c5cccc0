"""The control API as `make up` starts it, on the session's stack with the real Airflow, MLflow and
gateway (tests/conftest.py `airflow_stack`), plus a second replica on the same database, a callback
receiver the tests take down and bring back, and an SSE reader that fails over between replicas."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from ops.local.stack import process
from ops.local.stack.services import Service, control_api
from ops.local.stack.settings import REPO_ROOT
from tests.support.ports import free_port
from tests.support.stack import RunningStack

DAGS = ["ml_train_register_and_reload", "register_sensor_check", "rollback_model"]


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class Replica:
    """One control API process: its URL and how to kill it (-9) and start it again."""

    name: str
    url: str
    service: Service
    pid_file: Path
    log_file: Path

    def start(self) -> None:
        process.start(self.service.argv, self.service.env, self.log_file, self.pid_file, REPO_ROOT)

    def running(self) -> bool:
        return process.read_pid(self.pid_file) is not None

    def kill9(self) -> None:
        pid = process.read_pid(self.pid_file)
        assert pid is not None, f"{self.name} is not running"
        process.kill_group(pid)

    def ready(self) -> bool:
        try:
            return httpx.get(self.url + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


@dataclass
class Control:
    """Both replicas, the API key and the callback signing secret of the stack."""

    running: RunningStack
    replicas: list[Replica]
    key: str
    secret: bytes

    def call(self, method: str, path: str, replica: int = 0, **kwargs: Any) -> httpx.Response:
        headers = {"X-API-Key": self.key, **kwargs.pop("headers", {})}
        return httpx.request(method, self.replicas[replica].url + path, headers=headers, timeout=30, **kwargs)

    def job(self, job_id: str) -> dict[str, Any]:
        for replica in range(len(self.replicas)):
            try:
                response = self.call("GET", f"/v1/training-jobs/{job_id}", replica)
            except httpx.HTTPError:
                continue
            if response.status_code == 200:
                return response.json()
        raise AssertionError("no replica answers")

    def leader(self) -> Replica:
        def find() -> Replica | None:
            for replica in self.replicas:
                try:
                    status = httpx.get(replica.url + "/v1/status", headers={"X-API-Key": self.key}, timeout=5)
                except httpx.HTTPError:
                    continue
                if status.status_code == 200 and status.json()["is_leader"]:
                    return replica
            return None

        return wait_for(find, 60, "a replica that holds the follower lease")


@pytest.fixture(scope="session")
def control(airflow_stack: RunningStack) -> Iterator[Control]:
    stack = airflow_stack.stack
    settings = airflow_stack.settings
    values = stack.written_values()
    primary = control_api(settings, values)
    port = free_port()
    second = Service(
        "control-2",
        primary.argv,
        f"http://{settings.host}:{port}/readyz",
        {**primary.env, "CONTROL_PORT": str(port), "CONTROL_REPLICA_ID": "control-2"},
    )
    replicas = [
        Replica(
            "control", settings.control_url, primary, primary.pid_file(settings), primary.log_file(settings)
        ),
        Replica(
            "control-2",
            f"http://{settings.host}:{port}",
            second,
            second.pid_file(settings),
            second.log_file(settings),
        ),
    ]
    replicas[1].start()
    try:
        wait_for(replicas[1].ready, 120, "the second control replica")
        airflow_stack.airflow().wait_for_dags(DAGS)
        yield Control(
            airflow_stack, replicas, values["CONTROL_API_KEY"], values["CALLBACK_SIGNING_SECRET"].encode()
        )
    finally:
        process.stop(replicas[1].pid_file)
        if not replicas[0].running():
            stack.up(log=lambda _line: None)  # leave the stack's own replica running for other tests


@dataclass
class Receiver:
    """A callback receiver on a free port: records each POST (headers, raw body); start/stop at will."""

    port: int = field(default_factory=free_port)
    received: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/mlops"

    def start(self) -> None:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append({"headers": dict(self.headers.items()), "body": body, "at": time.time()})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


class EventReader(threading.Thread):
    """Reads a job's SSE stream; when a replica goes away it reconnects to another one with
    Last-Event-ID, until the stream ends (the job is finished and its callbacks settled)."""

    def __init__(self, control: Control, path: str, first: int = 0, timeout: float = 1200.0) -> None:
        super().__init__(daemon=True)
        self.control, self.path, self.timeout, self.first = control, path, timeout, first
        self.events: list[dict[str, Any]] = []
        self.connections: list[tuple[str, str | None]] = []
        self.ended = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        turn = self.first
        while time.monotonic() < deadline:
            replica = self.control.replicas[turn % len(self.control.replicas)]
            turn += 1
            last = str(self.events[-1]["id"]) if self.events else None
            headers = {"X-API-Key": self.control.key, **({"Last-Event-ID": last} if last else {})}
            try:
                with httpx.stream("GET", replica.url + self.path, headers=headers, timeout=60) as response:
                    if response.status_code != 200:
                        time.sleep(1)
                        continue
                    self.connections.append((replica.name, last))
                    block: dict[str, str] = {}
                    for line in response.iter_lines():
                        if line == "":
                            if "data" in block:
                                self.events.append(
                                    {
                                        "id": int(block["id"]),
                                        "event": block["event"],
                                        "data": json.loads(block["data"]),
                                    }
                                )
                            block = {}
                        elif not line.startswith(":") and ":" in line:
                            key, _, value = line.partition(":")
                            block[key] = value.removeprefix(" ")
                    self.ended.set()
                    return
            except httpx.HTTPError:
                time.sleep(1)
