"""Helpers of the gateway integration tests: real `python -m serving` processes and traffic."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[3]
ROW = [5.1, 3.5, 1.4, 0.2]
COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def iris_body(*rows: list[float]) -> dict[str, Any]:
    """A scoring body of iris rows with named columns (pyfunc refuses positional rows)."""
    return {"dataframe_split": {"columns": COLUMNS, "data": [list(r) for r in rows or [ROW]]}}


FAST = {
    "resolve_interval_seconds": 2,
    "retry_interval_seconds": 0.5,
    "sync_interval_seconds": 0.2,
    "heartbeat_seconds": 0.5,
}


def wait_for(
    check: Callable[[], Any], timeout: float = 60.0, every: float = 0.2, what: str = "condition"
) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except (httpx.HTTPError, KeyError, IndexError, TypeError) as error:
            last = error
        else:
            if result:
                return result
            last = result
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@dataclass(eq=False)
class GatewayProcess:
    """One running gateway (hashable by identity: several corpus models share one)."""

    url: str
    key: str
    proc: subprocess.Popen[bytes]
    log: Path
    config_path: Path
    env: dict[str, str]
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, timeout=30)

    @property
    def admin(self) -> dict[str, str]:
        return {"X-API-Key": self.key}

    def status(self, model: str) -> dict[str, Any]:
        return self.client.get(f"/v1/models/{model}").raise_for_status().json()

    def predict(self, model: str, row: list[float] | None = None, **headers: str) -> httpx.Response:
        return self.client.post(f"/v1/models/{model}/predict", json=iris_body(row or ROW), headers=headers)

    def reload(self, alias: str, model: str | None = None) -> httpx.Response:
        params = {"model": model} if model else None
        return self.client.post(f"/variant/{alias}/reload", params=params, headers=self.admin)

    def wait_ready(self, timeout: float = 90) -> None:
        wait_for(lambda: self.client.get("/readyz").status_code == 200, timeout, what=f"{self.url}/readyz")

    def audit(self, model: str | None = None) -> list[dict[str, Any]]:
        """The fleet's audit log, newest first."""
        params = {"model": model, "limit": 1000} if model else {"limit": 1000}
        return (
            self.client.get("/v1/audit", params=params, headers=self.admin)
            .raise_for_status()
            .json()["entries"]
        )

    def kill(self) -> None:
        """kill -9: no shutdown, no lease hand-over, the heartbeat row stays behind."""
        self.client.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]


def start_gateway(
    folder: Path,
    config: dict[str, Any],
    tracking_uri: str,
    *,
    state_url: str | None = None,
    slack_url: str | None = None,
    key: str = "test-key",
    env: dict[str, str] | None = None,
    wait_healthy: bool = True,
) -> GatewayProcess:
    """Start `python -m serving` on a free port with `config` and wait for /healthz."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config_path = folder / f"serving-{port}.yaml"
    config_path.write_text(yaml.safe_dump({**FAST, **config}))
    values = {
        "SERVING_CONFIG": str(config_path),
        "SERVING_HOST": "127.0.0.1",
        "SERVING_PORT": str(port),
        "MLFLOW_TRACKING_URI": tracking_uri,
        "SERVING_STATE_URL": state_url or f"sqlite:///{folder / 'state.db'}",
        "INTERNAL_API_KEY": key,
        "SERVING_REPLICA_ID": f"replica-{port}",
        "SERVING_CACHE_DIR": str(folder / "cache"),
        **({"SLACK_WEBHOOK_URL": slack_url} if slack_url else {}),
        **(env or {}),
    }
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SLACK_WEBHOOK_URL", "INTERNAL_API_KEY", "LOG_DIR", "SERVING_CACHE_DIR")
    }
    log = folder / f"gateway-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "serving"],
            cwd=REPO_ROOT,
            env={**base, **values},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    gateway = GatewayProcess(f"http://127.0.0.1:{port}", key, proc, log, config_path, values)
    if wait_healthy:
        try:
            wait_for(
                lambda: proc.poll() is not None or gateway.client.get("/healthz").status_code == 200,
                180,  # importing MLflow takes a minute when other test suites share the cores
                what="gateway /healthz",
            )
        except AssertionError:
            gateway.stop()
            raise
        assert proc.poll() is None, f"gateway exited: {gateway.logs()}"
    return gateway


class Traffic:
    """Background threads that send predict requests and record every answer.

    `target` is one gateway, or a function that names the URL of the next request (a load balancer;
    None: nobody to send to right now)."""

    def __init__(
        self,
        target: GatewayProcess | Callable[[], str | None],
        model: str,
        threads: int = 4,
        keyed: bool = False,
    ) -> None:
        self.pick = target if callable(target) else (lambda url=target.url: url)
        self.model = model
        self.results: list[tuple[int, str | None]] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(i, keyed), daemon=True) for i in range(threads)
        ]

    def _run(self, index: int, keyed: bool) -> None:
        with httpx.Client(timeout=30) as client:
            n = 0
            while not self._stop.is_set():
                url = self.pick()
                if url is None:
                    time.sleep(0.05)
                    continue
                n += 1
                headers = {"X-Routing-Key": f"user-{index}-{n}"} if keyed else {}
                try:
                    r = client.post(
                        f"{url}/v1/models/{self.model}/predict", json=iris_body(), headers=headers
                    )
                    entry = (r.status_code, r.headers.get("x-model-version"))
                    if r.status_code != 200:
                        with self._lock:
                            self.failures.append(f"{url}: {r.status_code} {r.text[:200]}")
                except httpx.HTTPError as error:
                    entry = (0, None)
                    with self._lock:
                        self.failures.append(f"{url}: {error!r}")
                with self._lock:
                    self.results.append(entry)

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def count(self) -> int:
        with self._lock:
            return len(self.results)


@contextlib.contextmanager
def unreadable_artifacts(tracking_uri: str, artifacts_root: Path, name: str, version: str) -> Iterator[Path]:
    """Make a model version's artifacts unreadable (moved aside) for the block: an artifact store that
    lost or cannot serve them. MLflow still lists the version; loads of it fail."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    source = client.get_model_version(name, version).source  # models:/m-<id>
    location = client.get_logged_model(source.removeprefix("models:/")).artifact_location
    folder = artifacts_root / location.removeprefix("mlflow-artifacts:/")
    aside = folder.with_name(folder.name + ".aside")
    folder.rename(aside)
    try:
        yield folder
    finally:
        aside.rename(folder)


class TcpProxy:
    """A loopback TCP forwarder: stopping it makes the upstream (MLflow) unreachable for its clients."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self._server: socket.socket | None = None
        self._open: list[socket.socket] = []

    def start(self) -> TcpProxy:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()
        return self

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self._server is not None:
            # shutdown wakes the thread blocked in accept(); close alone would let one more connection in
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        for s in self._open:  # shutdown first: close alone leaves a socket a thread still reads open
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()
        self._open.clear()
