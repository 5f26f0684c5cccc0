"""What one object needs from the cluster and what it gives it, as keys like ``Secret/<ns>/<name>``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ci.validate.firstsync import cnpg
from ci.validate.workloads import containers, pod_template

# API groups served by the API server itself: their kinds need no CRD.
BUILTIN_GROUPS = {
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apps",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "ClusterIssuer",
    "PriorityClass",
    "StorageClass",
    "IngressClass",
    "GatewayClass",
    "PersistentVolume",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
}
_LOCAL_HOSTS = {"localhost", ""}
_URL = re.compile(r"\b(?:https?|postgresql(?:\+\w+)?|grpc)://[^\s\"',]+")


@dataclass(frozen=True)
class Need:
    """One requirement: `key` must exist when the object is applied; `rule` names the check."""

    rule: str
    key: str
    why: str
    eventually: bool = False  # a Service only has to exist somewhere in the plan (clients retry)
    any_of: tuple[str, ...] = ()  # other keys that meet the need as well (a wildcard grant)
    # Argo CD reports the object Progressing until the need exists (an HTTPRoute without a parent that
    # wrote its status): the step waits for it, so a later step cannot be the one that provides it
    holds_health: bool = False


def group_of(doc: dict) -> str:
    """The API group of an object (empty for the core group)."""
    api = str(doc.get("apiVersion", ""))
    return api.rpartition("/")[0] if "/" in api else ""


def namespace_of(doc: dict, default: str) -> str:
    """The namespace an object lands in (empty for cluster-scoped kinds)."""
    if doc.get("kind") in CLUSTER_SCOPED:
        return ""
    return str((doc.get("metadata") or {}).get("namespace") or default)


def key(kind: str, namespace: str, name: str) -> str:
    """``Kind/ns/name`` or ``Kind/name`` for cluster-scoped kinds."""
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def provides(doc: dict, namespace: str) -> set[str]:
    """What applying `doc` adds to the cluster: itself, a CRD's kind, a SealedSecret's Secret."""
    name = (doc.get("metadata") or {}).get("name", "")
    out = {key(doc["kind"], namespace, name)}
    if doc["kind"] == "CustomResourceDefinition":
        spec = doc.get("spec") or {}
        out.add(f"crd:{spec.get('group')}/{(spec.get('names') or {}).get('kind')}")
    if doc["kind"] == "SealedSecret":
        out.add(key("Secret", namespace, name))
    if doc["kind"] == "Certificate" and (secret := (doc.get("spec") or {}).get("secretName")):
        out.add(key("Secret", namespace, secret))  # issued by cert-manager
    if doc["kind"] == "ReferenceGrant":
        from ci.validate.firstsync.routing import grant_provides

        out |= grant_provides(doc, namespace)
    if doc["kind"] == "Gateway":
        from ci.validate.firstsync.routing import gateway_provides

        out |= gateway_provides(doc, namespace)
    return out | cnpg.provides(doc, namespace)


def _pod_needs(pod: dict, ns: str) -> list[Need]:
    out: list[Need] = []
    for vol in pod.get("volumes") or []:
        if (sec := vol.get("secret")) and not sec.get("optional"):
            out.append(Need("secret", key("Secret", ns, sec["secretName"]), f"volume {vol['name']}"))
        if (cm := vol.get("configMap")) and not cm.get("optional"):
            out.append(Need("configmap", key("ConfigMap", ns, cm["name"]), f"volume {vol['name']}"))
        if claim := vol.get("persistentVolumeClaim"):
            out.append(
                Need("pvc", key("PersistentVolumeClaim", ns, claim["claimName"]), f"volume {vol['name']}")
            )
        for src in (vol.get("projected") or {}).get("sources") or []:
            if (sec := src.get("secret")) and not sec.get("optional"):
                out.append(Need("secret", key("Secret", ns, sec["name"]), f"volume {vol['name']}"))
            if (cm := src.get("configMap")) and not cm.get("optional"):
                out.append(Need("configmap", key("ConfigMap", ns, cm["name"]), f"volume {vol['name']}"))
    for c, _ in containers(pod):
        where = f"container {c.get('name')}"
        for env in c.get("env") or []:
            ref = env.get("valueFrom") or {}
            if (s := ref.get("secretKeyRef")) and not s.get("optional"):
                out.append(Need("secret", key("Secret", ns, s["name"]), f"{where} env {env['name']}"))
            if (m := ref.get("configMapKeyRef")) and not m.get("optional"):
                out.append(Need("configmap", key("ConfigMap", ns, m["name"]), f"{where} env {env['name']}"))
            out += url_needs(str(env.get("value") or ""), ns, f"{where} env {env['name']}")
        for src in c.get("envFrom") or []:
            if (s := src.get("secretRef")) and not s.get("optional"):
                out.append(Need("secret", key("Secret", ns, s["name"]), f"{where} envFrom"))
            if (m := src.get("configMapRef")) and not m.get("optional"):
                out.append(Need("configmap", key("ConfigMap", ns, m["name"]), f"{where} envFrom"))
    sa = pod.get("serviceAccountName")
    if sa and sa != "default":
        out.append(Need("serviceaccount", key("ServiceAccount", ns, sa), "serviceAccountName"))
    for ps in pod.get("imagePullSecrets") or []:
        out.append(Need("secret", key("Secret", ns, ps["name"]), "imagePullSecrets"))
    if pc := pod.get("priorityClassName"):
        out.append(Need("priorityclass", key("PriorityClass", "", pc), "priorityClassName"))
    return out


def url_needs(text: str, ns: str, where: str) -> list[Need]:
    """A Service for every in-cluster host of a URL: `svc` (same namespace) or `svc.ns.svc[.cluster.local]`.

    Hosts with other dots (Gateway hosts, S3, GitHub) are outside the cluster and not checked.
    """
    out = []
    for url in _URL.findall(text):
        host = urlsplit(url).hostname or ""
        parts = host.split(".")
        if host.endswith((".svc", ".svc.cluster.local")) and len(parts) >= 3:
            svc, svc_ns = parts[0], parts[1]
        elif len(parts) == 1 and host not in _LOCAL_HOSTS:
            svc, svc_ns = host, ns
        else:
            continue
        out.append(Need("service", key("Service", svc_ns, svc), f"{where} URL {url}", True))
    return out


def needs(doc: dict, ns: str) -> list[Need]:
    """Everything `doc` needs from the cluster when it is applied in namespace `ns`."""
    out: list[Need] = []
    kind, group = doc["kind"], group_of(doc)
    if group not in BUILTIN_GROUPS:
        out.append(Need("crd", f"crd:{group}/{kind}", f"{doc['apiVersion']} {kind}"))
    if ns and kind != "Namespace":
        out.append(Need("namespace", key("Namespace", "", ns), "namespace"))
    if kind == "SealedSecret":
        out.append(Need("sealing", "controller:sealed-secrets", "the Sealed Secrets controller"))
        out.append(Need("sealing", f"resealed:{ns}", "sealed with this cluster's key (seal-env.sh)"))
    spec = doc.get("spec") or {}
    if (tpl := pod_template(doc)) is not None:
        out += _pod_needs(tpl[1], ns)
    if kind == "PersistentVolumeClaim" and spec.get("storageClassName"):
        sc = spec["storageClassName"]
        out.append(Need("storageclass", key("StorageClass", "", sc), "storageClassName"))
    if kind == "Ingress":
        if cls := spec.get("ingressClassName"):
            out.append(Need("ingressclass", key("IngressClass", "", cls), "ingressClassName"))
        issuer = ((doc.get("metadata") or {}).get("annotations") or {}).get("cert-manager.io/cluster-issuer")
        if issuer:
            out.append(Need("issuer", key("ClusterIssuer", "", issuer), "cert-manager.io/cluster-issuer"))
    if kind == "Gateway" and (cls := spec.get("gatewayClassName")):
        out.append(Need("gatewayclass", key("GatewayClass", "", cls), "gatewayClassName"))
    if kind in ("Gateway", "HTTPRoute", "GRPCRoute"):
        from ci.validate.firstsync.routing import gateway_needs, route_needs

        out += gateway_needs(doc, ns) if kind == "Gateway" else route_needs(doc, ns)
    if kind == "Certificate" and (ref := spec.get("issuerRef")):
        ikind = ref.get("kind", "Issuer")
        issuer_ns = "" if ikind == "ClusterIssuer" else ns
        out.append(Need("issuer", key(ikind, issuer_ns, ref["name"]), "issuerRef"))
    if kind == "ConfigMap":
        for name, text in (doc.get("data") or {}).items():
            out += url_needs(str(text), ns, f"data {name}")
    return out + [Need(*need) for need in cnpg.needs(doc, ns)]
