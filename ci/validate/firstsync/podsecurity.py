"""Pod Security `restricted` (the level the namespaces enforce): what the API server would refuse."""

from __future__ import annotations

from ci.validate.workloads import containers

ENFORCE = "pod-security.kubernetes.io/enforce"
_SECCOMP_OK = {"RuntimeDefault", "Localhost"}
_HOST_FIELDS = ("hostNetwork", "hostPID", "hostIPC")


def restricted_violations(pod: dict) -> list[str]:
    """Why a pod spec fails the `restricted` Pod Security Standard (empty when it passes)."""
    out = []
    pod_ctx = pod.get("securityContext") or {}
    out += [f"{f}: true" for f in _HOST_FIELDS if pod.get(f)]
    out += [f"volume {v.get('name')}: hostPath" for v in pod.get("volumes") or [] if "hostPath" in v]
    pod_seccomp = (pod_ctx.get("seccompProfile") or {}).get("type")
    for c, _ in containers(pod):
        ctx = c.get("securityContext") or {}
        name = f"container {c.get('name')}"
        if ctx.get("privileged"):
            out.append(f"{name}: privileged")
        if ctx.get("allowPrivilegeEscalation") is not False:
            out.append(f"{name}: allowPrivilegeEscalation must be false")
        if "ALL" not in ((ctx.get("capabilities") or {}).get("drop") or []):
            out.append(f"{name}: capabilities must drop ALL")
        added = set((ctx.get("capabilities") or {}).get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            out.append(f"{name}: adds capabilities {sorted(added)}")
        if not ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")):
            out.append(f"{name}: runAsNonRoot must be true (pod or container)")
        if ctx.get("runAsUser", pod_ctx.get("runAsUser")) == 0:
            out.append(f"{name}: runAsUser 0")
        if (ctx.get("seccompProfile") or {}).get("type", pod_seccomp) not in _SECCOMP_OK:
            out.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost")
    return out
