"""`python -m bench.serving`: the gateway against `mlflow models serve` and MLServer, same model, same load.

Steps: start a throwaway MLflow server under build/bench/, register two iris versions with the trainer CLI,
serve version 1 three ways (one at a time, 1 worker each) and drive each with `wrk -t1 -c8 -d10s`; then
run 100 reloads (alternating the two versions) under load and report failed requests and RSS growth.
The peers' venv (MLServer pins an older FastAPI) is created under build/bench/peers on first use.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "bench"  # git-ignored; .stack/ belongs to the local stack
PEERS = WORK / "peers"
# uvloop 0.22+ breaks MLServer 1.7 workers (asyncio.get_event_loop in a fresh process)
PEER_PACKAGES = ["mlserver==1.7.1", "mlserver-mlflow==1.7.1", "scikit-learn==1.9.1", "uvloop==0.21.0"]
MODEL = "bench-iris"
COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
ROW = [5.1, 3.5, 1.4, 0.2]
SPLIT = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [ROW]}})
V2_PD = json.dumps(
    {
        "parameters": {"content_type": "pd"},
        "inputs": [
            {"name": c, "shape": [1], "datatype": "FP64", "data": [v]}
            for c, v in zip(COLUMNS, ROW, strict=True)
        ],
    }
)


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f}s")


class Process:
    """A background server whose output goes to a log file; stopped with its process group."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT
    ) -> None:
        self.name = name
        self.log = WORK / f"{name}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env={**os.environ, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def rss(self) -> int:
        """Resident memory of the process in bytes."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0


@dataclass
class Result:
    """wrk figures of one server."""

    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    failed: int


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(name: str, url: str, body: str, duration: int, connections: int) -> Result:
    """Drive `url` with POSTs of `body`; parse RPS, p50, p99 and failures."""
    script = WORK / f"{name}.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, errors.groups())) if errors else 0)
    return Result(name, rps, p50, p99, total, failed)


def check_answer(url: str, body: str) -> None:
    response = httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:300]}")


# -- setup --------------------------------------------------------------------------------------------
def ensure_peers() -> Path:
    """The peers' venv with MLServer + mlserver-mlflow (created once)."""
    python = PEERS / "bin" / "python"
    stamp = PEERS / ".bench-installed"
    if stamp.exists() and stamp.read_text() == " ".join(PEER_PACKAGES):
        return python
    uv = ROOT / ".venv" / "bin" / "uv"
    log(f"creating the peers' venv in {PEERS.relative_to(ROOT)} ({', '.join(PEER_PACKAGES)})")
    base = os.path.realpath(sys.executable)
    subprocess.run([str(uv), "venv", "-q", "--allow-existing", "--python", base, str(PEERS)], check=True)
    subprocess.run([str(uv), "pip", "install", "-q", "--python", str(python), *PEER_PACKAGES], check=True)
    stamp.write_text(" ".join(PEER_PACKAGES))
    return python


