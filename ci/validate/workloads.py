"""Where the pod of a workload object lives: the kinds that carry a pod template and how to reach it."""

from __future__ import annotations

WORKLOAD_KINDS = {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}
SERVER_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}


def pod_template(doc: dict) -> tuple[dict, dict] | None:
    """(pod metadata, pod spec) of a workload object, or None when it has no pod template.

    A Pod is its own template; a CronJob's pod is under spec.jobTemplate.spec.template.
    """
    kind, spec = doc.get("kind"), doc.get("spec") or {}
    if kind == "Pod":
        return doc.get("metadata") or {}, spec
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template")
    if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
        return None
    return template.get("metadata") or {}, template["spec"]


def containers(pod: dict) -> list[tuple[dict, bool]]:
    """(container, is_init) of every container and init container of a pod spec."""
    return [(c, False) for c in pod.get("containers") or []] + [
        (c, True) for c in pod.get("initContainers") or []
    ]
