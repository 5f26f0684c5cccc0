"""Every chart renders for every environment with the real helm, and everything validates."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml

from ci.validate import pipeline, render
from ci.validate.firstsync import cnpg
from ci.validate.settings import REPO
from ops.image_tags import fields as image_tags
from tests.gitops.helpers import find, objects

CHARTS = render.our_charts(REPO)
ENVS = [e["env"] for e in render.environments(REPO)]
# Charts that deploy a service (commit-trigger is a hook Job of the Airflow Application).
SERVICE_CHARTS = ["mlflow", "serving", "control"]
# The Applications whose SealedSecrets a chart reads (apps/envs/<env>/secrets/<app>/): its own, except
# the commit trigger (part of the Airflow Application) and the control API, which also reads the
# gateway's admin key (serving) and the CI/API user's password (airflow) where those are owned.
# Charts without workloads: the Gateway, its certificates and routes (TLS Secrets come from cert-manager).
ROUTING_CHARTS = {"gateway"}
SECRETS_OF = {"commit-trigger": ["airflow"], "control": ["control", "serving", "airflow"]}
# Charts that run no pod (and so read no Secret).
PODLESS_CHARTS = ["network-policies"]


def test_charts_and_envs_are_discovered() -> None:
    assert CHARTS == [
        "commit-trigger",
        "control",
        "gateway",
        "mlflow",
        "network-policies",
        "postgres",
        "serving",
    ]
    assert ENVS == ["dev", "prod"]


def test_whole_validation_run_has_no_findings(report: pipeline.Report) -> None:
    assert [str(f) for f in report.findings] == []
    assert report.objects > 100
    kustomizations = len(render.OFFLINE_KUSTOMIZATIONS) + len(render.REMOTE_KUSTOMIZATIONS)
    assert len(report.rendered) == len(CHARTS) * len(ENVS) + len(ENVS) + kustomizations


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("chart", [*SERVICE_CHARTS, "airflow"])
def test_chart_renders_workloads_in_env_namespace(
    rendered: render.RenderResult, envs: list[dict], chart: str, env: str
) -> None:
    docs = objects(rendered, f"{chart}-{env}")
    namespace = next(e["namespace"] for e in envs if e["env"] == env)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service"} <= kinds
    # the official Airflow chart's route is rendered by charts/gateway
    assert "HTTPRoute" in kinds or chart == "airflow"
    namespaced = [d for d in docs if d["kind"] in {"Deployment", "Service", "ConfigMap"}]
    assert all(d["metadata"].get("namespace", namespace) == namespace for d in namespaced)


@pytest.mark.parametrize("env", ENVS)
def test_serving_config_is_accepted_by_the_gateway_loader(rendered: render.RenderResult, env: str) -> None:
    config_module = pytest.importorskip(
        "serving.config", reason="serving.config (the gateway loader) not written yet"
    )
    docs = objects(rendered, f"serving-{env}")
    config_map = find(docs, "ConfigMap", "serving-config")
    config = config_module.parse_config(yaml.safe_load(config_map["data"]["serving.yaml"]))
    values = yaml.safe_load((REPO / "charts/serving/values" / f"{env}.yaml").read_text()) or {}
    base = yaml.safe_load((REPO / "charts/serving/values/base.yaml").read_text())
    expected = (values.get("config") or base["config"])["models"]
    assert [m.name for m in config.models] == [m["name"] for m in expected]
    assert [m.strategy for m in config.models] == [m["strategy"] for m in expected]
    # The Deployment points SERVING_CONFIG at the file the ConfigMap is mounted as.
    deployment = find(docs, "Deployment", "serving")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env_vars = {e["name"]: e for e in container["env"]}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert env_vars["SERVING_CONFIG"]["value"] == f"{mount['mountPath']}/serving.yaml"
    assert container["command"] == ["python", "-m", "serving"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_serving_prod_is_highly_available_and_uses_postgres_state(rendered: render.RenderResult) -> None:
    docs = objects(rendered, "serving-prod")
    assert find(docs, "HorizontalPodAutoscaler")["spec"]["minReplicas"] >= 2
    assert find(docs, "PodDisruptionBudget")["spec"]["minAvailable"] >= 1
    # without the Prometheus Operator's API no ServiceMonitor (test_first_sync renders it with the API)
    assert not [d for d in docs if d["kind"] == "ServiceMonitor"]
    assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"]  # log volume off: no RWX class
    container = find(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    # the Secret CloudNativePG generates for Cluster serving-db (charts/postgres), key uri
    assert env["SERVING_STATE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "serving-db-app", "key": "uri"}
    assert "LOG_DIR" not in env
    assert "replicas" not in find(docs, "Deployment")["spec"]  # the HPA owns the replica count
    dev = objects(rendered, "serving-dev")
    assert not [
        d for d in dev if d["kind"] in {"HorizontalPodAutoscaler", "ServiceMonitor", "PersistentVolumeClaim"}
    ]


def test_serving_runs_one_process_per_pod_named_after_the_pod(rendered: render.RenderResult) -> None:
    """Defect: prod ran `workers: 2` in one pod; both workers shared one replica id (heartbeats
    overwrote each other), each had its own Prometheus registry, and neither set up logging."""
    for env in ENVS:
        container = find(objects(rendered, f"serving-{env}"), "Deployment")["spec"]["template"]["spec"]
        container = container["containers"][0]
        variables = {e["name"]: e for e in container["env"]}
        assert variables.get("SERVING_WORKERS", {"value": "1"})["value"] == "1", env
        assert variables["SERVING_REPLICA_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    hpa = find(objects(rendered, "serving-prod"), "HorizontalPodAutoscaler")["spec"]
    assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu"]


def test_every_route_attaches_to_an_https_listener_with_an_internal_ca_certificate(
    rendered: render.RenderResult,
) -> None:
    """No Ingress anywhere; each HTTPRoute's listener serves its host with a Secret the internal CA issues."""
    assert not [m for m in rendered.manifests if m.doc["kind"] == "Ingress"]
    certificates = {
        (m.doc["metadata"].get("namespace") or m.source, m.doc["spec"]["secretName"]): m.doc
        for m in rendered.manifests
        if m.doc["kind"] == "Certificate"
    }
    assert all(
        c["spec"]["issuerRef"]["name"] == "internal-ca"
        for c in certificates.values()
        if not c["spec"].get("isCA")
    )
    for env in ENVS:
        docs = [m.doc for m in rendered.manifests if m.source == f"rendered/gateway-{env}.yaml"]
        gateway = next(d for d in docs if d["kind"] == "Gateway")
        listeners = {ln["name"]: ln for ln in gateway["spec"]["listeners"]}
        routes = [
            m.doc
            for m in rendered.manifests
            if m.doc["kind"] == "HTTPRoute" and m.source.endswith(f"-{env}.yaml")
        ]
        assert {r["spec"]["parentRefs"][0]["sectionName"] for r in routes} >= {
            "serving",
            "mlflow",
            "airflow",
            "control",
        }
        for route in routes:
            listener = listeners[route["spec"]["parentRefs"][0]["sectionName"]]
            if listener["protocol"] == "HTTP":
                assert route["spec"]["rules"][0]["filters"][0]["requestRedirect"]["scheme"] == "https"
                continue
            assert listener["protocol"] == "HTTPS"
            assert set(route["spec"].get("hostnames") or [listener["hostname"]]) == {listener["hostname"]}
            ref = listener["tls"]["certificateRefs"][0]
            if "namespace" not in ref:
                cert = certificates[(f"rendered/gateway-{env}.yaml", ref["name"])]
                assert cert["spec"]["dnsNames"] == [listener["hostname"]]


