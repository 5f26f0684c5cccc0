"""Walk the plan and check, at the moment each object is applied, that what it needs is there."""

from __future__ import annotations

from dataclasses import dataclass, field

from ci.validate.findings import Finding, obj_name
from ci.validate.firstsync.closed_network import image_registry_problem
from ci.validate.firstsync.images import image_problem
from ci.validate.firstsync.needs import Need, needs, provides
from ci.validate.firstsync.plan import PHASES, Item, Step
from ci.validate.podsecurity import ENFORCE, restricted_violations
from ci.validate.workloads import containers, pod_template


@dataclass
class Outcome:
    """Findings in apply order and the printed apply order."""

    findings: list[Finding] = field(default_factory=list)
    order: list[str] = field(default_factory=list)


def _obj(item: Item) -> str:
    """Kind/namespace/name of an item, with the namespace it lands in (charts leave it out)."""
    doc = item.manifest.doc
    meta = dict(doc.get("metadata") or {})
    if item.namespace:
        meta["namespace"] = item.namespace
    return obj_name({**doc, "metadata": meta})


def _when(item: Item) -> tuple[int, int]:
    return PHASES.index(item.phase), item.wave


def everything(steps: list[Step]) -> dict[str, str]:
    """key -> the step that first provides it, over the whole plan."""
    out: dict[str, str] = {}
    for step in steps:
        for k in step.provides:
            out.setdefault(k, step.name)
        for item in step.items:
            for k in provides(item.manifest.doc, item.namespace):
                out.setdefault(k, f"{step.name}, {item.phase} wave {item.wave}")
    return out


def _missing(need: Need, later: dict[str, str]) -> str:
    if need.key in later:
        return f"needs {need.key} ({need.why}), which is applied only later, by {later[need.key]}"
    return f"needs {need.key} ({need.why}): nothing in the first sync creates it"


def _image_findings(
    item: Item, step: Step, owner: str, built: set[str], registries: tuple[str, ...]
) -> list[Finding]:
    tpl = pod_template(item.manifest.doc)
    if tpl is None:
        return []
    out = []
    for c, _ in containers(tpl[1]):
        image = str(c.get("image", ""))
        if problem := image_problem(image, owner, built):
            out.append(
                Finding(item.manifest.source, "first-sync:image", f"{step.name}: {problem}", _obj(item))
            )
        if registries and (problem := image_registry_problem(image, registries)):
            out.append(
                Finding(item.manifest.source, "first-sync:registry", f"{step.name}: {problem}", _obj(item))
            )
    return out


def namespace_labels(steps: list[Step]) -> dict[str, dict]:
    """Labels of every namespace: Namespace objects and Applications' managedNamespaceMetadata."""
    out: dict[str, dict] = {}
    for step in steps:
        for ns, labels in step.namespace_labels.items():
            out.setdefault(ns, {}).update(labels)
        for item in step.items:
            if item.manifest.doc.get("kind") == "Namespace":
                meta = item.manifest.doc.get("metadata") or {}
                out.setdefault(meta.get("name", ""), {}).update(meta.get("labels") or {})
    return out


def _pod_security_findings(item: Item, step: Step, labels: dict[str, dict]) -> list[Finding]:
    level = (labels.get(item.namespace) or {}).get(ENFORCE)
    tpl = pod_template(item.manifest.doc)
    if level != "restricted" or tpl is None:
        return []
    return [
        Finding(
            item.manifest.source,
            "first-sync:pod-security",
            f"{step.name}: namespace {item.namespace} enforces restricted: {problem}",
            _obj(item),
        )
        for problem in restricted_violations(tpl[1])
    ]


# Needs of a pod the kubelet keeps retrying (CreateContainerConfigError until the Secret or ConfigMap
# exists): an Application syncing in parallel may provide them, since nothing waits on the pod for it.
RETRIED_BY_KUBELET = {"secret", "configmap"}


def _provided_by(step: Step) -> set[str]:
    return step.provides | {k for item in step.items for k in provides(item.manifest.doc, item.namespace)}


def _health_hold(item: Item, step: Step, need: Need) -> Finding:
    """A need only a later step provides, while Argo CD holds this step Progressing until it exists."""
    return Finding(
        item.manifest.source,
        "first-sync:health-hold",
        f"{step.name} ({item.phase} wave {item.wave}): {need.why} {need.key} comes from a later step, "
        f"but Argo CD reports this object Progressing until it exists, and the later steps wait for "
        f"{step.name} to be Healthy: the sync stops here. Move the object to a step after the one that "
        f"provides {need.key}",
        _obj(item),
    )


def walk(steps: list[Step], owner: str, built: set[str], registries: tuple[str, ...] = ()) -> Outcome:
    """Findings for every need that is not met when its object is applied, in apply order (and, with
    `registries`, every image that does not name one of them)."""
    outcome = Outcome()
    provided = everything(steps)
    labels = namespace_labels(steps)
    before: set[str] = set()  # provided by groups that finished
    for group in sorted({s.group for s in steps}):
        group_steps = [s for s in steps if s.group == group]
        done_in_group: set[str] = set()
        for step in group_steps:
            siblings = set().union(*(_provided_by(s) for s in group_steps if s is not step))
            outcome.order.append(f"{group:>3}. {step.name}: {len(step.items)} objects")
            have = before | step.provides
            for item in step.items:
                now = have | {
                    k
                    for other in step.items
                    if _when(other) <= _when(item)
                    for k in provides(other.manifest.doc, other.namespace)
                }
                for need in needs(item.manifest.doc, item.namespace):
                    keys = (need.key, *need.any_of)
                    held = need.holds_health and not any(k in now or k in siblings for k in keys)
                    if held and any(k in provided for k in keys):
                        outcome.findings.append(_health_hold(item, step, need))
                        continue
                    if any(k in now or (need.eventually and k in provided) for k in keys):
                        continue
                    if need.rule in RETRIED_BY_KUBELET and need.key in siblings:
                        continue
                    outcome.findings.append(
                        Finding(
                            item.manifest.source,
                            f"first-sync:{need.rule}",
                            f"{step.name} ({item.phase} wave {item.wave}): {_missing(need, provided)}",
                            _obj(item),
                        )
                    )
                outcome.findings += _image_findings(item, step, owner, built, registries)
                outcome.findings += _pod_security_findings(item, step, labels)
            done_in_group |= _provided_by(step)
        before |= done_in_group
    return outcome
