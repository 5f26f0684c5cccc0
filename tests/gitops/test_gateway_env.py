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

import yaml

from ci.validate.render import RenderResult, helm_template
from ci.validate.settings import REPO, Settings
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


def _pod(rendered: RenderResult | list[dict], release: str, tmp_path: Path) -> tuple[dict, dict[str, str]]:
    """The gateway container of a release (or of rendered objects) and its env mapped to this machine
    (mounts to tmp_path, MLflow to a closed port, Secrets to test values, the downward API to a pod name)."""
    docs = rendered if isinstance(rendered, list) else objects(rendered, release)
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
    env |= {
        "SERVING_CONFIG": str(tmp_path / "serving.yaml"),
        "SERVING_HOST": "127.0.0.1",
        "SERVING_PORT": str(_free_port()),
        "SERVING_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "SERVING_CACHE_DIR": str(tmp_path / "cache"),
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{_free_port()}",
    }
    if "LOG_DIR" in env:
        env["LOG_DIR"] = str(tmp_path / "logs")
    return container, env


def _wait_live(proc: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    status = None
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            status, _ = _get(url)
            break
        except OSError:
            time.sleep(0.3)
    assert status == 200, log.read_text()[-2000:]


def test_gateway_runs_with_the_rendered_env_and_probes(rendered: RenderResult, tmp_path: Path) -> None:
    container, env = _pod(rendered, "serving-dev", tmp_path)
    port = env["SERVING_PORT"]
    command = [sys.executable, *container["command"][1:]]
    assert container["command"][0] == "python"
    log = (tmp_path / "gateway.log").open("w")
    proc = subprocess.Popen(
        command, env={**os.environ, **env}, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _wait_live(
            proc,
            f"http://127.0.0.1:{port}{container['livenessProbe']['httpGet']['path']}",
            tmp_path / "gateway.log",
        )
        status, body = _get(f"http://127.0.0.1:{port}{container['readinessProbe']['httpGet']['path']}")
        assert status == 503
        assert json.loads(body)["ready"] is False
        status, body = _get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_the_prod_pod_logs_to_a_file_named_after_the_pod(settings: Settings, tmp_path: Path) -> None:
    """Defect: with `workers: 2` the spawned workers never ran the logging setup (no JSON logs, no file
    sink), and every replica wrote the same file name on the shared log volume. prod with its optional
    log volume turned on (off by default: it needs a ReadWriteMany StorageClass)."""
    values = [REPO / "charts/serving/values" / f"{name}.yaml" for name in ("base", "prod")]
    sets = (("logVolume.enabled", "true"), ("logVolume.storageClassName", "nfs-client"))
    text, findings = helm_template(
        settings, "serving", REPO / "charts/serving", "mlops-prod", values, "test", sets=sets
    )
    assert text is not None, findings
    docs = [doc for doc in yaml.safe_load_all(text) if doc]
    container, env = _pod(docs, "serving-prod", tmp_path)
    assert "LOG_DIR" in env
    log = (tmp_path / "gateway.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, *container["command"][1:]],
        env={**os.environ, **env},
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_live(proc, f"http://127.0.0.1:{env['SERVING_PORT']}/healthz", tmp_path / "gateway.log")
        files = sorted((tmp_path / "logs").glob("serving-*.jsonl"))
        assert [f.name.startswith("serving-serving-pod-0-") for f in files] == [True], files
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not files[0].read_text().strip():
            time.sleep(0.3)
        lines = [json.loads(line) for line in files[0].read_text().splitlines()]
        assert lines and {line["replica"] for line in lines} == {"serving-pod-0"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