def test_internal_ca_chain(rendered: render.RenderResult) -> None:
    docs = objects(rendered, "kustomize-bootstrap_cert-manager")
    selfsigned = find(docs, "ClusterIssuer", "selfsigned")
    ca_cert = find(docs, "Certificate", "internal-ca")
    issuer = find(docs, "ClusterIssuer", "internal-ca")
    assert "selfSigned" in selfsigned["spec"]
    assert ca_cert["spec"]["isCA"] is True
    assert ca_cert["spec"]["issuerRef"]["name"] == "selfsigned"
    assert issuer["spec"]["ca"]["secretName"] == ca_cert["spec"]["secretName"]


def _pinned_airflow() -> str:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pin = next(req for req in extras["airflow"] if req.startswith("apache-airflow=="))
    return pin.split("==")[1]


@pytest.mark.parametrize("env", ENVS)
def test_airflow_runs_the_pinned_version_with_kubernetes_executor(
    rendered: render.RenderResult, env: str
) -> None:
    docs = objects(rendered, f"airflow-{env}")
    version = _pinned_airflow()
    images = {
        c["image"]
        for d in docs
        if d["kind"] in {"Deployment", "StatefulSet", "Job"}
        for c in d["spec"]["template"]["spec"]["containers"]
        if c["name"] in {"scheduler", "api-server", "dag-processor", "triggerer", "run-airflow-migrations"}
    }
    # the Airflow version is pinned in base.yaml; the image is the build CI made (ops.image_tags)
    assert version
    tag = image_tags.tags(REPO, env)[f"charts/airflow/values/{env}.yaml:images.airflow.tag"]
    assert images == {f"ghcr.io/gitops-mlops/airflow:{tag}"}
    cfg = find(docs, "ConfigMap", "airflow-config")["data"]["airflow.cfg"]
    assert re.search(r"^executor = KubernetesExecutor$", cfg, re.MULTILINE)
    assert re.search(r"^remote_logging = True$", cfg, re.MULTILINE)
    assert re.search(r"^json_logs = True$", cfg, re.MULTILINE)  # JSON lines on stdout for Loki
    assert "json_logs" in _airflow_logging_options()  # an option this Airflow knows (3.2+)
    assert re.search(
        rf"^remote_base_log_folder = s3://gitops-mlops-{env}-airflow-logs/logs$", cfg, re.MULTILINE
    )
    scheduler = find(docs, "Deployment", "airflow-dag-processor")["spec"]["template"]["spec"]
    git_sync = next(c for c in scheduler["containers"] if c["name"] == "git-sync")
    sync_env = {e["name"]: e.get("value") for e in git_sync["env"]}
    assert sync_env["GITSYNC_REF"] == "main"
    assert sync_env["GITSYNC_REPO"].endswith("/gitops-mlops.git")
    assert [d for d in docs if d["kind"] == "Secret"] == []  # every Airflow secret comes from a SealedSecret
    values = yaml.safe_load((REPO / "charts/airflow/values/base.yaml").read_text())
    assert values["airflowVersion"] == values["defaultAirflowTag"] == version
    assert values["dags"]["gitSync"]["subPath"] == "dags"


