"""Policy checks with one clear message per violation.

Rules: no Secret carrying data (only SealedSecrets), every container has resources, servers have
probes, containers run as non-root with a read-only root filesystem, images are pinned (no `latest`),
Argo CD sources are pinned (no `targetRevision: HEAD`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ci.validate.findings import Finding, obj_name
from ci.validate.manifests import Manifest
from ci.validate.workloads import SERVER_KINDS, WORKLOAD_KINDS, containers, pod_template

_SECRET_LINE = re.compile(r"^kind:\s*[\"']?Secret[\"']?\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Exemption:
    """A rule that does not apply to some containers of one render, with the reason (printed as a note)."""

    source_pattern: str
    rule: str
    containers: frozenset[str]
    reason: str

    def covers(self, source: str, rule: str, container: str) -> bool:
        return (
            bool(re.match(self.source_pattern, source)) and rule == self.rule and container in self.containers
        )


# The official Airflow chart's own containers: Airflow writes under AIRFLOW_HOME and the chart has no
# setting for a read-only root filesystem there; the triggerer's log port is not a service with a
# readiness contract. Our charts and the git-sync sidecars get no exemption.
_AIRFLOW_CONTAINERS = frozenset(
    {
        "api-server",
        "scheduler",
        "dag-processor",
        "triggerer",
        "wait-for-airflow-migrations",
        "run-airflow-migrations",
        "create-user",
        "scheduler-log-groomer",
        "dag-processor-log-groomer",
        "triggerer-log-groomer",
    }
)
# Objects of the Airflow render itself, and the KubernetesExecutor worker pod template it embeds
# (airflow-config), but not our KubernetesPodOperator pod template (airflow-kpo-pod-template).
_AIRFLOW_RENDER = r"rendered/airflow-[a-z0-9-]+\.yaml(#ConfigMap/airflow-config/.*)?$"
EXEMPTIONS = (
    Exemption(
        _AIRFLOW_RENDER,
        "read-only-root-fs",
        _AIRFLOW_CONTAINERS | {"base"},
        "upstream Airflow containers write under AIRFLOW_HOME",
    ),
    Exemption(_AIRFLOW_RENDER, "probes", frozenset({"triggerer"}), "the triggerer's port serves logs only"),
)


def _image_problem(image: str) -> str | None:
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag (means latest): pin a version or the git SHA"
    if last.rsplit(":", 1)[1] == "latest":
        return f"image {image!r} uses the mutable tag latest: pin a version or the git SHA"
    return None


def _container_findings(m: Manifest, pod: dict) -> Iterator[tuple[str, str, str]]:
    """(rule, container, message) of every container problem in one pod spec."""
    pod_sc = pod.get("securityContext") or {}
    for c, is_init in containers(pod):
        name = c.get("name", "?")
        sc = c.get("securityContext") or {}
        res = c.get("resources") or {}
        missing = [
            f"{part}.{key}"
            for part, keys in (("requests", ("cpu", "memory")), ("limits", ("memory",)))
            for key in keys
            if key not in (res.get(part) or {})
        ]
        if missing:
            yield "resources", name, f"container {name} has no resources {', '.join(missing)}"
        problem = _image_problem(str(c.get("image", "")))
        if problem:
            yield "image-tag", name, f"container {name}: {problem}"
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        user = sc.get("runAsUser", pod_sc.get("runAsUser"))
        if user == 0 or not (non_root is True or (isinstance(user, int) and user > 0)):
            yield (
                "non-root",
                name,
                f"container {name} may run as root: set securityContext.runAsNonRoot: true",
            )
        if sc.get("readOnlyRootFilesystem") is not True:
            yield (
                "read-only-root-fs",
                name,
                f"container {name} has a writable root filesystem: "
                "set securityContext.readOnlyRootFilesystem: true",
            )
        if sc.get("allowPrivilegeEscalation") is not False and not is_init:
            yield (
                "privilege-escalation",
                name,
                f"container {name} allows privilege escalation: "
                "set securityContext.allowPrivilegeEscalation: false",
            )
        serves = any(p.get("protocol", "TCP") == "TCP" for p in c.get("ports") or [])
        if m.doc.get("kind") in SERVER_KINDS and not is_init and serves:
            for probe in ("readinessProbe", "livenessProbe"):
                if not c.get(probe):
                    yield "probes", name, f"container {name} serves a port but has no {probe}"


def _revision_findings(doc: dict) -> Iterator[str]:
    """targetRevision problems anywhere in an Application or ApplicationSet."""

    def walk(node: object, path: str) -> Iterator[str]:
        if isinstance(node, dict):
            if "repoURL" in node and "ref" not in node:
                key = "revision" if "files" in node or "directories" in node else "targetRevision"
                value = node.get(key)
                if value is None or str(value).strip() == "":
                    yield f"{path}: no {key} (Argo CD then follows HEAD): pin a branch, tag or commit"
                elif str(value).strip().upper() == "HEAD":
                    yield f"{path}.{key}: HEAD is not allowed: pin a branch, tag or commit"
            for key, value in node.items():
                yield from walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from walk(value, f"{path}[{i}]")

    yield from walk(doc.get("spec") or {}, "spec")


def check_manifest(m: Manifest, exemptions: tuple[Exemption, ...] = EXEMPTIONS) -> list[Finding]:
    """Policy findings of one object."""
    doc, name = m.doc, obj_name(m.doc)
    out: list[Finding] = []
    if doc.get("kind") == "Secret" and (doc.get("data") or doc.get("stringData")):
        keys = sorted({*(doc.get("data") or {}), *(doc.get("stringData") or {})})
        out.append(
            Finding(
                m.source,
                "plaintext-secret",
                f"plaintext Secret carries data ({', '.join(keys)}): commit a SealedSecret instead "
                "(python -m ops.seal seal), and reference it by name",
                name,
            )
        )
    if doc.get("kind") in WORKLOAD_KINDS:
        template = pod_template(doc)
        if template is None:
            out.append(Finding(m.source, "workload", "workload has no pod template", name))
        else:
            for rule, container, message in _container_findings(m, template[1]):
                if not any(e.covers(m.source, rule, container) for e in exemptions):
                    out.append(Finding(m.source, rule, message, name))
    if doc.get("apiVersion", "").startswith("argoproj.io/") and doc.get("kind") in {
        "Application",
        "ApplicationSet",
    }:
        out.extend(Finding(m.source, "target-revision", msg, name) for msg in _revision_findings(doc))
    return out


def check_all(manifests: list[Manifest]) -> list[Finding]:
    """Policy findings of many objects."""
    out: list[Finding] = []
    for m in manifests:
        out.extend(check_manifest(m))
    return out


def secret_text_findings(path: Path, text: str, source: str) -> list[Finding]:
    """A `kind: Secret` in a file that is not YAML (a Helm template): flag it when it carries data."""
    if _SECRET_LINE.search(text) and re.search(r"^(data|stringData):", text, re.MULTILINE):
        return [
            Finding(
                source,
                "plaintext-secret",
                "template renders a Secret with data: "
                "reference an existing Secret from a SealedSecret instead",
            )
        ]
    return []
