"""The gateway starts with the environment the chart renders: liveness answers, readiness waits for MLflow."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ci.validate.render import RenderResult
from tests.gitops.helpers import find, objects


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_gateway_runs_with_the_rendered_env_and_probes(rendered: RenderResult, tmp_path: Path) -> None:
    pytest.importorskip("serving.config", reason="the serving gateway is not written yet")
    docs = objects(rendered, "serving-dev")
    container = find(docs, "Deployment", "serving")["spec"]["template"]["spec"]["containers"][0]
    config_map = find(docs, "ConfigMap", "serving-config")
    (tmp_path / "serving.yaml").write_text(config_map["data"]["serving.yaml"])
    env: dict[str, str] = {}
    for var in container["env"]:
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "secretKeyRef" in var["valueFrom"]:
            env[var["name"]] = f"test-{var['name'].lower()}"  # what the SealedSecret provides in the cluster
        else:
            env[var["name"]] = "serving-pod-0"  # downward API (metadata.name)
    assert {"SERVING_CONFIG", "SERVING_PORT", "MLFLOW_TRACKING_URI", "INTERNAL_API_KEY"} <= set(env)
    port = _free_port()
    # Paths and addresses of the pod, mapped to this machine: mounts to tmp_path, MLflow to a closed port.
    env |= {
        "SERVING_CONFIG": str(tmp_path / "serving.yaml"),
        "SERVING_HOST": "127.0.0.1",
        "SERVING_PORT": str(port),
        "SERVING_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{_free_port()}",
    }
    command = [sys.executable, *container["command"][1:]]
    assert container["command"][0] == "python"
    log = (tmp_path / "gateway.log").open("w")
    proc = subprocess.Popen(
        command, env={**os.environ, **env}, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, _ = _get(f"http://127.0.0.1:{port}{container['livenessProbe']['httpGet']['path']}")
                break
            except OSError:
                time.sleep(0.3)
        assert status == 200, (tmp_path / "gateway.log").read_text()[-2000:]
        status, body = _get(f"http://127.0.0.1:{port}{container['readinessProbe']['httpGet']['path']}")
        assert status == 503
        assert json.loads(body)["ready"] is False
        status, body = _get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
