"""Pod Security Admission, level `restricted`: what a namespace labelled
`pod-security.kubernetes.io/enforce: restricted` refuses, checked on every pod template.

A Deployment whose pods the admission refuses is created, but its ReplicaSet never gets a pod: the
Application never turns Healthy and its PostSync hooks (the commit trigger) never run. The checks follow the
Pod Security Standards (baseline + restricted, Kubernetes 1.33):

- no hostNetwork/hostPID/hostIPC, no privileged container, no hostPort, no hostPath volume;
- volumes only of the restricted types (configMap, csi, downwardAPI, emptyDir, ephemeral,
  persistentVolumeClaim, projected, secret);
- every container (init containers too): allowPrivilegeEscalation false, capabilities drop ALL and add at
  most NET_BIND_SERVICE, runAsNonRoot true (own or the pod's) and no runAsUser 0, seccompProfile
  RuntimeDefault or Localhost (own or the pod's).
"""

from __future__ import annotations

from collections.abc import Iterator

from ci.validate.findings import Finding, obj_name
from ci.validate.manifests import Manifest
from ci.validate.workloads import WORKLOAD_KINDS, containers, pod_template

RULE = "pod-security"
# The namespace label that makes the admission enforce a level.
ENFORCE = "pod-security.kubernetes.io/enforce"
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SECCOMP_TYPES = {"RuntimeDefault", "Localhost"}


def _pod_level(pod: dict) -> Iterator[str]:
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            yield f"{field}: true is not allowed"
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            yield f"volume {volume.get('name')!r} is of type {', '.join(sorted(kinds))}"


def _container_level(container: dict, pod_sc: dict) -> Iterator[str]:
    name, sc = container.get("name", "?"), container.get("securityContext") or {}
    if sc.get("privileged"):
        yield f"container {name} is privileged"
    if any(port.get("hostPort") for port in container.get("ports") or []):
        yield f"container {name} uses a hostPort"
    if sc.get("allowPrivilegeEscalation") is not False:
        yield f"container {name}: set securityContext.allowPrivilegeEscalation: false"
    capabilities = sc.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        yield f"container {name}: set securityContext.capabilities.drop: [ALL]"
    added = sorted(set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"})
    if added:
        yield f"container {name} adds capabilities {added} (only NET_BIND_SERVICE is allowed)"
    if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
        yield f"container {name}: set runAsNonRoot: true (pod or container securityContext)"
    if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
        yield f"container {name} runs as UID 0"
    seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
    if seccomp not in SECCOMP_TYPES:
        yield (
            f"container {name}: seccompProfile is {seccomp or 'not set'}; set seccompProfile.type: "
            "RuntimeDefault (pod or container securityContext)"
        )


def restricted_violations(pod: dict) -> list[str]:
    """Why the `restricted` Pod Security level refuses this pod spec (empty: admitted)."""
    pod_sc = pod.get("securityContext") or {}
    out = list(_pod_level(pod))
    for container, _ in containers(pod):
        out += _container_level(container, pod_sc)
    return out


def check_manifest(m: Manifest) -> list[Finding]:
    """Pod Security `restricted` findings of a workload object."""
    if m.doc.get("kind") not in WORKLOAD_KINDS:
        return []
    template = pod_template(m.doc)
    if template is None:
        return []
    name = obj_name(m.doc)
    return [Finding(m.source, RULE, message, name) for message in restricted_violations(template[1])]


def check_all(manifests: list[Manifest]) -> list[Finding]:
    """Pod Security findings of many objects."""
    return [finding for m in manifests for finding in check_manifest(m)]
