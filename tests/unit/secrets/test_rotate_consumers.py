"""The consumer check's decisions over the objects ``kubectl get -o json`` returns."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
from typing import Any

import pytest

from ops.rotate.consumers import (
    KubectlConsumers,
    SecretConsumers,
    parse_consumer,
    rollout_pending,
    secret_changed_at,
    stale_pods,
)
from ops.rotate.errors import RotateError

CHANGED = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def _pod(name: str, started: dt.datetime, ready: bool = True, **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": started.strftime("%Y-%m-%dT%H:%M:%SZ"), **meta},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def _deployment(**status: int) -> dict[str, Any]:
    base = {"observedGeneration": 2, "updatedReplicas": 2, "readyReplicas": 2}
    return {"metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": {**base, **status}}


def test_secret_changed_at_is_the_newest_managed_fields_time() -> None:
    secret = {
        "metadata": {
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "managedFields": [{"time": "2026-11-30T12:00:00Z"}, {"time": "2026-06-01T00:00:00Z"}],
        }
    }
    assert secret_changed_at(secret) == CHANGED


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({}, None),
        ({"observedGeneration": 1}, "not seen the latest spec"),
        ({"updatedReplicas": 1}, "1/2 updated"),
        ({"readyReplicas": 0}, "0/2 ready"),
    ],
)
def test_rollout_pending(status: dict[str, int], expected: str | None) -> None:
    reason = rollout_pending("deployment", "mlflow", _deployment(**status))
    assert reason is None if expected is None else expected in str(reason)


def test_statefulset_between_revisions_is_pending() -> None:
    sts = _deployment()
    sts["status"].update(currentRevision="a", updateRevision="b")
    assert "rollout in progress" in str(rollout_pending("statefulset", "airflow-worker", sts))


def test_stale_pods_names_the_pods_started_before_the_change() -> None:
    after = CHANGED + dt.timedelta(seconds=5)
    assert stale_pods("deployment", "gw", [_pod("gw-a", after), _pod("gw-b", after)], CHANGED) is None
    reason = stale_pods(
        "deployment", "gw", [_pod("gw-a", after), _pod("gw-b", CHANGED - dt.timedelta(1))], CHANGED
    )
    assert reason is not None and "gw-b" in reason and "gw-a" not in reason
    assert "not ready" in str(stale_pods("deployment", "gw", [_pod("gw-a", after, ready=False)], CHANGED))
    terminating = _pod("gw-old", CHANGED - dt.timedelta(1), deletionTimestamp="2026-11-30T12:00:01Z")
    assert stale_pods("deployment", "gw", [terminating, _pod("gw-a", after)], CHANGED) is None
    assert "no running pod" in str(stale_pods("deployment", "gw", [], CHANGED))


def test_parse_consumer_refuses_other_kinds() -> None:
    assert parse_consumer("Deployment/mlflow") == ("deployment", "mlflow")
    with pytest.raises(RotateError, match="deployment/<name>"):
        parse_consumer("daemonset/x")


def test_kubectl_consumers_reads_secret_workloads_and_pods() -> None:
    secret = {
        "metadata": {"name": "mlflow-aws", "managedFields": [{"time": "2026-11-30T12:00:00Z"}]},
        "data": {"AWS_ACCESS_KEY_ID": base64.b64encode(b"AKIANEW").decode()},
    }
    workload = _deployment()
    workload["spec"]["selector"] = {"matchLabels": {"app": "mlflow"}}
    pods = {"items": [_pod("mlflow-a", CHANGED + dt.timedelta(seconds=3))]}
    calls: list[list[str]] = []

    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        obj = {"secret": secret, "deployment": workload, "pods": pods}[argv[argv.index("get") + 1]]
        return subprocess.CompletedProcess(argv, 0, json.dumps(obj), "")

    check = KubectlConsumers("sh", run=run)
    ref = SecretConsumers("mlops-prod", "mlflow-aws", "AWS_ACCESS_KEY_ID", ("deployment/mlflow",), "prod")
    assert check.pending(ref, "AKIANEW") == []
    assert calls[0][1:] == [
        "--context",
        "prod",
        "--namespace",
        "mlops-prod",
        "get",
        "secret",
        "mlflow-aws",
        "--output",
        "json",
    ]
    assert calls[-1][-4:] == ["--selector", "app=mlflow", "--output", "json"]
    assert "carries AKIANEW, not the new key AKIAOTHER" in check.pending(ref, "AKIAOTHER")[0]


def test_kubectl_missing_is_a_clear_error() -> None:
    ref = SecretConsumers("ns", "s", "AWS_ACCESS_KEY_ID", ())
    with pytest.raises(RotateError, match="--kubectl no-such-kubectl: not found"):
        KubectlConsumers("no-such-kubectl").pending(ref, "AKIA")
