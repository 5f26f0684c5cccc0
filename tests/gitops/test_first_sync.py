"""The whole-cluster first-sync dry run: the repository passes, each broken input fails naming the
object and the rule, and the blockers issue 13 lists are found on the tree that has them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from ci.validate import pipeline, render
from ci.validate.firstsync import check, plan
from ci.validate.firstsync.bootstrap_steps import sealed_service_hosts
from ci.validate.firstsync.closed_network import CHART_IMAGE_VALUES, allowed_registries, chart_image_problems
from ci.validate.firstsync.needs import needs
from ci.validate.firstsync.plan import chart_name
from ci.validate.firstsync.run import DryRun, _by_source, dry_run, known_blockers
from ci.validate.manifests import Manifest, load_file, parse_documents
from ci.validate.podsecurity import restricted_violations
from ci.validate.settings import REPO, Settings
from ops.image_tags import fields as image_tags
from tests.gitops.helpers import FIXTURES

NEGATIVE = FIXTURES / "negative"


def _run(
    rendered: render.RenderResult,
    report: pipeline.Report,
    repo: Path = REPO,
    extra: dict[str, list[Manifest]] | None = None,
    known: list[dict] | None = None,
) -> DryRun:
    manifests = list(rendered.manifests)
    for source, objs in (extra or {}).items():
        manifests += [Manifest(source, m.doc) for m in objs]
    return dry_run(repo, manifests, report.applications, [], known=[] if known is None else known)


def _sources(rendered: render.RenderResult) -> dict[str, list[Manifest]]:
    return _by_source(list(rendered.manifests), [])


def _root() -> dict:
    return load_file(REPO / "bootstrap" / "root-app.yaml", REPO)[0].doc


def _lines(result: DryRun) -> list[str]:
    return [str(f) for f in result.findings]


def test_the_repository_passes_with_only_the_listed_blockers(report: pipeline.Report) -> None:
    dry = report.first_sync
    assert dry.findings == []
    order = "\n".join(dry.order)
    # the reseal steps come before the root app, the platform before the generated MLOps apps
    assert order.index("seal-env.sh prod") < order.index("root app")
    assert order.index("Application sealed-secrets") < order.index("Application argocd-config")
    assert order.index("Application internal-ca") < order.index("Application argocd-config")
    assert order.index("Application mlops-apps") < order.index("Application mlflow-dev")
    listed = known_blockers()
    assert len(dry.known_summary) == len(listed)


def test_the_root_app_before_the_reseal_stalls_on_every_sealed_secret(
    rendered: render.RenderResult, report: pipeline.Report, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    for part in ("apps", "bootstrap", ".github"):
        shutil.copytree(REPO / part, repo / part)
    (repo / "ci").mkdir()
    shutil.copy(REPO / "ci" / "registries.yaml", repo / "ci" / "registries.yaml")
    shutil.copy(NEGATIVE / "bootstrap-README-root-app-before-reseal.md", repo / "bootstrap" / "README.md")
    lines = _lines(_run(rendered, report, repo=repo))
    sealing = [ln for ln in lines if "[first-sync:sealing]" in ln]
    assert sealing, lines
    first = sealing[0]
    assert "SealedSecret/argocd/argocd-notifications-secret" in first
    assert "Application argocd-config" in first
    assert "applied only later, by README line" in first and "seal-env.sh prod" in first
    assert any("SealedSecret/mlops-dev/mlflow-aws" in ln for ln in sealing)
    assert any("SealedSecret/mlops-dev/postgres-backup-aws" in ln for ln in sealing)


def test_a_missing_secret_and_service_name_the_object(
    rendered: render.RenderResult, report: pipeline.Report
) -> None:
    extra = {"rendered/serving-dev.yaml": load_file(NEGATIVE / "first-sync-missing-secret.yaml")}
    lines = _lines(_run(rendered, report, extra=extra, known=known_blockers()))
    assert lines == [
        "rendered/serving-dev.yaml: Deployment/mlops-dev/reads-missing-secret: [first-sync:secret] "
        "Application serving-dev (wave 1) (Sync wave 0): needs Secret/mlops-dev/no-such-secret "
        "(container app env TOKEN): nothing in the first sync creates it",
        "rendered/serving-dev.yaml: Deployment/mlops-dev/reads-missing-secret: [first-sync:service] "
        "Application serving-dev (wave 1) (Sync wave 0): needs Service/mlops-dev/no-such-service "
        "(container app env PEER_URL URL http://no-such-service.mlops-dev.svc.cluster.local:8080): "
        "nothing in the first sync creates it",
    ]


def test_a_crd_in_a_later_wave_blocks_its_custom_resource(
    rendered: render.RenderResult, report: pipeline.Report
) -> None:
    extra = {"rendered/serving-dev.yaml": load_file(NEGATIVE / "first-sync-crd-later-wave.yaml")}
    lines = _lines(_run(rendered, report, extra=extra, known=known_blockers()))
    assert len(lines) == 1
    assert "Widget/mlops-dev/early-widget: [first-sync:crd]" in lines[0]
    assert "needs crd:example.internal/Widget" in lines[0]
    assert "applied only later, by Application serving-dev (wave 1), Sync wave 5" in lines[0]


def test_a_helm_hook_argo_cd_runs_before_the_secret_it_mounts(
    rendered: render.RenderResult, report: pipeline.Report
) -> None:
    extra = {"rendered/serving-dev.yaml": load_file(NEGATIVE / "first-sync-hook-before-secret.yaml")}
    lines = _lines(_run(rendered, report, extra=extra, known=known_blockers()))
    assert len(lines) == 1
    assert "Job/mlops-dev/early-hook: [first-sync:secret]" in lines[0]
    assert "(PreSync wave 0): needs Secret/mlops-dev/hook-config" in lines[0]
    assert "applied only later, by Application serving-dev (wave 1), Sync wave 0" in lines[0]


def test_a_certificate_in_the_same_wave_as_its_cluster_issuer(
    rendered: render.RenderResult, report: pipeline.Report
) -> None:
    """internal-ca moved into argocd-config's wave (-1): Argo CD's Certificate finds no issuer yet."""
    lines = _lines(
        _with_platform_app(rendered, report, "internal-ca", {"argocd.argoproj.io/sync-wave": "-1"})
    )
    assert len(lines) == 1
    assert "Certificate/argocd/argocd-server-tls: [first-sync:issuer]" in lines[0]
    assert "needs ClusterIssuer/internal-ca" in lines[0]


def test_no_blockers_are_listed_any_more() -> None:
    """Issue 13's last listed blocker (postgres.<ns>.svc, which nothing deployed) is gone: CloudNativePG."""
    assert known_blockers() == []