def start_mlflow(folder: Path) -> tuple[Process, str]:
    port = free_port()
    process = Process(
        "mlflow-tracking",
        [
            str(ROOT / ".venv" / "bin" / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--serve-artifacts",
            "--artifacts-destination",
            str(folder / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
    )
    uri = f"http://127.0.0.1:{port}"
    wait_http(f"{uri}/health", 120, process.proc)
    return process, uri


def trainer(args: list[str], env: dict[str, str], folder: Path) -> dict:
    result = folder / f"result-{time.monotonic_ns()}.json"
    subprocess.run(
        [sys.executable, "-m", "trainer", *args, "--result-file", str(result)],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return json.loads(result.read_text())


def register_versions(uri: str, folder: Path) -> tuple[str, str]:
    """Two iris versions of `bench-iris` trained and registered by the trainer CLI."""
    env = {"MLFLOW_TRACKING_URI": uri}
    base = json.loads((ROOT / "trainer" / "configs" / "iris.json").read_text())
    found = []
    for i, c in enumerate((1.0, 0.05)):
        config = folder / f"iris-{i}.json"
        config.write_text(
            json.dumps({**base, "model_name": MODEL, "hyperparameters": {"C": c, "max_iter": 500}})
        )
        trained = trainer(["train", "--config", str(config)], env, folder)
        registered = trainer(["register", "--run-id", trained["run_id"], "--name", MODEL], env, folder)
        found.append(str(registered["version"]))
    return found[0], found[1]


def set_alias(uri: str, alias: str, version: str) -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=uri, registry_uri=uri).set_registered_model_alias(MODEL, alias, version)


# -- servers ------------------------------------------------------------------------------------------
def serve_mlflow(uri: str, version: str) -> tuple[Process, str]:
    port = free_port()
    process = Process(
        "mlflow-serve",
        [
            str(ROOT / ".venv" / "bin" / "mlflow"),
            "models",
            "serve",
            "-m",
            f"models:/{MODEL}/{version}",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "-p",
            str(port),
            "--workers",
            "1",
        ],
        # it execs `uvicorn` from PATH
        env={"MLFLOW_TRACKING_URI": uri, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}"},
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/ping", 180, process.proc)
    return process, f"{base}/invocations"


def serve_mlserver(python: Path, uri: str, version: str, folder: Path) -> tuple[Process, str]:
    import mlflow
    import mlflow.artifacts

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    model_dir = folder / "mlserver-model"
    shutil.rmtree(model_dir, ignore_errors=True)
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{MODEL}/{version}",
        dst_path=str(folder / "mlserver-artifacts"),
        tracking_uri=uri,
    )
    model_dir.mkdir(parents=True)
    port = free_port()
    (model_dir / "settings.json").write_text(
        json.dumps(
            {"http_port": port, "grpc_port": free_port(), "metrics_port": free_port(), "parallel_workers": 1}
        )
    )
    (model_dir / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "iris",
                "implementation": "mlserver_mlflow.MLflowRuntime",
                "parameters": {"uri": str(local)},
            }
        )
    )
    process = Process("mlserver", [str(python.parent / "mlserver"), "start", str(model_dir)], cwd=model_dir)
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/v2/models/iris/ready", 180, process.proc)
    return process, f"{base}/v2/models/iris/infer"


def serve_gateway(uri: str, folder: Path, key: str) -> tuple[Process, str]:
    port = free_port()
    config = folder / "gateway.yaml"
    config.write_text(
        json.dumps(
            {
                "models": [
                    {
                        "name": "iris",
                        "registered_model": MODEL,
                        "strategy": "canary",
                        "variants": [
                            {"name": "champion", "alias": "champion", "weight": 90},
                            {"name": "challenger", "alias": "challenger", "weight": 10},
                        ],
                        "canary": {
                            "steps": [10, 25, 50, 100],
                            "interval_seconds": 3600,
                            "gates": {"max_error_rate": 0.5, "max_p99_ms": 10000, "min_requests": 100},
                        },
                    }
                ]
            }
        )
    )
    state = folder / "gateway-state.db"
    state.unlink(missing_ok=True)
    process = Process(
        "gateway",
        [sys.executable, "-m", "serving"],
        env={
            "SERVING_CONFIG": str(config),
            "SERVING_PORT": str(port),
            "SERVING_HOST": "127.0.0.1",
            "MLFLOW_TRACKING_URI": uri,
            "SERVING_STATE_URL": f"sqlite:///{state}",
            "INTERNAL_API_KEY": key,
            "SERVING_LOG_LEVEL": "WARNING",
        },
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/readyz", 180, process.proc)
    return process, base


# -- reloads under load ---------------------------------------------------------------------------------
def reloads_under_load(
    gateway: Process, base: str, uri: str, versions: tuple[str, str], key: str, count: int, connections: int
) -> tuple[int, int, int, int, int]:
    """(reloads, failed requests, total requests, RSS before, RSS after) of `count` alternating reloads."""
    body = SPLIT
    warm = wrk("gateway-warm", f"{base}/v1/models/iris/predict", body, 3, connections)
    if warm.failed:
        raise RuntimeError(f"gateway failed {warm.failed} requests before the reloads")
    rss_before = gateway.rss()
    # wrk cannot be told to stop early from here: run it for long and end it with SIGINT after the reloads.
    script = WORK / "gateway-reloads.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    runner = subprocess.Popen(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            "-d600s",
            "--latency",
            "-s",
            str(script),
            f"{base}/v1/models/iris/predict",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    done = 0
    with httpx.Client(base_url=base, timeout=60, headers={"X-API-Key": key}) as client:
        time.sleep(1)
        for i in range(count):
            version = versions[(i + 1) % 2]
            set_alias(uri, "champion", version)
            answer = client.post("/variant/champion/reload", params={"model": "iris"})
            if answer.status_code != 200 or answer.json()["version"] != version:
                raise RuntimeError(f"reload {i} answered {answer.status_code}: {answer.text[:300]}")
            done += 1
    time.sleep(1)
    runner.send_signal(signal.SIGINT)
    out, _ = runner.communicate(timeout=30)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, errors.groups())) if errors else 0)
    return done, failed, total, rss_before, gateway.rss()


# -- main -----------------------------------------------------------------------------------------------
def start_server(
    name: str, start: Callable[[], tuple[Process, str]], body: str, connections: int
) -> tuple[Process, str] | None:
    """Start one server, check one answer and warm it up; None (logged) when it cannot start."""
    log(f"starting {name}")
    try:
        process, url = start()
    except Exception as error:
        log(f"{name} could not start: {error}")
        return None
    try:
        check_answer(url, body)
        wrk(f"{name}-warm", url, body, 2, connections)
    except Exception as error:
        log(f"{name} does not answer: {error}")
        process.stop()
        return None
    return process, url


