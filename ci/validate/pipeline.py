"""The whole validation run: renders, plain manifests, embedded pod templates, ApplicationSets, policies."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ci.validate import appset, kpo_pods, monitoring, podrules, podsecurity, policy, render, schemas
from ci.validate.findings import Finding, SetupError, obj_name
from ci.validate.firstsync.run import DryRun, dry_run
from ci.validate.manifests import (
    Manifest,
    load_file,
    parse_documents,
    plain_manifest_files,
    tracked_yaml_files,
)
from ci.validate.settings import Settings

# Deliberately broken inputs of tests live in a `fixtures/negative/` folder under tests/; every other
# tracked YAML is scanned for plaintext Secrets.
SECRET_SCAN_EXCLUDE = re.compile(r"^tests/(.+/)?fixtures/negative/")
_POD_TEMPLATE_KEYS = ("pod_template_file.yaml", "pod_template.yaml")


@dataclass
class Report:
    """Result of a run."""

    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rendered: list[Path] = field(default_factory=list)
    applications: list[dict] = field(default_factory=list)
    trainer_pods: list[str] = field(default_factory=list)
    first_sync: DryRun = field(default_factory=DryRun)
    objects: int = 0


def embedded_pod_templates(
    manifests: list[Manifest], findings: list[Finding] | None = None
) -> list[Manifest]:
    """Pod templates stored in ConfigMaps (KubernetesExecutor / KubernetesPodOperator), as objects.

    A template that is not a Kubernetes object is reported into `findings` when given.
    """
    out = []
    for m in manifests:
        if m.doc.get("kind") != "ConfigMap":
            continue
        for key, text in (m.doc.get("data") or {}).items():
            if key.endswith(_POD_TEMPLATE_KEYS):
                source = f"{m.source}#ConfigMap/{m.doc['metadata']['name']}/{key}"
                try:
                    out.extend(parse_documents(text, source))
                except ValueError as error:
                    if findings is None:
                        raise
                    findings.append(Finding(source, "yaml", str(error)))
    return out


def trainer_pods(result: render.RenderResult, s: Settings) -> tuple[list[Manifest], list[Finding]]:
    """The KubernetesPodOperator pods of every Airflow render (one subprocess per environment)."""
    by_source: dict[str, list[Manifest]] = {}
    for m in result.manifests:
        by_source.setdefault(m.source, []).append(m)
    sources = sorted(src for src in by_source if re.fullmatch(r"rendered/airflow-[a-z0-9-]+\.yaml", src))
    pods: list[Manifest] = []
    findings: list[Finding] = []
    with ThreadPoolExecutor(max_workers=max(1, len(sources))) as pool:
        for built, problems in pool.map(
            lambda src: kpo_pods.trainer_pod_manifests(by_source[src], src, s.repo), sources
        ):
            pods += built
            findings += problems
    return pods, findings


def plain_manifests(repo: Path) -> tuple[list[Manifest], list[Finding]]:
    """Every plain manifest of apps/ and bootstrap/."""
    out, findings = [], []
    for path in plain_manifest_files(repo):
        try:
            out.extend(load_file(path, repo))
        except ValueError as error:
            findings.append(Finding(str(path.relative_to(repo)), "yaml", str(error)))
    return out, findings


def secret_scan(repo: Path) -> list[Finding]:
    """No Secret with data in any YAML tracked by git (templates are checked as text)."""
    findings = []
    for path in tracked_yaml_files(repo):
        rel = path.relative_to(repo).as_posix()
        if SECRET_SCAN_EXCLUDE.match(rel):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
        except yaml.YAMLError:
            findings.extend(policy.secret_text_findings(path, text, rel))
            continue
        for doc in docs:
            if doc.get("kind") == "Secret":
                findings.extend(
                    f for f in policy.check_manifest(Manifest(rel, doc)) if f.rule == "plaintext-secret"
                )
    return findings


# Kinds without a namespace that our charts could plausibly render.
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "ClusterIssuer",
    "PriorityClass",
    "StorageClass",
    "PersistentVolume",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
}


def _group(doc: dict) -> str:
    return str(doc.get("apiVersion", "")).rpartition("/")[0]


def _listed(rules: list[dict], doc: dict) -> bool:
    return any(r.get("group") in (_group(doc), "*") and r.get("kind") in (doc["kind"], "*") for r in rules)


def project_findings(
    apps: list[dict], projects: dict[str, dict], manifests: list[Manifest], repo: Path
) -> list[Finding]:
    """What an Application would sync that its AppProject forbids, or into another namespace.

    The objects of an Application are its render (`rendered/<app>-<env>.yaml`, from the labels the
    ApplicationSets set) and the plain manifests under its directory sources (its SealedSecrets).
    """
    by_source: dict[str, list[Manifest]] = {}
    for m in manifests:
        by_source.setdefault(m.source, []).append(m)
    out = []
    for app in apps:
        labels = app["metadata"].get("labels") or {}
        spec = app["spec"]
        project = (projects.get(spec.get("project", "")) or {}).get("spec") or {}
        if "mlops/app" not in labels or not project:
            continue
        name, namespace = app["metadata"]["name"], spec["destination"]["namespace"]
        objs = list(by_source.get(f"rendered/{labels['mlops/app']}-{labels['mlops/env']}.yaml", []))
        for src in spec.get("sources") or []:
            if src.get("path", "").startswith("apps/envs/"):
                objs += [
                    m for path in sorted((repo / src["path"]).glob("*.yaml")) for m in load_file(path, repo)
                ]
        for m in objs:
            doc, what = m.doc, obj_name(m.doc)
            if doc["kind"] in CLUSTER_SCOPED:
                if not _listed(project.get("clusterResourceWhitelist") or [], doc):
                    out.append(
                        Finding(
                            m.source,
                            "project",
                            f"{name}: cluster-scoped {doc['kind']} is not allowed by its AppProject",
                            what,
                        )
                    )
            elif _listed(project.get("namespaceResourceBlacklist") or [], doc):
                out.append(
                    Finding(
                        m.source, "project", f"{name}: {doc['kind']} is blacklisted by its AppProject", what
                    )
                )
            elif (doc.get("metadata") or {}).get("namespace", namespace) != namespace:
                out.append(
                    Finding(
                        m.source,
                        "project",
                        f"{name}: object is not in the destination namespace {namespace}",
                        what,
                    )
                )
    return out


def check_objects(manifests: list[Manifest], s: Settings) -> list[Finding]:
    """Schema, policy, pod-rule and Pod Security (restricted) findings of objects."""
    return (
        schemas.validate_all(manifests, s.crd_dir, s.k8s_version)
        + policy.check_all(manifests)
        + podrules.check_all(manifests)
        + podsecurity.check_all(manifests)
    )


def run_all(s: Settings, rendered: render.RenderResult | None = None) -> Report:
    """Render (unless given) and validate everything."""
    if s.crd_dir is None:
        raise SetupError(
            "no CRDs: CRD_DIR is not set and neither ../shared/vendor/crds nor .cache/vendor/crds exists; "
            "run `make install` (python -m ci.fetch_vendor) on a machine with network, or set CRD_DIR"
        )
    report = Report()
    result = rendered or render.render_all(s)
    report.findings += result.findings
    report.rendered = result.files

    plain, findings = plain_manifests(s.repo)
    report.findings += findings
    kpo, findings = trainer_pods(result, s)
    report.findings += findings
    report.trainer_pods = [m.source for m in kpo]
    objects = result.manifests + embedded_pod_templates(result.manifests, report.findings) + kpo + plain

    try:
        expanded = appset.expand_repo(s.repo)
    except appset.ExpansionError as error:
        raise SetupError(f"ApplicationSet expansion: {error}") from None
    for source, apps in expanded.items():
        report.applications += apps
        objects += [Manifest(f"{source} (generated)", app) for app in apps]
    # Argo CD's built-in `default` project allows everything; ours are defined in git.
    projects = {
        "default": {"spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}]}}
    }
    projects |= {m.doc["metadata"]["name"]: m.doc for m in plain if m.doc.get("kind") == "AppProject"}
    urls = {env["repoURL"] for env in render.environments(s.repo)}
    all_apps = report.applications + [m.doc for m in plain if m.doc.get("kind") == "Application"]
    report.findings += [
        Finding("apps/ApplicationSet", "application", p)
        for p in appset.check_applications(all_apps, projects, s.repo, urls)
    ]

    report.findings += project_findings(report.applications, projects, result.manifests, s.repo)
    watched, findings = monitoring.render_monitoring(s)
    report.findings += findings
    report.findings += check_objects(objects + watched, s)
    report.findings += secret_scan(s.repo)
    report.first_sync = dry_run(s.repo, result.manifests, report.applications, kpo)
    report.findings += report.first_sync.findings
    report.objects = len(objects) + len(watched)
    report.notes = [
        f"exemption {e.rule} for {sorted(e.containers)} in {e.source_pattern}: {e.reason}"
        for e in policy.EXEMPTIONS
    ]
    return report
