"""Bootstrap: Slack notifications wired end to end, platform sync order, pinned upstream versions."""

from __future__ import annotations

import json
import re

import yaml

from ci.validate import pipeline
from ci.validate.firstsync.plan import chart_name
from ci.validate.render import RenderResult
from ci.validate.settings import REPO
from tests.gitops.helpers import find, objects

NOTIFICATIONS = REPO / "bootstrap/argocd/patches/argocd-notifications-cm.yaml"
_SUBSCRIBE = re.compile(r"^notifications\.argoproj\.io/subscribe\.([a-z-]+)\.([a-z]+)$")


def _notifications() -> dict:
    return yaml.safe_load(NOTIFICATIONS.read_text())["data"]


def test_triggers_send_defined_templates_for_the_three_events() -> None:
    data = _notifications()
    triggers = {
        k.removeprefix("trigger."): yaml.safe_load(v) for k, v in data.items() if k.startswith("trigger.")
    }
    assert set(triggers) == {"on-sync-succeeded", "on-sync-failed", "on-health-degraded"}
    for name, conditions in triggers.items():
        for condition in conditions:
            for template in condition["send"]:
                assert f"template.{template}" in data, f"{name} sends undefined template {template}"
                assert "slack" in yaml.safe_load(data[f"template.{template}"])


def test_slack_token_comes_from_the_sealed_secret() -> None:
    service = yaml.safe_load(_notifications()["service.slack"])
    assert service["token"].startswith("$")
    sealed = yaml.safe_load((REPO / "bootstrap/argocd-secrets/argocd-notifications-secret.yaml").read_text())
    assert sealed["kind"] == "SealedSecret"
    assert sealed["metadata"] == {"name": "argocd-notifications-secret", "namespace": "argocd"}
    assert service["token"][1:] in sealed["spec"]["encryptedData"]


def test_every_subscription_names_a_defined_trigger_and_service(report: pipeline.Report) -> None:
    data = _notifications()
    plain, _ = pipeline.plain_manifests(REPO)
    apps = report.applications + [m.doc for m in plain if m.doc["kind"] == "Application"]
    subscriptions = 0
    for app in apps:
        for key in app["metadata"].get("annotations") or {}:
            match = _SUBSCRIBE.match(key)
            if match:
                subscriptions += 1
                assert f"trigger.{match.group(1)}" in data, f"{app['metadata']['name']}: {key}"
                assert f"service.{match.group(2)}" in data, f"{app['metadata']['name']}: {key}"
    assert subscriptions >= 6 * 3