def test_database_secrets_and_services_come_from_the_env_cluster(
    rendered: render.RenderResult, report: pipeline.Report
) -> None:
    """Every app reads the Secret CloudNativePG generates for its Cluster in postgres-<env>, and the
    URI inside it names <cluster>-rw, which the same Cluster gives; the operator and the plugin that
    serve those Clusters sync before the MLOps apps exist."""
    dry = report.first_sync
    order = "\n".join(dry.order)
    assert order.index("Application cloudnative-pg") < order.index("Application barman-cloud")
    assert order.index("Application barman-cloud") < order.index("Application mlops-apps")
    assert order.index("Application mlops-apps") < order.index("Application postgres-dev")
    clusters = {
        "dev": ["mlflow-db", "airflow-db"],
        "prod": ["mlflow-db", "airflow-db", "serving-db", "control-db"],
    }
    steps, _ = plan.build(REPO, _sources(rendered), report.applications, _root())
    given = check.everything(steps)
    for env, names in clusters.items():
        for cluster in names:
            assert given[f"Secret/mlops-{env}/{cluster}-app"].startswith(f"Application postgres-{env} ")
            assert given[f"Service/mlops-{env}/{cluster}-rw"].startswith(f"Application postgres-{env} ")
    readers = {}
    for step in steps:
        for item in step.items:
            for need in needs(item.manifest.doc, item.namespace):
                if need.key.endswith("-db-app"):
                    readers.setdefault(need.key, set()).add(step.name.split(" ")[1])
    assert readers == {
        "Secret/mlops-dev/mlflow-db-app": {"mlflow-dev"},
        "Secret/mlops-dev/airflow-db-app": {"airflow-dev"},
        "Secret/mlops-prod/mlflow-db-app": {"mlflow-prod"},
        "Secret/mlops-prod/airflow-db-app": {"airflow-prod"},
        "Secret/mlops-prod/serving-db-app": {"serving-prod"},
        "Secret/mlops-prod/control-db-app": {"control-prod"},
    }