def test_dags_dockerfile_installs_the_airflow_extra_against_airflows_constraints() -> None:
    """Regression: the image installed against the project's lock, not Airflow's constraints."""
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    dockerfile = (REPO / "dags/Dockerfile").read_text()
    installed = re.findall(r'^\s+"([^"]+)" \\$', dockerfile, re.MULTILINE)
    assert sorted(installed) == sorted(extras["airflow"])
    assert f"ARG AIRFLOW_VERSION={_pinned_airflow()}\nARG PYTHON_VERSION=3.11\n" in dockerfile
    assert "FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}" in dockerfile
    constraints = "https://raw.githubusercontent.com/apache/airflow/constraints-${AIRFLOW_VERSION}/"
    assert f"ARG AIRFLOW_CONSTRAINTS={constraints}constraints-${{PYTHON_VERSION}}.txt" in dockerfile
    assert 'pip install --no-cache-dir --constraint "${AIRFLOW_CONSTRAINTS}"' in dockerfile
    assert "requirements.lock" not in dockerfile and "COPY" not in dockerfile


def _secret_refs(docs: list[dict]) -> set[tuple[str, str | None]]:
    """(secret name, key or None for envFrom) referenced by the workloads among docs."""
    refs: set[tuple[str, str | None]] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "secretKeyRef" in node:
                refs.add((node["secretKeyRef"]["name"], node["secretKeyRef"]["key"]))
            if "secretRef" in node:
                refs.add((node["secretRef"]["name"], None))
            if "secret" in node and isinstance(node["secret"], dict) and "secretName" in node["secret"]:
                refs.add((node["secret"]["secretName"], None))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for d in docs:
        if d["kind"] in {"Deployment", "StatefulSet", "Job", "CronJob", "Pod"}:
            walk(d["spec"])
    return refs


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize(
    "app", [*(c for c in CHARTS if c not in ROUTING_CHARTS | set(PODLESS_CHARTS)), "airflow"]
)
def test_every_referenced_secret_is_a_sealed_secret_of_that_app(
    rendered: render.RenderResult, envs: list[dict], app: str, env: str
) -> None:
    namespace = next(e["namespace"] for e in envs if e["env"] == env)
    docs = objects(rendered, f"{app}-{env}")
    embedded = [
        m.doc
        for m in pipeline.embedded_pod_templates(
            [m for m in rendered.manifests if m.source == f"rendered/{app}-{env}.yaml"]
        )
    ]
    sealed = {}
    owners = SECRETS_OF.get(app, [app])
    for owner in owners:
        for path in sorted((REPO / "apps/envs" / env / "secrets" / owner).glob("*.yaml")):
            doc = yaml.safe_load(path.read_text())
            assert doc["kind"] == "SealedSecret"
            assert doc["metadata"]["namespace"] == namespace
            sealed[doc["metadata"]["name"]] = set(doc["spec"]["encryptedData"])
    refs = _secret_refs(docs + embedded) | {
        (need_key.rsplit("/", 1)[-1], None)
        for d in docs
        for rule, need_key, _ in cnpg.needs(d, namespace)
        if rule == "secret"
    }
    assert refs, f"{app}-{env} references no Secret"
    # or the Secrets CloudNativePG generates for the env's Clusters (charts/postgres), with their keys
    generated = {
        k.rsplit("/", 1)[-1]
        for d in objects(rendered, f"postgres-{env}")
        for k in cnpg.provides(d, namespace)
        if k.startswith("Secret/")
    }
    for name, key in sorted(refs, key=str):
        if name in generated:
            assert key in cnpg.APP_SECRET_KEYS, f"{app}-{env}: CloudNativePG's Secret {name} has no key {key}"
            continue
        assert name in sealed, f"{app}-{env} uses Secret {name}, which has no SealedSecret in " + ", ".join(
            f"apps/envs/{env}/secrets/{owner}/" for owner in owners
        )
        if key is not None:
            assert key in sealed[name], f"SealedSecret {name} ({env}) has no key {key}"


def _airflow_logging_options() -> set[str]:
    """The [logging] options of the installed Airflow's config template (the version the images pin)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("airflow")  # found, not imported: no AIRFLOW_HOME is created
    assert spec is not None and spec.submodule_search_locations
    template = Path(spec.submodule_search_locations[0]) / "config_templates" / "config.yml"
    return set(yaml.safe_load(template.read_text())["logging"]["options"])
