"""Whether every workload that reads a rotated Secret runs with the new key: the gate before the old key
is deactivated.

``ConsumerCheck.pending`` answers with the reasons a Secret's consumers are not done yet (an empty list
means: the Secret in the cluster carries the new key id, every consuming Deployment/StatefulSet finished
its rollout, and every one of its pods started after the Secret last changed). ``KubectlConsumers`` asks
the cluster through ``kubectl get -o json``; the decisions are pure functions over those objects, so tests
feed them objects and the rotation tests use an in-memory fake.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ops.rotate.errors import RotateError, StepFailed

WORKLOAD_KINDS = ("deployment", "statefulset")


@dataclass(frozen=True)
class SecretConsumers:
    """One Secret in one cluster and the workloads (``deployment/<name>``, ``statefulset/<name>``) that
    read it through env or volumes (pods started on demand, like trainer pods, read it when they start)."""

    namespace: str
    name: str
    id_key: str
    consumers: tuple[str, ...]
    context: str = ""

    def describe(self) -> str:
        where = f" (context {self.context})" if self.context else ""
        return f"Secret {self.namespace}/{self.name}{where}"


class ConsumerCheck(Protocol):
    """The gate: what still keeps ``secret`` from being served by the new key everywhere."""

    def pending(self, secret: SecretConsumers, new_key_id: str) -> list[str]: ...


def parse_consumer(text: str) -> tuple[str, str]:
    """``deployment/mlflow`` → ("deployment", "mlflow"); a clear error for anything else."""
    kind, _, name = text.partition("/")
    if kind.lower() not in WORKLOAD_KINDS or not name:
        raise RotateError(f"consumer {text!r}: expected deployment/<name> or statefulset/<name>")
    return kind.lower(), name


def _time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def secret_changed_at(secret: Mapping[str, Any]) -> dt.datetime:
    """When the Secret's data last changed: the newest managedFields entry (the sealed-secrets controller
    writes one on every unseal), else its creation."""
    meta = secret.get("metadata") or {}
    times = [_time(f["time"]) for f in meta.get("managedFields") or [] if f.get("time")]
    if meta.get("creationTimestamp"):
        times.append(_time(meta["creationTimestamp"]))
    if not times:
        raise StepFailed(f"Secret {meta.get('name')}: no creationTimestamp or managedFields time")
    return max(times)


def secret_key_id(secret: Mapping[str, Any], id_key: str) -> str | None:
    """The access key id the Secret carries (an id, not the secret access key)."""
    raw = (secret.get("data") or {}).get(id_key)
    return base64.b64decode(raw).decode() if raw else None


def rollout_pending(kind: str, name: str, workload: Mapping[str, Any]) -> str | None:
    """Why the workload's rollout has not finished, or None (``kubectl rollout status`` rules)."""
    meta, spec = workload.get("metadata") or {}, workload.get("spec") or {}
    status = workload.get("status") or {}
    want = int(spec.get("replicas", 1))
    if int(status.get("observedGeneration", 0)) < int(meta.get("generation", 0)):
        return f"{kind}/{name}: the controller has not seen the latest spec yet"
    if kind == "statefulset" and status.get("updateRevision") != status.get("currentRevision"):
        return f"{kind}/{name}: rollout in progress (revision {status.get('updateRevision')} not current)"
    updated, ready = int(status.get("updatedReplicas", 0)), int(status.get("readyReplicas", 0))
    if updated < want or ready < want:
        return f"{kind}/{name}: rollout in progress ({updated}/{want} updated, {ready}/{want} ready)"
    return None


def _ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def stale_pods(kind: str, name: str, pods: Sequence[Mapping[str, Any]], since: dt.datetime) -> str | None:
    """Why the workload's pods may still hold the old key (started before ``since`` or not ready)."""
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    if not live:
        return f"{kind}/{name}: no running pod to check"
    old = [p["metadata"]["name"] for p in live if _time(p["metadata"]["creationTimestamp"]) < since]
    if old:
        return (
            f"{kind}/{name}: pod(s) {', '.join(sorted(old))} started before the Secret changed "
            f"({since.isoformat()}); Reloader restarts them, or run 'kubectl rollout restart {kind}/{name}'"
        )
    unready = [p["metadata"]["name"] for p in live if not _ready(p)]
    if unready:
        return f"{kind}/{name}: pod(s) {', '.join(sorted(unready))} not ready"
    return None


Runner = Callable[[list[str]], subprocess.CompletedProcess[str]]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


class KubectlConsumers:
    """``ConsumerCheck`` against a cluster, with the operator's kubeconfig (read-only ``get`` calls)."""

    def __init__(self, kubectl: str = "kubectl", run: Runner = _run) -> None:
        self.kubectl, self.run = kubectl, run

    def _get(self, secret: SecretConsumers, *args: str) -> dict[str, Any]:
        binary = shutil.which(self.kubectl)
        if binary is None:
            raise RotateError(f"--kubectl {self.kubectl}: not found (the consumer check needs kubectl)")
        argv = [binary, *(["--context", secret.context] if secret.context else [])]
        argv += ["--namespace", secret.namespace, "get", *args, "--output", "json"]
        proc = self.run(argv)
        if proc.returncode != 0:
            raise StepFailed(f"kubectl get {' '.join(args)} failed: {proc.stderr.strip()[:300]}")
        try:
            return dict(json.loads(proc.stdout))
        except ValueError:
            raise StepFailed(f"kubectl get {' '.join(args)}: not JSON") from None

    def pending(self, secret: SecretConsumers, new_key_id: str) -> list[str]:
        obj = self._get(secret, "secret", secret.name)
        carried = secret_key_id(obj, secret.id_key)
        if carried != new_key_id:
            return [
                f"{secret.describe()} carries {carried or 'no key'}, not the new key {new_key_id}: "
                "merge and sync the re-sealed file, then check the SealedSecret's status"
            ]
        since = secret_changed_at(obj)
        reasons: list[str] = []
        for text in secret.consumers:
            kind, name = parse_consumer(text)
            workload = self._get(secret, kind, name)
            reason = rollout_pending(kind, name, workload)
            if reason is None:
                labels = ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
                selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
                pods = self._get(secret, "pods", "--selector", selector).get("items") or []
                reason = stale_pods(kind, name, pods, since)
            if reason:
                reasons.append(f"{secret.describe()}: {reason}")
        return reasons
