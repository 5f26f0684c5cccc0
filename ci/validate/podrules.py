"""The API server's semantic rules for pods that its OpenAPI schema does not carry.

A pod that passes the JSON schema can still be rejected on create (or never start) because of these:

| rule | what the API server (or kubelet) enforces |
| --- | --- |
| `pod-volume-names` | volume names are unique in the pod |
| `pod-container-names` | container names (containers, init and ephemeral containers) are unique |
| `pod-mount-paths` | a container mounts each path once |
| `pod-mount-volume` | every volumeMount names a volume of the pod |
| `pod-mount-in-readonly-volume` | no mount inside a ConfigMap/Secret/projected/downwardAPI volume |
| `pod-resources` | requests ≤ limits; an extended resource (e.g. nvidia.com/gpu) requests exactly its limit |
| `pod-names` | DNS-1123 names: pod (subdomain), containers and volumes (labels), port names (IANA) |
| `pod-labels` | label keys (optional DNS prefix + name ≤ 63) and values (≤ 63, alphanumeric ends) |
| `pod-env-names` | each env name once per container |
| `pod-tolerations` | operator Equal (default) or Exists, Exists without value, known effect |

`pod_violations` checks one pod (metadata + spec) and returns (rule, message) pairs; `check_manifest`
turns them into findings for any workload object, so a render, a pod built by Airflow or a whole-cluster
dry run all use the same rules.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal

from kubernetes.utils.quantity import parse_quantity

from ci.validate.findings import Finding, obj_name
from ci.validate.manifests import Manifest
from ci.validate.workloads import WORKLOAD_KINDS, containers, pod_template

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
PORT_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Volume sources the kubelet writes atomically into a read-only directory: nothing can be mounted inside.
READ_ONLY_SOURCES = ("configMap", "secret", "projected", "downwardAPI")
# Resources the API server treats as native (requests may be below limits); others must request = limit.
NATIVE_RESOURCES = {"cpu", "memory", "ephemeral-storage", "storage"}
TAINT_EFFECTS = {"", "NoSchedule", "PreferNoSchedule", "NoExecute"}


def _duplicates(names: list[str]) -> list[str]:
    return sorted(name for name, count in Counter(names).items() if count > 1)


def dns_label_problem(value: str) -> str | None:
    """Why `value` is not a DNS-1123 label (≤ 63 lower-case alphanumerics and '-'), or None."""
    if len(value) > 63:
        return f"{value!r} is longer than 63 characters"
    if not DNS_LABEL.match(value):
        return f"{value!r} is not a DNS-1123 label (lower-case letters, digits, '-'; alphanumeric ends)"
    return None


def dns_subdomain_problem(value: str) -> str | None:
    """Why `value` is not a DNS-1123 subdomain (≤ 253, dot-separated labels), or None."""
    if len(value) > 253:
        return f"{value!r} is longer than 253 characters"
    if not DNS_SUBDOMAIN.match(value):
        return f"{value!r} is not a DNS-1123 subdomain (lower-case letters, digits, '-', '.')"
    return None


def label_problems(labels: dict, where: str) -> Iterator[str]:
    """Why keys or values of a label map are not valid Kubernetes label keys/values."""
    for key, value in (labels or {}).items():
        prefix, _, name = str(key).rpartition("/")
        if prefix and dns_subdomain_problem(prefix):
            yield f"{where} key {key!r}: prefix {dns_subdomain_problem(prefix)}"
        if len(name) > 63 or not LABEL_NAME.match(name):
            yield f"{where} key {key!r}: a name is ≤ 63 alphanumerics, '-', '_', '.' (alphanumeric ends)"
        text = "" if value is None else str(value)
        if len(text) > 63 or (text and not LABEL_NAME.match(text)):
            yield (
                f"{where} {key}={text!r}: a label value is ≤ 63 alphanumerics, '-', '_', '.' "
                "with alphanumeric ends (or empty)"
            )


def toleration_problems(tolerations: list[dict]) -> Iterator[str]:
    """Why tolerations would be refused: the API server's checks (operator defaults to Equal)."""
    for index, toleration in enumerate(tolerations or []):
        key, value = str(toleration.get("key") or ""), str(toleration.get("value") or "")
        operator, effect = toleration.get("operator") or "Equal", toleration.get("effect") or ""
        where = f"toleration {index} ({key or 'no key'})"
        if operator not in ("Equal", "Exists"):
            yield f"{where}: operator {operator!r} is not Equal or Exists"
        elif operator == "Exists" and value:
            yield f"{where}: operator Exists takes no value (got {value!r})"
        elif not key and operator != "Exists":
            yield f"{where}: a toleration without key needs operator Exists"
        elif operator == "Equal" and (len(value) > 63 or (value and not LABEL_NAME.match(value))):
            yield f"{where}: value {value!r} is not a label value"
        if key:
            yield from (f"{where}: {p}" for p in label_problems({key: ""}, "key"))
        if effect not in TAINT_EFFECTS:
            yield f"{where}: effect {effect!r} is not one of {sorted(TAINT_EFFECTS - {''})}"
        if toleration.get("tolerationSeconds") is not None and effect != "NoExecute":
            yield f"{where}: tolerationSeconds applies only to effect NoExecute"


def _extended(resource: str) -> bool:
    return resource not in NATIVE_RESOURCES and not resource.startswith("hugepages-")