def test_platform_sync_waves_put_cluster_services_before_the_mlops_apps(rendered: RenderResult) -> None:
    docs = objects(rendered, "kustomize-bootstrap_platform")
    wave = {
        d["metadata"]["name"]: int(d["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        for d in docs
        if d["kind"] == "Application"
    }
    assert wave["sealed-secrets"] < wave["internal-ca"]
    # the Gateway API CRDs come with Envoy Gateway, before the GatewayClass and Argo CD's HTTPRoute
    assert wave["envoy-gateway"] < wave["gateway-class"] < wave["mlops-apps"]
    assert wave["envoy-gateway"] < wave["argocd-config"]
    assert wave["metallb"] < wave["metallb-pools"]
    # Argo CD's Certificate names the internal-ca ClusterIssuer: the CA comes a wave earlier
    assert wave["cert-manager"] < wave["internal-ca"] < wave["argocd-config"] < wave["mlops-apps"]
    assert wave["argocd-config"] < wave["mlops-apps"]
    assert max(wave.values()) == wave["mlops-apps"]
    # Sync waves of child Applications only wait when Argo CD knows an Application's health.
    argocd_cm = find(objects(rendered, "kustomize-bootstrap_argocd"), "ConfigMap", "argocd-cm")
    assert "resource.customizations.health.argoproj.io_Application" in argocd_cm["data"]


def test_upstream_versions_are_pinned_to_the_validated_crds(rendered: RenderResult) -> None:
    charts = {
        chart_name(d["spec"]["source"]): d["spec"]["source"]["targetRevision"]
        for d in objects(rendered, "kustomize-bootstrap_platform")
        if d["kind"] == "Application" and chart_name(d["spec"]["source"])
    }
    assert charts == {
        "sealed-secrets": "2.18.5",
        "cert-manager": "v1.21.1",
        "gateway-helm": "v1.9.0",
        "metallb": "0.16.1",
        "kube-prometheus-stack": "88.2.0",
        "reloader": "2.2.11",
        "cloudnative-pg": "0.29.0",
        "plugin-barman-cloud": "0.7.0",
        "loki": "18.11.0",
        "alloy": "1.11.1",
    }
    apps = {d["metadata"]["name"]: d for d in objects(rendered, "kustomize-bootstrap_platform")}
    # operator 1.30.0: the version of the vendored postgresql.cnpg.io CRDs; the plugin's ObjectStore CRD
    # is kept in ci/crds at the plugin's tag
    operator = apps["cloudnative-pg"]["spec"]["source"]["helm"]["valuesObject"]["image"]
    assert operator == {"repository": "ghcr.io/cloudnative-pg/cloudnative-pg", "tag": "1.30.0"}
    plugin = apps["barman-cloud"]["spec"]["source"]["helm"]["valuesObject"]
    assert plugin["image"]["tag"] == plugin["sidecarImage"]["tag"] == "v0.13.0"
    assert "`v0.13.0`" in (REPO / "ci/crds/README.md").read_text()
    kustomization = yaml.safe_load((REPO / "bootstrap/argocd/kustomization.yaml").read_text())
    remote = [r for r in kustomization["resources"] if "://" in r]
    assert remote == ["https://raw.githubusercontent.com/argoproj/argo-cd/v3.5.1/manifests/install.yaml"]


_SINGLE_REVISION = re.compile(r"\bsync\.revision\b(?!s)")
_REVISION_OR_LIST = re.compile(
    r"\{\{if \.app\.status\.sync\.revisions\}\}.*?"
    r"\{\{- else\}\}\{\{\.app\.status\.sync\.revision\}\}\{\{end( -)?\}\}",
    re.S,
)


def test_notifications_name_the_revisions_of_multi_source_applications(report: pipeline.Report) -> None:
    """status.sync.revision is empty for multi-source Applications (every generated one): the templates
    print status.sync.revisions and use the single revision only when there is no list."""
    assert report.applications and all(app["spec"].get("sources") for app in report.applications)
    data = _notifications()
    templates = {k: v for k, v in data.items() if k.startswith("template.")}
    assert templates
    for name, text in templates.items():
        assert _REVISION_OR_LIST.search(text), name
        assert not _SINGLE_REVISION.search(_REVISION_OR_LIST.sub("", text)), name
    for name, text in data.items():
        if name.startswith("trigger."):
            for trigger in yaml.safe_load(text):
                assert not _SINGLE_REVISION.search(trigger.get("oncePer", "")), name


def test_dashboards_render_as_sidecar_configmaps_of_a_platform_application(rendered: RenderResult) -> None:
    """bootstrap/dashboards renders one ConfigMap per dashboard JSON, where kube-prometheus-stack's
    Grafana sidecar finds them; the platform Application mlops-dashboards syncs that folder."""
    app = find(objects(rendered, "kustomize-bootstrap_platform"), "Application", "mlops-dashboards")
    assert app["spec"]["source"]["path"] == "bootstrap/dashboards"
    assert app["spec"]["destination"]["namespace"] == "monitoring"
    maps = [d for d in objects(rendered, "kustomize-bootstrap_dashboards") if d["kind"] == "ConfigMap"]
    shipped = {key: json.loads(text) for m in maps for key, text in m["data"].items()}
    assert sorted(shipped) == sorted(p.name for p in (REPO / "bootstrap/dashboards").glob("*.json"))
    assert {d["uid"] for d in shipped.values()} == {"mlops-loop", "mlops-serving", "mlops-platform"}
    for configmap in maps:
        assert configmap["metadata"]["namespace"] == "monitoring"
        assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert configmap["metadata"]["annotations"]["grafana_folder"] == "MLOps"