def median_round(rounds: list[Result]) -> Result:
    """The round with the median RPS (its own p50/p99), failures summed over all rounds."""
    ordered = sorted(rounds, key=lambda r: r.rps)
    middle = ordered[len(ordered) // 2]
    return Result(
        middle.name, middle.rps, middle.p50_ms, middle.p99_ms, middle.requests, sum(r.failed for r in rounds)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__)
    parser.add_argument(
        "--duration", type=int, default=10, help="seconds of load per server and round (wrk -d)"
    )
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (-c)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds per server (median reported)"
    )
    parser.add_argument("--reloads", type=int, default=100, help="reloads under load")
    parser.add_argument("--skip-peers", action="store_true", help="only the gateway (no ratios)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed: run `bash ci/system-deps.sh wrk`", file=sys.stderr)
        return 2
    WORK.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    key = os.urandom(16).hex()
    tracking, uri = start_mlflow(folder)
    results: dict[str, Result | None] = {}
    servers: dict[str, tuple[Process, str] | None] = {}
    bodies = {"mlflow-serve": SPLIT, "mlserver": V2_PD, "gateway": SPLIT}
    try:
        log("registering two iris versions with the trainer")
        v1, v2 = register_versions(uri, folder)
        set_alias(uri, "champion", v1)
        set_alias(uri, "challenger", v2)
        gateway_base: dict[str, str] = {}

        def start_gateway() -> tuple[Process, str]:
            process, base = serve_gateway(uri, folder, key)
            gateway_base["url"] = base
            return process, f"{base}/v1/models/iris/predict"

        if not args.skip_peers:
            peers = ensure_peers()
            servers["mlflow-serve"] = start_server(
                "mlflow-serve", lambda: serve_mlflow(uri, v1), SPLIT, args.connections
            )
            servers["mlserver"] = start_server(
                "mlserver", lambda: serve_mlserver(peers, uri, v1, folder), V2_PD, args.connections
            )
        servers["gateway"] = start_server("gateway", start_gateway, SPLIT, args.connections)
        # all servers stay up (idle ones cost no CPU) and take turns, so each round sees the same machine
        rounds: dict[str, list[Result]] = {name: [] for name, server in servers.items() if server}
        for round_ in range(args.rounds):
            for name in rounds:
                _, url = servers[name]  # type: ignore[misc]
                result = wrk(name, url, bodies[name], args.duration, args.connections)
                rounds[name].append(result)
                log(
                    f"round {round_ + 1} {name}: {result.rps:.1f} rps, p50 {result.p50_ms:.2f} ms, "
                    f"p99 {result.p99_ms:.2f} ms, failed {result.failed}"
                )
        results = {name: median_round(found) if found else None for name, found in rounds.items()}
        for name, server in servers.items():
            results.setdefault(name, None)
            if server and name != "gateway":
                server[0].stop()
        gateway = servers.get("gateway")
        if gateway is None:
            raise RuntimeError("the gateway did not start: see build/bench/gateway.log")
        log(f"{args.reloads} reloads under load")
        reload_figures = reloads_under_load(
            gateway[0], gateway_base["url"], uri, (v1, v2), key, args.reloads, args.connections
        )
    finally:
        for server in servers.values():
            if server:
                server[0].stop()
        tracking.stop()
        shutil.rmtree(folder, ignore_errors=True)

    print(
        f"wrk -t1 -c{args.connections} -d{args.duration}s, one worker each, POST of one iris row, "
        f"median of {args.rounds} interleaved rounds"
    )
    print(f"{'server':<14}{'rps':>10}{'p50 ms':>10}{'p99 ms':>10}{'failed':>8}")
    for name in ("mlflow-serve", "mlserver", "gateway"):
        if name not in results:
            continue
        r = results[name]
        if r is None:
            print(f"{name:<14}{'n/a':>10}")
        else:
            print(f"{name:<14}{r.rps:>10.1f}{r.p50_ms:>10.2f}{r.p99_ms:>10.2f}{r.failed:>8}")
    done, failed, total, before, after = reload_figures
    growth = 100.0 * (after - before) / before if before else 0.0
    print(
        f"reloads under load: {done} reloads, {failed} failed requests of {total}, "
        f"RSS {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB ({growth:+.1f}%)"
    )
    gateway = results.get("gateway")
    mlflow_serve, mlserver = results.get("mlflow-serve"), results.get("mlserver")

    def ratio(a: float | None, b: float | None, digits: int) -> str:
        return f"{a / b:.{digits}f}" if a is not None and b else "n/a"

    g_rps, g_p99 = (gateway.rps, gateway.p99_ms) if gateway else (None, None)
    m_rps, m_p99 = (mlflow_serve.rps, mlflow_serve.p99_ms) if mlflow_serve else (None, None)
    s_rps = mlserver.rps if mlserver else None
    print(
        f"gateway/mlflow-serve rps ratio: {ratio(g_rps, m_rps, 1)}  p99 ratio: {ratio(g_p99, m_p99, 2)}  "
        f"gateway/mlserver rps ratio: {ratio(g_rps, s_rps, 1)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