def test_a_database_nothing_produces_names_the_object_and_rule(
    rendered: render.RenderResult, report: pipeline.Report
) -> None:
    """The tree before CloudNativePG (postgres.<ns>.svc) and a Secret of a Cluster that does not exist."""
    extra = {"rendered/mlflow-dev.yaml": load_file(NEGATIVE / "first-sync-database-not-produced.yaml")}
    lines = _lines(_run(rendered, report, extra=extra))
    assert lines == [
        "rendered/mlflow-dev.yaml: Deployment/mlops-dev/reads-missing-database: [first-sync:service] "
        "Application mlflow-dev (wave 0) (Sync wave 0): needs Service/mlops-dev/postgres (container app env "
        "LEGACY_DATABASE_URL URL "
        "postgresql+psycopg2://mlflow@postgres.mlops-dev.svc.cluster.local:5432/mlflow): "
        "nothing in the first sync creates it",
        "rendered/mlflow-dev.yaml: Deployment/mlops-dev/reads-missing-database: [first-sync:secret] "
        "Application mlflow-dev (wave 0) (Sync wave 0): needs Secret/mlops-dev/orders-db-app "
        "(container app env DATABASE_URL): nothing in the first sync creates it",
    ]


def test_cnpg_objects_that_name_nothing_fail(rendered: render.RenderResult, report: pipeline.Report) -> None:
    extra = {"rendered/postgres-dev.yaml": load_file(NEGATIVE / "first-sync-cnpg-dangling.yaml")}
    lines = _lines(_run(rendered, report, extra=extra))
    assert len(lines) == 3, lines
    assert "Cluster/mlops-dev/orders-db: [first-sync:objectstore]" in lines[0]
    assert "needs ObjectStore/mlops-dev/no-such-store (plugins barmanObjectName)" in lines[0]
    assert "ScheduledBackup/mlops-dev/nightly-of-nothing: [first-sync:cluster]" in lines[1]
    assert "needs Cluster/mlops-dev/no-such-db (spec.cluster)" in lines[1]
    assert "ObjectStore/mlops-dev/store-without-credentials: [first-sync:secret]" in lines[2]
    assert "needs Secret/mlops-dev/no-such-backup-credentials (s3Credentials accessKeyId)" in lines[2]


def test_a_cluster_before_the_operator_blocks(rendered: render.RenderResult, report: pipeline.Report) -> None:
    """Without the cloudnative-pg Application nothing serves postgresql.cnpg.io: every Cluster blocks."""
    manifests = [
        m
        for m in rendered.manifests
        if not (m.doc.get("kind") == "Application" and m.doc["metadata"]["name"] == "cloudnative-pg")
    ]
    lines = _lines(dry_run(REPO, manifests, report.applications, [], known=[]))
    crd = [ln for ln in lines if "[first-sync:crd]" in ln and "Cluster/mlops-dev/mlflow-db" in ln]
    assert crd and "needs crd:postgresql.cnpg.io/Cluster" in crd[0], lines


def test_db_upgrade_as_presync_would_start_before_its_service_account(
    rendered: render.RenderResult, report: pipeline.Report
) -> None:
    """Why the migration is a Sync hook in wave -1: as PreSync it would run before the Sync phase creates
    the ServiceAccount it runs as, and the first sync would stall."""
    manifests = []
    for m in rendered.manifests:
        meta = m.doc.get("metadata") or {}
        if m.source == "rendered/mlflow-dev.yaml" and meta.get("name") == "mlflow-db-upgrade":
            annotations = {**meta["annotations"], "argocd.argoproj.io/hook": "PreSync"}
            m = Manifest(m.source, {**m.doc, "metadata": {**meta, "annotations": annotations}})
        manifests.append(m)
    lines = _lines(dry_run(REPO, manifests, report.applications, [], known=[]))
    assert len(lines) == 1, lines
    assert "Job/mlops-dev/mlflow-db-upgrade: [first-sync:serviceaccount]" in lines[0]
    assert "(PreSync wave -1): needs ServiceAccount/mlops-dev/mlflow" in lines[0]
    assert "applied only later, by Application mlflow-dev (wave 0), Sync wave -1" in lines[0]


