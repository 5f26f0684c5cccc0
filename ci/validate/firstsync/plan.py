"""The apply order of a first sync, as Argo CD follows it from the root app.

Steps run in order; a step is applied whole, by hook phase then sync wave, and the next step starts
when it is Healthy (argocd-cm gives Applications a health check, so the root app's waves wait for
their child Applications). Applications created by an ApplicationSet are not in any parent's sync:
the ApplicationSet controller creates them all at once, so they form one step group that syncs in
parallel and their sync-wave annotations order nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ci.validate.firstsync import cnpg
from ci.validate.firstsync.bootstrap_steps import manual_steps
from ci.validate.firstsync.needs import namespace_of
from ci.validate.manifests import Manifest, load_file

PHASES = ("PreSync", "Sync", "PostSync", "Runtime")
_HELM_HOOK_PHASE = {
    "pre-install": "PreSync",
    "pre-upgrade": "PreSync",
    "post-install": "PostSync",
    "post-upgrade": "PostSync",
}

GATEWAY_API_KINDS = (
    "GatewayClass",
    "Gateway",
    "HTTPRoute",
    "GRPCRoute",
    "ReferenceGrant",
    "BackendTLSPolicy",
    "ListenerSet",
    "TLSRoute",
    "TCPRoute",
    "UDPRoute",
)
ENVOY_GATEWAY_KINDS = (
    "Backend",
    "BackendTrafficPolicy",
    "ClientTrafficPolicy",
    "EnvoyExtensionPolicy",
    "EnvoyPatchPolicy",
    "EnvoyProxy",
    "HTTPRouteFilter",
    "SecurityPolicy",
)
METALLB_KINDS = (
    "IPAddressPool",
    "L2Advertisement",
    "BGPAdvertisement",
    "BGPPeer",
    "BFDProfile",
    "Community",
    "ServiceL2Status",
)
PROMETHEUS_OPERATOR_KINDS = (
    "Alertmanager",
    "AlertmanagerConfig",
    "PodMonitor",
    "Probe",
    "Prometheus",
    "PrometheusAgent",
    "PrometheusRule",
    "ScrapeConfig",
    "ServiceMonitor",
    "ThanosRuler",
)
# What the pinned upstream charts the platform Applications install give the cluster (their renders
# need the network, so the dry run takes what they install from here; keep in step with the pins).
UPSTREAM_CHARTS: dict[str, set[str]] = {
    "sealed-secrets": {"crd:bitnami.com/SealedSecret", "controller:sealed-secrets"},
    "cert-manager": {
        "crd:cert-manager.io/Certificate",
        "crd:cert-manager.io/CertificateRequest",
        "crd:cert-manager.io/Issuer",
        "crd:cert-manager.io/ClusterIssuer",
        "crd:acme.cert-manager.io/Order",
        "crd:acme.cert-manager.io/Challenge",
    },
    # Envoy Gateway's chart: the Gateway API CRDs (bundle v1.6.1) and its own
    "gateway-helm": {
        *(f"crd:gateway.networking.k8s.io/{kind}" for kind in GATEWAY_API_KINDS),
        *(f"crd:gateway.envoyproxy.io/{kind}" for kind in ENVOY_GATEWAY_KINDS),
        "controller:envoy-gateway",
    },
    "metallb": {
        *(f"crd:metallb.io/{kind}" for kind in METALLB_KINDS),
        "controller:metallb",
    },
    "kube-prometheus-stack": {
        *(f"crd:monitoring.coreos.com/{kind}" for kind in PROMETHEUS_OPERATOR_KINDS),
        "controller:prometheus-operator",
    },
    "nfs-subdir-external-provisioner": {"StorageClass/nfs-client"},
    **cnpg.OPERATOR_CHARTS,
    # release loki in namespace logging (bootstrap/platform/loki.yaml): monolithic mode's Service
    "loki": {"Service/logging/loki"},
}
# A fresh cluster: its namespaces and a default StorageClass (PVCs that name none get it).
CLUSTER_BASELINE = {"Namespace/default", "Namespace/kube-system", "Namespace/kube-public"}


@dataclass
class Item:
    """One object in the plan: where it lands and when in its step it is applied."""

    manifest: Manifest
    namespace: str
    phase: str
    wave: int


@dataclass
class Step:
    """One apply step: a manual command, or the sync of one Application."""

    name: str
    group: int  # steps of one group run in parallel; each group waits for the previous one
    items: list[Item] = field(default_factory=list)
    provides: set[str] = field(default_factory=set)
    source: str = ""
    namespace_labels: dict[str, dict] = field(default_factory=dict)


def phase_and_wave(doc: dict) -> tuple[str, int] | None:
    """(phase, wave) Argo CD gives an object, or None for hooks it never runs on sync (tests, Skip)."""
    ann = (doc.get("metadata") or {}).get("annotations") or {}
    if hook := ann.get("argocd.argoproj.io/hook"):
        phase = hook.split(",")[0].strip()
        if phase in ("Skip", "SyncFail", "PreDelete", "PostDelete"):
            return None
        return phase, int(ann.get("argocd.argoproj.io/sync-wave", "0"))
    if helm_hook := ann.get("helm.sh/hook"):
        phases = {_HELM_HOOK_PHASE.get(h.strip()) for h in helm_hook.split(",")} - {None}
        if not phases:
            return None  # test / delete hooks: Argo CD does not run them on sync
        return sorted(phases, key=PHASES.index)[0], int(ann.get("helm.sh/hook-weight", "0"))
    return "Sync", int(ann.get("argocd.argoproj.io/sync-wave", "0"))


def _items(manifests: list[Manifest], namespace: str) -> list[Item]:
    out = []
    for m in manifests:
        when = phase_and_wave(m.doc)
        if when is not None:
            out.append(Item(m, namespace_of(m.doc, namespace), *when))
    return sorted(out, key=lambda i: (PHASES.index(i.phase), i.wave))


def chart_name(src: dict) -> str:
    """The upstream chart of a source: `chart` of a Helm repository, or the last segment of an
    `oci://` repository (Argo CD's OCI source), else ""."""
    if src.get("chart"):
        return str(src["chart"])
    url = str(src.get("repoURL", ""))
    return url.rstrip("/").rsplit("/", 1)[-1] if url.startswith("oci://") else ""


def _sources(spec: dict) -> list[dict]:
    return list(spec.get("sources") or []) + ([spec["source"]] if spec.get("source") else [])


def app_objects(app: dict, rendered: dict[str, list[Manifest]], repo: Path, env: str) -> list[Manifest]:
    """The objects one Application syncs: renders of its charts and kustomizations, plain files."""
    out: list[Manifest] = []
    for src in _sources(app["spec"]):
        path = src.get("path", "")
        if src.get("chart") == "airflow":
            out += rendered.get(f"rendered/airflow-{env}.yaml", [])
            out += rendered.get(f"runtime/airflow-{env}", [])
        elif chart_name(src):
            continue  # a pinned upstream chart: what it installs is in UPSTREAM_CHARTS
        elif path.startswith("charts/"):
            out += rendered.get(f"rendered/{path.removeprefix('charts/')}-{env}.yaml", [])
        elif (repo / path / "kustomization.yaml").is_file():
            out += rendered.get(f"rendered/kustomize-{path.replace('/', '_')}.yaml", [])
        elif path and (repo / path).is_dir():
            out += [m for f in sorted((repo / path).glob("*.yaml")) for m in load_file(f, repo)]
    return out


def app_step(app: dict, group: int, rendered: dict[str, list[Manifest]], repo: Path, source: str) -> Step:
    """The sync of one Application."""
    spec = app["spec"]
    ns = (spec.get("destination") or {}).get("namespace", "")
    env = ((app["metadata"].get("labels") or {}).get("mlops/env")) or ""
    provides: set[str] = set()
    labels: dict[str, dict] = {}
    policy = spec.get("syncPolicy") or {}
    if "CreateNamespace=true" in (policy.get("syncOptions") or []) and ns:
        provides.add(f"Namespace/{ns}")
        labels[ns] = dict((policy.get("managedNamespaceMetadata") or {}).get("labels") or {})
    for src in _sources(spec):
        provides |= UPSTREAM_CHARTS.get(chart_name(src), set())
    wave = ((app["metadata"].get("annotations") or {}).get("argocd.argoproj.io/sync-wave")) or "0"
    name = f"Application {app['metadata']['name']} (wave {wave})"
    step = Step(name, group, provides=provides, source=source, namespace_labels=labels)
    step.items = _items(app_objects(app, rendered, repo, env), ns)
    return step


def _wave(doc: dict) -> int:
    return int(((doc["metadata"].get("annotations") or {}).get("argocd.argoproj.io/sync-wave")) or "0")


def build(
    repo: Path, rendered: dict[str, list[Manifest]], generated: list[dict], root: dict
) -> tuple[list[Step], list[str]]:
    """The plan from the README's manual steps through the root app to the generated Applications.

    Returns the steps and problems with the manual order (a step the README lacks or misorders).
    """
    steps: list[Step] = [Step("a fresh cluster", 0, provides=set(CLUSTER_BASELINE))]
    problems: list[str] = []
    manual = manual_steps(repo)
    kinds = [s.kind for s in manual]
    for needed in ("argocd", "root-app"):
        if needed not in kinds:
            problems.append(f"bootstrap/README.md has no `{needed}` step")
    if problems:
        return steps, problems
    group = 1
    for ms in manual[: kinds.index("root-app")]:
        step = Step(f"README line {ms.line}: {ms.command}", group, provides=set(ms.provides))
        if ms.kind == "argocd":
            step.items = _items(rendered.get("rendered/kustomize-bootstrap_argocd.yaml", []), "argocd")
        steps.append(step)
        group += 1
    root_step = Step(f"README line {manual[kinds.index('root-app')].line}: root app", group)
    root_step.items = _items([Manifest("bootstrap/root-app.yaml", root)], "argocd")
    steps.append(root_step)
    group += 1
    platform = rendered.get("rendered/kustomize-bootstrap_platform.yaml", [])
    children = sorted(platform, key=lambda m: _wave(m.doc))
    for wave in sorted({_wave(m.doc) for m in children}):
        in_wave = [m for m in children if _wave(m.doc) == wave]
        wave_step = Step(f"root app wave {wave}", group, source="bootstrap/platform")
        wave_step.items = _items([m for m in in_wave if m.doc["kind"] != "Application"], "argocd")
        steps.append(wave_step)
        for m in in_wave:
            if m.doc["kind"] == "Application":
                steps.append(app_step(m.doc, group, rendered, repo, m.source))
        group += 1
        if any(m.doc["metadata"]["name"] == "mlops-apps" for m in in_wave):
            for app in generated:
                steps.append(app_step(app, group, rendered, repo, "apps/ApplicationSet (generated)"))
            group += 1
    # the README's steps after the root app (e.g. a reseal) come last: nothing waits for them
    for ms in manual[kinds.index("root-app") + 1 :]:
        steps.append(Step(f"README line {ms.line}: {ms.command}", group, provides=set(ms.provides)))
        group += 1
    return steps, problems
