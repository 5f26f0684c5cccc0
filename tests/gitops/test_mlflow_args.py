"""MLflow 3.17.2 runs with the arguments and environment the mlflow chart renders."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ci.validate.render import RenderResult
from ci.validate.settings import REPO
from tests.gitops.helpers import find, objects


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(url: str, host: str) -> int:
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as error:
        return error.code


def test_mlflow_server_accepts_the_rendered_args(rendered: RenderResult, tmp_path: Path) -> None:
    mlflow = shutil.which("mlflow", path=str(REPO / ".venv" / "bin"))
    if mlflow is None:
        pytest.skip("mlflow is not installed in .venv (dev extra)")
    container = find(objects(rendered, "mlflow-prod"), "Deployment", "mlflow")["spec"]["template"]["spec"]
    container = container["containers"][0]
    assert container["command"] == ["mlflow", "server"]
    port = _free_port()
    args = []
    for arg in container["args"]:
        name, _, value = arg.partition("=")
        if name == "--host":
            value = "127.0.0.1"
        elif name == "--port":
            value = str(port)
        elif name == "--workers":
            value = "1"
        elif name == "--artifacts-destination":
            assert value.startswith("s3://")
            value = (tmp_path / "artifacts").as_uri()  # S3 in the cluster; a folder here
        elif name == "--allowed-hosts":
            allowed = value.split(",")
            value = ",".join([*allowed, f"127.0.0.1:{port}"])
        args.append(f"{name}={value}" if value else name)
    env_names = {e["name"] for e in container["env"]}
    assert {"MLFLOW_BACKEND_STORE_URI", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= env_names
    env = {
        **os.environ,
        "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "HOME": str(tmp_path),
    }
    log = (tmp_path / "mlflow.log").open("w")
    proc = subprocess.Popen(
        [mlflow, "server", *args],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its uvicorn workers are stopped with it
    )
    try:
        deadline = time.monotonic() + 300  # a loaded 2-core machine starts it slowly
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = _status(f"http://127.0.0.1:{port}/health", f"127.0.0.1:{port}")
                break
            except OSError:
                time.sleep(0.5)
        assert status == 200, (tmp_path / "mlflow.log").read_text()[-3000:]
        in_cluster = "mlflow.mlops-prod.svc.cluster.local:5000"
        api = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=1"
        assert _status(api, in_cluster) == 200  # the Service name the gateway and Airflow use
        assert _status(api, "evil.example.com") in {400, 403}  # anything else is refused
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # a loaded machine: what did not stop in a minute is killed
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        log.close()