def test_sealed_urls_name_services_of_the_first_sync() -> None:
    assert sealed_service_hosts(REPO) == {"mlflow", "serving"}


def _serving_prod(settings: Settings, *extra: str, values: tuple[Path, ...] = ()) -> list[Manifest]:
    chart = REPO / "charts" / "serving"
    cmd = [settings.helm, "template", "serving", str(chart), "--namespace", "mlops-prod", *extra]
    for v in (chart / "values/base.yaml", chart / "values/prod.yaml", *values):
        cmd += ["-f", str(v)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return parse_documents(proc.stdout, "rendered/serving-prod.yaml")


def _with_serving_prod(rendered: render.RenderResult, objs: list[Manifest]) -> list[Manifest]:
    return [m for m in rendered.manifests if m.source != "rendered/serving-prod.yaml"] + objs


def _platform(
    rendered: render.RenderResult | list[Manifest], drop: str = "", add: list[Manifest] = ()
) -> list[Manifest]:
    """The renders with one platform Application removed and/or others added to bootstrap/platform."""
    platform = "rendered/kustomize-bootstrap_platform.yaml"
    manifests = rendered.manifests if isinstance(rendered, render.RenderResult) else rendered
    out = [
        m
        for m in manifests
        if not (m.source == platform and m.doc["kind"] == "Application" and m.doc["metadata"]["name"] == drop)
    ]
    return out + [Manifest(platform, m.doc) for m in add]


def _with_platform_app(
    rendered: render.RenderResult, report: pipeline.Report, name: str, annotations: dict
) -> DryRun:
    manifests = []
    for m in rendered.manifests:
        if m.doc.get("kind") == "Application" and m.doc["metadata"]["name"] == name:
            m = Manifest(m.source, {**m.doc, "metadata": {**m.doc["metadata"], "annotations": annotations}})
        manifests.append(m)
    return dry_run(REPO, manifests, report.applications, [], known=known_blockers())


def test_service_monitor_renders_only_where_the_operator_api_is_served(settings: Settings) -> None:
    without = _serving_prod(settings)
    assert not [m for m in without if m.doc["kind"] == "ServiceMonitor"]
    with_api = _serving_prod(settings, "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor")
    monitor = [m for m in with_api if m.doc["kind"] == "ServiceMonitor"]
    assert len(monitor) == 1 and monitor[0].doc["spec"]["endpoints"][0]["path"] == "/metrics"


def test_with_kube_prometheus_stack_the_service_monitor_syncs(
    settings: Settings, rendered: render.RenderResult, report: pipeline.Report
) -> None:
    """Monitoring present: the stack is in the platform, Argo CD renders the ServiceMonitor, it syncs."""
    with_api = _serving_prod(settings, "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor")
    dry = dry_run(
        REPO, _with_serving_prod(rendered, with_api), report.applications, [], known=known_blockers()
    )
    assert dry.findings == []
    assert any("Application kube-prometheus-stack" in line for line in dry.order)


def test_without_kube_prometheus_stack_nothing_is_half_installed(
    settings: Settings, rendered: render.RenderResult, report: pipeline.Report
) -> None:
    """Monitoring absent: without the stack the chart renders no ServiceMonitor and the sync passes;
    a ServiceMonitor rendered anyway (the tree before this change) blocks on its CRD."""
    no_stack = _platform(rendered, drop="kube-prometheus-stack")
    dry = dry_run(
        REPO,
        _with_serving_prod_in(no_stack, _serving_prod(settings)),
        report.applications,
        [],
        known=known_blockers(),
    )
    assert dry.findings == []
    with_api = _serving_prod(settings, "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor")
    dry = dry_run(REPO, _with_serving_prod_in(no_stack, with_api), report.applications, [], known=[])
    assert [str(f) for f in dry.findings if f.rule == "first-sync:crd"] == [
        "rendered/serving-prod.yaml: ServiceMonitor/mlops-prod/serving: [first-sync:crd] Application "
        "serving-prod (wave 1) (Sync wave 0): needs crd:monitoring.coreos.com/ServiceMonitor "
        "(monitoring.coreos.com/v1 ServiceMonitor): nothing in the first sync creates it"
    ]


def _with_serving_prod_in(manifests: list[Manifest], objs: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m.source != "rendered/serving-prod.yaml"] + objs


def test_a_log_volume_on_nfs_client_syncs_with_the_optional_provisioner(
    settings: Settings, rendered: render.RenderResult, report: pipeline.Report
) -> None:
    objs = _serving_prod(settings, values=(NEGATIVE / "values-log-volume-nfs-client.yaml",))
    nfs = load_file(REPO / "bootstrap/optional/nfs-provisioner/nfs-provisioner.yaml")
    manifests = _with_serving_prod_in(_platform(rendered, add=nfs), objs)
    dry = dry_run(REPO, manifests, report.applications, [], known=known_blockers())
    assert dry.findings == []
    assert any("Application nfs-provisioner" in line for line in dry.order)


def test_a_log_volume_on_a_storage_class_nobody_provides_blocks(
    settings: Settings, rendered: render.RenderResult, report: pipeline.Report
) -> None:
    objs = _serving_prod(settings, values=(NEGATIVE / "values-log-volume-nfs-client.yaml",))
    dry = dry_run(REPO, _with_serving_prod(rendered, objs), report.applications, [], known=[])
    lines = [str(f) for f in dry.findings if f.rule == "first-sync:storageclass"]
    assert len(lines) == 1
    assert "PersistentVolumeClaim/mlops-prod/serving-logs" in lines[0]
    assert "needs StorageClass/nfs-client (storageClassName): nothing in the first sync" in lines[0]


def test_a_listed_blocker_that_no_longer_occurs_fails(
    rendered: render.RenderResult, report: pipeline.Report
) -> None:
    stale = [*known_blockers(), {"rule": "first-sync:secret", "match": "Secret/x/gone", "why": "fixed"}]
    lines = _lines(_run(rendered, report, known=stale))
    assert lines == [
        "ci/validate/firstsync/known_blockers.yaml: [first-sync:known-blocker] "
        "first-sync:secret 'Secret/x/gone' no longer blocks: remove it from the list"
    ]


def test_a_tag_ci_never_pushes_blocks(
    settings: Settings, rendered: render.RenderResult, report: pipeline.Report
) -> None:
    objs = _serving_prod(settings, values=(NEGATIVE / "values-release-tag.yaml",))
    dry = dry_run(REPO, _with_serving_prod(rendered, objs), report.applications, [], known=known_blockers())
    assert [str(f) for f in dry.findings] == [
        "rendered/serving-prod.yaml: Deployment/mlops-prod/serving: [first-sync:image] Application "
        "serving-prod (wave 1): image ghcr.io/gitops-mlops/serving:0.1.0: CI tags images only with the "
        "commit SHA, not '0.1.0'"
    ]


def test_every_image_of_ours_runs_the_build_the_values_pin(
    settings: Settings, rendered: render.RenderResult, report: pipeline.Report
) -> None:
    """The trainer tag reaches the training pods too (TRAINER_IMAGE_TAG in the Airflow values)."""
    assert not [f for f in report.first_sync.known if f.rule == "first-sync:image"]
    pods, problems = pipeline.trainer_pods(rendered, settings)
    assert problems == []
    assert pods
    for env in ("dev", "prod"):
        tag = set(image_tags.tags(REPO, env).values()).pop()
        images = {
            c["image"] for m in pods if f"airflow-{env}" in m.source for c in m.doc["spec"]["containers"]
        }
        assert images and all(i.endswith(f":{tag}") for i in images if "/gitops-mlops/" in i), images


def test_every_mlops_namespace_enforces_restricted(report: pipeline.Report) -> None:
    for app in report.applications:
        labels = app["spec"]["syncPolicy"]["managedNamespaceMetadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted", app["metadata"]["name"]


def test_a_pod_restricted_refuses_blocks(rendered: render.RenderResult, report: pipeline.Report) -> None:
    extra = {"rendered/serving-dev.yaml": load_file(NEGATIVE / "first-sync-root-pod.yaml")}
    lines = _lines(_run(rendered, report, extra=extra, known=known_blockers()))
    prefix = (
        "rendered/serving-dev.yaml: Deployment/mlops-dev/runs-as-root: [first-sync:pod-security] "
        "Application serving-dev (wave 1): namespace mlops-dev enforces restricted: container app"
    )
    assert lines == [
        prefix + ": set securityContext.allowPrivilegeEscalation: false",
        prefix + ": set securityContext.capabilities.drop: [ALL]",
        prefix + ": set runAsNonRoot: true (pod or container securityContext)",
        prefix + " runs as UID 0",
        prefix + ": seccompProfile is not set; set seccompProfile.type: RuntimeDefault (pod or container "
        "securityContext)",
    ]


def test_the_airflow_statsd_pod_passes_restricted(rendered: render.RenderResult) -> None:
    """Before this change the chart's statsd pod had no seccomp profile: restricted refused it."""
    statsd = next(
        m.doc
        for m in rendered.manifests
        if m.source == "rendered/airflow-dev.yaml"
        and m.doc["metadata"]["name"] == "airflow-statsd"
        and m.doc["kind"] == "Deployment"
    )
    assert restricted_violations(statsd["spec"]["template"]["spec"]) == []
    bare = {**statsd["spec"]["template"]["spec"], "securityContext": {"runAsUser": 65534}}
    refused = restricted_violations(bare)
    assert any(v.startswith("container statsd: seccompProfile is not set") for v in refused), refused


def _extra(rendered: render.RenderResult, report: pipeline.Report, source: str, fixture: str) -> list[str]:
    return _lines(
        _run(rendered, report, extra={source: load_file(NEGATIVE / fixture)}, known=known_blockers())
    )


def test_an_image_without_a_registry_host_blocks(
    rendered: render.RenderResult, report: pipeline.Report
) -> None:
    lines = _extra(rendered, report, "rendered/serving-dev.yaml", "first-sync-docker-hub-image.yaml")
    assert lines == [
        "rendered/serving-dev.yaml: Deployment/mlops-dev/bare-image: [first-sync:registry] Application "
        "serving-dev (wave 1): image 'nginx:1.27' names no registry host (Docker Hub by default): write it "
        "as <registry>/<repository>:<tag> with a registry of ci/registries.yaml "
        "['ghcr.io', 'docker.io', 'quay.io', 'registry.k8s.io', 'registry.mlops.internal']"
    ]


def test_a_platform_chart_left_on_its_default_images_blocks(
    rendered: render.RenderResult, report: pipeline.Report
) -> None:
    """Envoy Gateway's data plane image left to the chart: the closed network cannot pull it."""
    (app,) = [
        m
        for m in rendered.manifests
        if m.doc.get("kind") == "Application" and m.doc["metadata"]["name"] == "envoy-gateway"
    ]
    doc = yaml.safe_load(yaml.safe_dump(app.doc))
    del doc["spec"]["source"]["helm"]["valuesObject"]["global"]["images"]["envoyProxy"]
    manifests = _platform(rendered, drop="envoy-gateway", add=[Manifest(app.source, doc)])
    lines = _lines(dry_run(REPO, manifests, report.applications, [], known=known_blockers()))
    assert lines == [
        "rendered/kustomize-bootstrap_platform.yaml: Application/argocd/envoy-gateway: "
        "[first-sync:registry] chart gateway-helm: global.images.envoyProxy.image is not set, so the "
        "chart's default registry is used"
    ]


def test_a_public_acme_issuer_blocks(rendered: render.RenderResult, report: pipeline.Report) -> None:
    lines = _extra(
        rendered, report, "rendered/kustomize-bootstrap_cert-manager.yaml", "first-sync-acme-issuer.yaml"
    )
    assert len(lines) == 1
    assert "ClusterIssuer/letsencrypt: [first-sync:closed-network] ACME issuer https://acme-v02" in lines[0]


def test_gateway_api_objects_need_envoy_gateway_in_the_platform(
    rendered: render.RenderResult, report: pipeline.Report
) -> None:
    """Without the Envoy Gateway Application nothing installs the Gateway API CRDs."""
    lines = _lines(
        dry_run(
            REPO, _platform(rendered, drop="envoy-gateway"), report.applications, [], known=known_blockers()
        )
    )
    first = lines[0]
    assert (
        "GatewayClass/envoy: [first-sync:crd]" in first
        or "ReferenceGrant/argocd/mlops-prod-gateway-tls: [first-sync:crd]" in first
    )
    assert any("Gateway/mlops-prod/mlops: [first-sync:crd]" in ln for ln in lines)
    assert all("[first-sync:crd]" in ln for ln in lines)


def test_a_certificate_of_another_namespace_needs_a_reference_grant(
    rendered: render.RenderResult, report: pipeline.Report
) -> None:
    """Argo CD's listener reads a Secret of argocd: without the ReferenceGrant the listener has no TLS."""
    manifests = [m for m in rendered.manifests if m.doc["kind"] != "ReferenceGrant"]
    lines = _lines(dry_run(REPO, manifests, report.applications, [], known=known_blockers()))
    assert lines == [
        "rendered/gateway-prod.yaml: Gateway/mlops-prod/mlops: [first-sync:referencegrant] Application "
        "gateway-prod (wave 0) (Sync wave 0): needs "
        "grant:mlops-prod/Gateway->argocd/Secret/argocd-server-tls (listener argocd certificateRefs in "
        "namespace argocd): nothing in the first sync creates it"
    ]


def test_a_route_to_a_missing_service_blocks(rendered: render.RenderResult, report: pipeline.Report) -> None:
    lines = _extra(rendered, report, "rendered/gateway-dev.yaml", "first-sync-route-missing-backend.yaml")
    assert lines == [
        "rendered/gateway-dev.yaml: HTTPRoute/mlops-dev/to-nowhere: [first-sync:service] Application "
        "gateway-dev (wave 0) (Sync wave 0): needs Service/mlops-dev/no-such-service (backendRefs "
        "no-such-service:80): nothing in the first sync creates it"
    ]


def test_metallb_is_optional(rendered: render.RenderResult, report: pipeline.Report) -> None:
    """A cluster with its provider's load balancer drops both MetalLB Applications; the rest syncs."""
    manifests = _platform(_platform(rendered, drop="metallb"), drop="metallb-pools")
    dry = dry_run(REPO, manifests, report.applications, [], known=known_blockers())
    assert dry.findings == []
    assert not any("metallb" in line for line in dry.order)
    # the pools alone (the chart dropped, its CRDs with it) cannot sync
    lines = _lines(
        dry_run(REPO, _platform(rendered, drop="metallb"), report.applications, [], known=known_blockers())
    )
    assert lines and all("[first-sync:crd]" in ln and "crd:metallb.io/" in ln for ln in lines)


def test_every_platform_chart_names_its_image_registries(rendered: render.RenderResult) -> None:
    apps = [
        m.doc
        for m in rendered.manifests
        if m.doc.get("kind") == "Application" and chart_name(m.doc["spec"].get("source") or {})
    ]
    assert {chart_name(a["spec"]["source"]) for a in apps} == set(CHART_IMAGE_VALUES)
    for app in apps:
        assert chart_image_problems(app, allowed_registries(REPO)) == [], app["metadata"]["name"]


def test_a_route_to_a_listener_the_gateway_lacks_blocks(
    rendered: render.RenderResult, report: pipeline.Report
) -> None:
    lines = _extra(rendered, report, "rendered/serving-dev.yaml", "first-sync-route-unknown-listener.yaml")
    assert lines == [
        "rendered/serving-dev.yaml: HTTPRoute/mlops-dev/lost-route: [first-sync:gateway] Application "
        "serving-dev (wave 1) (Sync wave 0): needs Listener/mlops-dev/mlops/serve (parentRefs "
        "sectionName): nothing in the first sync creates it"
    ]


def test_a_route_whose_gateway_comes_later_holds_the_waves(
    rendered: render.RenderResult, report: pipeline.Report
) -> None:
    """Argo CD (v3.5) reports an HTTPRoute Progressing until a parent Gateway writes its status: in a
    platform wave before mlops-apps, a route on an environment's Gateway stops the root app for good."""
    lines = _extra(
        rendered,
        report,
        "rendered/kustomize-bootstrap_argocd-secrets.yaml",
        "first-sync-route-before-its-gateway.yaml",
    )
    assert len(lines) == 1, lines
    assert "HTTPRoute/argocd/early-route: [first-sync:health-hold]" in lines[0]
    assert "Application argocd-config (wave -1)" in lines[0]
    assert "Listener/mlops-prod/mlops/argocd comes from a later step" in lines[0]
