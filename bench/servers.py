"""The bench's servers: a throwaway MLflow, the gateway and its three peers, each on free ports.

Peers: `mlflow models serve`, MLServer + mlserver-mlflow (`parallel_workers: 0`, inference in the
server process) and KServe's own `ModelServer` with a `kserve.Model` predicting with the estimator.
MLServer and KServe pin other FastAPI/uvicorn versions than ours, so each has its own venv under
build/bench/, created on first use.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "bench"  # git-ignored; .stack/ belongs to the local stack
VENV_BIN = ROOT / ".venv" / "bin"
# uvloop 0.22+ breaks MLServer 1.7 workers (asyncio.get_event_loop in a fresh process)
MLSERVER_PACKAGES = ["mlserver==1.7.1", "mlserver-mlflow==1.7.1", "scikit-learn==1.9.1", "uvloop==0.21.0"]
KSERVE_PACKAGES = ["kserve==0.21.0", "scikit-learn==1.9.1", "joblib"]


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


def ensure_venv(name: str, packages: list[str]) -> Path:
    """The python of build/bench/<name> with `packages` installed (created once)."""
    folder = WORK / name
    python = folder / "bin" / "python"
    stamp = folder / ".bench-installed"
    if stamp.exists() and stamp.read_text() == " ".join(packages):
        return python
    log(f"creating the {name} venv in {folder.relative_to(ROOT)} ({', '.join(packages)})")
    base = os.path.realpath(sys.executable)
    uv = str(VENV_BIN / "uv")
    subprocess.run([uv, "venv", "-q", "--allow-existing", "--python", base, str(folder)], check=True)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(python), *packages], check=True)
    stamp.write_text(" ".join(packages))
    return python


def start_mlflow(folder: Path) -> tuple[Process, str]:
    """A throwaway tracking server (SQLite + local artifacts)."""
    port = free_port()
    argv = [str(VENV_BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"]
    argv += ["--serve-artifacts", "--artifacts-destination", str(folder / "artifacts")]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    process = Process("mlflow-tracking", argv)
    uri = f"http://127.0.0.1:{port}"
    wait_http(f"{uri}/health", 120, process.proc)
    return process, uri


def download(uri: str, model: str, version: str, folder: Path) -> Path:
    """The MLflow model directory of one registered version."""
    import mlflow.artifacts

    target = folder / f"{model}-{version}"
    shutil.rmtree(target, ignore_errors=True)
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{model}/{version}", dst_path=str(target), tracking_uri=uri
    )
    return Path(local)


def serve_mlflow(uri: str, model: str, version: str) -> tuple[Process, str]:
    port = free_port()
    argv = [str(VENV_BIN / "mlflow"), "models", "serve", "-m", f"models:/{model}/{version}"]
    argv += ["--env-manager", "local", "--host", "127.0.0.1", "-p", str(port), "--workers", "1"]
    # it execs `uvicorn` from PATH
    env = {"MLFLOW_TRACKING_URI": uri, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"}
    process = Process("mlflow-serve", argv, env=env)
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/ping", 180, process.proc)
    return process, f"{base}/invocations"


def serve_mlserver(python: Path, local: Path, folder: Path) -> tuple[Process, str]:
    """MLServer with the MLflow runtime, inference in the server process (parallel_workers 0)."""
    model_dir = folder / "mlserver-model"
    shutil.rmtree(model_dir, ignore_errors=True)
    model_dir.mkdir(parents=True)
    port = free_port()
    settings = {
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "parallel_workers": 0,
    }
    (model_dir / "settings.json").write_text(json.dumps(settings))
    model_settings = {"name": "iris", "implementation": "mlserver_mlflow.MLflowRuntime", "parameters": {}}
    model_settings["parameters"] = {"uri": str(local)}
    (model_dir / "model-settings.json").write_text(json.dumps(model_settings))
    process = Process("mlserver", [str(python.parent / "mlserver"), "start", str(model_dir)], cwd=model_dir)
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/v2/models/iris/ready", 180, process.proc)
    return process, f"{base}/v2/models/iris/infer"


def serve_kserve(python: Path, local: Path, folder: Path) -> tuple[Process, str]:
    """KServe's ModelServer with the estimator of the same MLflow version, dumped with joblib."""
    import joblib
    import mlflow.sklearn

    estimator_file = folder / "kserve-estimator.joblib"
    joblib.dump(mlflow.sklearn.load_model(str(local)), estimator_file)
    port = free_port()
    argv = [str(python), str(ROOT / "bench" / "kserve_peer.py"), "iris", str(estimator_file)]
    argv += ["--http_port", str(port), "--grpc_port", str(free_port())]
    process = Process("kserve", argv, cwd=folder)
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/v1/models/iris", 180, process.proc)
    return process, f"{base}/v1/models/iris:predict"


def serve_gateway(uri: str, folder: Path, key: str, models: list[dict]) -> tuple[Process, str]:
    port = free_port()
    config = folder / "gateway.yaml"
    config.write_text(json.dumps({"models": models}))
    state = folder / "gateway-state.db"
    state.unlink(missing_ok=True)
    env = {
        "SERVING_CONFIG": str(config),
        "SERVING_PORT": str(port),
        "SERVING_HOST": "127.0.0.1",
        "MLFLOW_TRACKING_URI": uri,
        "SERVING_STATE_URL": f"sqlite:///{state}",
        "INTERNAL_API_KEY": key,
        "SERVING_LOG_LEVEL": "WARNING",
    }
    process = Process("gateway", [sys.executable, "-m", "serving"], env=env)
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/readyz", 180, process.proc)
    return process, base