def _quantity(value: object) -> Decimal | None:
    try:
        return Decimal(parse_quantity(value))
    except (ValueError, TypeError, ArithmeticError):
        return None


def resource_problems(name: str, resources: dict) -> Iterator[str]:
    """Requests above limits, and extended resources whose request differs from the limit."""
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    for key in sorted(set(requests) | set(limits)):
        request, limit = requests.get(key), limits.get(key)
        for part, value in (("requests", request), ("limits", limit)):
            if value is not None and _quantity(value) is None:
                yield f"container {name}: {part}.{key} {value!r} is not a quantity"
        if request is None or limit is None or _quantity(request) is None or _quantity(limit) is None:
            continue
        if _quantity(request) > _quantity(limit):
            yield f"container {name}: requests.{key} {request} is more than limits.{key} {limit}"
        elif _extended(key) and _quantity(request) != _quantity(limit):
            yield f"container {name}: {key} is an extended resource: requests ({request}) must equal limits"


def _mount_problems(container: dict, volumes: dict[str, dict]) -> Iterator[tuple[str, str]]:
    name = container.get("name", "?")
    mounts = container.get("volumeMounts") or []
    for path in _duplicates([str(m.get("mountPath", "")) for m in mounts]):
        yield "pod-mount-paths", f"container {name} mounts {path} more than once"
    read_only_dirs = []
    for mount in mounts:
        volume = mount.get("name")
        if volume not in volumes:
            yield "pod-mount-volume", f"container {name} mounts volume {volume!r}; the pod has no such volume"
        elif not mount.get("subPath") and any(k in volumes[volume] for k in READ_ONLY_SOURCES):
            read_only_dirs.append((str(mount.get("mountPath", "")).rstrip("/"), volume))
    for mount in mounts:
        path = str(mount.get("mountPath", "")).rstrip("/")
        for directory, volume in read_only_dirs:
            if path != directory and path.startswith(directory + "/"):
                yield (
                    "pod-mount-in-readonly-volume",
                    f"container {name} mounts {mount.get('name')!r} at {path}, inside {directory} where "
                    f"volume {volume!r} (ConfigMap/Secret) is mounted: the kubelet cannot create that mount",
                )


def pod_violations(metadata: dict, pod: dict, claims: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(rule, message) for every semantic rule the pod (its metadata and spec) breaks.

    `claims`: names of a StatefulSet's volumeClaimTemplates, which the controller adds as volumes.
    """
    out: list[tuple[str, str]] = []
    volume_list = [*(pod.get("volumes") or []), *({"name": c, "persistentVolumeClaim": {}} for c in claims)]
    for name in _duplicates([str(v.get("name", "")) for v in volume_list]):
        out.append(("pod-volume-names", f"volume name {name!r} is used more than once"))
    volumes = {str(v.get("name", "")): v for v in volume_list}
    all_containers = containers(pod)
    for name in _duplicates([str(c.get("name", "")) for c, _ in all_containers]):
        out.append(("pod-container-names", f"container name {name!r} is used more than once"))
    if metadata.get("name") and dns_subdomain_problem(str(metadata["name"])):
        out.append(("pod-names", f"pod name {dns_subdomain_problem(str(metadata['name']))}"))
    for volume in volumes:
        if dns_label_problem(volume):
            out.append(("pod-names", f"volume name {dns_label_problem(volume)}"))
    out += [("pod-labels", message) for message in label_problems(metadata.get("labels") or {}, "label")]
    out += [("pod-tolerations", message) for message in toleration_problems(pod.get("tolerations") or [])]
    for container, _ in all_containers:
        name = str(container.get("name", "?"))
        if dns_label_problem(name):
            out.append(("pod-names", f"container name {dns_label_problem(name)}"))
        for port in container.get("ports") or []:
            port_name = port.get("name")
            if port_name and (len(port_name) > 15 or not PORT_NAME.match(port_name)):
                message = f"container {name}: port name {port_name!r} is not an IANA service name (≤ 15)"
                out.append(("pod-names", message))
        out += list(_mount_problems(container, volumes))
        out += [("pod-resources", m) for m in resource_problems(name, container.get("resources") or {})]
        env_names = [str(e.get("name", "")) for e in container.get("env") or []]
        for env in _duplicates(env_names):
            out.append(("pod-env-names", f"container {name} sets env {env} more than once"))
    return out


def check_manifest(m: Manifest) -> list[Finding]:
    """Findings of the semantic pod rules for a workload object (and its own labels)."""
    doc = m.doc
    if doc.get("kind") not in WORKLOAD_KINDS:
        return []
    name = obj_name(doc)
    out = [
        Finding(m.source, "pod-labels", message, name)
        for message in label_problems((doc.get("metadata") or {}).get("labels") or {}, "label")
        if doc.get("kind") != "Pod"
    ]
    template = pod_template(doc)
    if template is None:
        return out
    metadata, pod = template
    claims = tuple(
        str((c.get("metadata") or {}).get("name", ""))
        for c in (doc.get("spec") or {}).get("volumeClaimTemplates") or []
    )
    return out + [
        Finding(m.source, rule, message, name) for rule, message in pod_violations(metadata, pod, claims)
    ]


def check_all(manifests: list[Manifest]) -> list[Finding]:
    """Semantic pod findings of many objects."""
    return [finding for m in manifests for finding in check_manifest(m)]
