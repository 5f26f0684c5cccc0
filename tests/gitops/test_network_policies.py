"""The flow matrix over the rendered NetworkPolicies: the pods are labelled as the rendered charts label
them (Deployments, Jobs, the executor's and the KubernetesPodOperator's pod templates), and
``ci.validate.netpolicy.may_connect`` answers each flow with the Kubernetes semantics."""

from __future__ import annotations

import pytest
import yaml

from ci.validate.netpolicy import Endpoint, may_connect
from ci.validate.render import RenderResult
from tests.gitops.helpers import find, objects

ENVS = ("dev", "prod")
# Outside-the-cluster addresses of charts/network-policies/values/<env>.yaml.
NET = {"dev": "10.10", "prod": "10.20"}


def _pod_labels(rendered: RenderResult, env: str) -> dict[str, dict[str, str]]:
    """Each workload's pod labels as the charts render them."""
    labels: dict[str, dict[str, str]] = {}
    for app, kind, name, key in [
        ("serving", "Deployment", "serving", "gateway"),
        ("mlflow", "Deployment", "mlflow", "mlflow"),
        ("control", "Deployment", "control", "control"),
        ("commit-trigger", "Job", "commit-trigger", "commit-trigger"),
        ("airflow", "Deployment", "airflow-api-server", "airflow-api-server"),
        ("airflow", "Deployment", "airflow-scheduler", "airflow-scheduler"),
        ("airflow", "Deployment", "airflow-dag-processor", "airflow-dag-processor"),
        ("airflow", "Deployment", "airflow-triggerer", "airflow-triggerer"),
        ("airflow", "Deployment", "airflow-statsd", "airflow-statsd"),
        ("airflow", "Job", "airflow-run-airflow-migrations", "airflow-migrations"),
    ]:
        obj = find(objects(rendered, f"{app}-{env}"), kind, name)
        labels[key] = obj["spec"]["template"]["metadata"]["labels"]
    airflow = objects(rendered, f"airflow-{env}")
    executor = yaml.safe_load(find(airflow, "ConfigMap", "airflow-config")["data"]["pod_template_file.yaml"])
    labels["airflow-worker"] = executor["metadata"]["labels"]
    kpo = find(airflow, "ConfigMap", "airflow-kpo-pod-template")["data"]["kpo_pod_template.yaml"]
    labels["trainer"] = yaml.safe_load(kpo)["metadata"]["labels"]
    upgrade = find(objects(rendered, f"mlflow-{env}"), "Job", "mlflow-db-upgrade")
    labels["mlflow-db-upgrade"] = upgrade["spec"]["template"]["metadata"]["labels"]
    labels["postgresql"] = {"cnpg.io/cluster": "mlops-db", "cnpg.io/podRole": "instance", "role": "primary"}
    # the pods of CloudNativePG's Jobs, labelled as the operator labels them (pkg/specs/jobs.go): no podRole
    for role in ("initdb", "join", "full-recovery"):
        labels[f"postgresql-{role}"] = {
            "cnpg.io/cluster": "mlflow-db",
            "cnpg.io/jobRole": role,
            "cnpg.io/instanceName": "mlflow-db-1",
            "app.kubernetes.io/name": "cloudnative-pg",
            "app.kubernetes.io/instance": "mlflow-db",
            "app.kubernetes.io/component": "database",
            "app.kubernetes.io/managed-by": "cloudnative-pg",
        }
    return labels


@pytest.fixture(scope="module")
def cluster(rendered: RenderResult) -> tuple[list[dict], dict[str, dict[str, Endpoint]]]:
    """Both environments' policies (in their namespaces) and named endpoints per environment."""
    policies: list[dict] = []
    ends: dict[str, dict[str, Endpoint]] = {}
    for env in ENVS:
        ns = f"mlops-{env}"
        for doc in objects(rendered, f"network-policies-{env}"):
            policies.append({**doc, "metadata": {**doc["metadata"], "namespace": ns}})
        net = NET[env]
        ends[env] = {name: Endpoint(ns, labels) for name, labels in _pod_labels(rendered, env).items()}
        ends[env].update(
            {
                "ingress-controller": Endpoint(
                    "envoy-gateway-system", {"app.kubernetes.io/component": "proxy"}
                ),
                "prometheus": Endpoint("monitoring", {"app.kubernetes.io/name": "prometheus"}),
                "other-monitoring-pod": Endpoint("monitoring", {"app.kubernetes.io/name": "grafana"}),
                "dns": Endpoint("kube-system", {"k8s-app": "kube-dns"}),
                "kubernetes-api": Endpoint(ip=f"{net}.0.10"),
                "s3": Endpoint(ip=f"{net}.20.7"),
                "git": Endpoint(ip=f"{net}.30.5"),
                "slack": Endpoint(ip=f"{net}.40.10"),
                "internet": Endpoint(ip="203.0.113.9"),
                "stranger": Endpoint(ns, {"app": "debug-shell"}),
            }
        )
    return policies, ends


ALLOWED = [
    # (from, to, port, protocol): the flows the loop needs
    ("gateway", "dns", 53, "UDP"),
    ("trainer", "dns", 53, "TCP"),
    ("ingress-controller", "gateway", 8000, "TCP"),
    ("prometheus", "gateway", 8000, "TCP"),
    ("gateway", "mlflow", 5000, "TCP"),
    ("gateway", "s3", 443, "TCP"),
    ("gateway", "postgresql", 5432, "TCP"),
    ("airflow-scheduler", "kubernetes-api", 6443, "TCP"),
    ("airflow-worker", "kubernetes-api", 443, "TCP"),
    ("airflow-worker", "mlflow", 5000, "TCP"),
    ("airflow-worker", "gateway", 8000, "TCP"),
    ("airflow-worker", "airflow-api-server", 8080, "TCP"),
    ("airflow-dag-processor", "git", 443, "TCP"),
    ("airflow-worker", "git", 443, "TCP"),
    ("trainer", "mlflow", 5000, "TCP"),
    ("trainer", "s3", 443, "TCP"),
    ("control", "airflow-api-server", 8080, "TCP"),
    ("control", "mlflow", 5000, "TCP"),
    ("control", "gateway", 8000, "TCP"),
    ("mlflow", "postgresql", 5432, "TCP"),
    ("mlflow", "s3", 443, "TCP"),
    ("commit-trigger", "airflow-api-server", 8080, "TCP"),
    ("airflow-migrations", "postgresql", 5432, "TCP"),
    ("airflow-scheduler", "airflow-statsd", 9125, "UDP"),
    ("airflow-worker", "slack", 443, "TCP"),
    ("prometheus", "mlflow", 5000, "TCP"),  # the ServiceMonitor of charts/mlflow (MLflowDown otherwise)
    ("mlflow-db-upgrade", "dns", 53, "UDP"),  # the Sync hook before every MLflow rollout
    ("mlflow-db-upgrade", "postgresql", 5432, "TCP"),
    ("postgresql-initdb", "dns", 53, "UDP"),  # a Cluster's first primary
    ("postgresql-initdb", "kubernetes-api", 6443, "TCP"),
    ("postgresql-join", "kubernetes-api", 6443, "TCP"),  # a standby (prod: 2 instances)
    ("postgresql-join", "postgresql", 5432, "TCP"),
    ("postgresql-full-recovery", "kubernetes-api", 6443, "TCP"),  # the restore runbook
    ("postgresql-full-recovery", "s3", 443, "TCP"),
]

DENIED = [
    ("trainer", "postgresql", 5432, "TCP"),  # trainer pods reach MLflow and S3 only
    ("trainer", "gateway", 8000, "TCP"),
    ("trainer", "kubernetes-api", 443, "TCP"),
    ("trainer", "internet", 443, "TCP"),
    ("gateway", "airflow-api-server", 8080, "TCP"),
    ("gateway", "kubernetes-api", 443, "TCP"),
    ("gateway", "mlflow", 5432, "TCP"),  # right pair, wrong port
    ("mlflow", "gateway", 8000, "TCP"),
    ("mlflow", "internet", 443, "TCP"),
    ("ingress-controller", "postgresql", 5432, "TCP"),
    ("ingress-controller", "trainer", 8000, "TCP"),
    ("other-monitoring-pod", "gateway", 8000, "TCP"),  # Prometheus only, not its namespace
    ("mlflow-db-upgrade", "s3", 443, "TCP"),  # migrations never touch artifacts
    ("postgresql-initdb", "s3", 443, "TCP"),
    ("prometheus", "mlflow", 5432, "TCP"),  # its metrics port only
    ("stranger", "gateway", 8000, "TCP"),  # a new pod in the namespace gets nothing
    ("stranger", "dns", 53, "UDP"),
    ("control", "postgresql", 6000, "TCP"),
    ("control", "s3", 443, "TCP"),
    ("airflow-worker", "postgresql", 5432, "TCP"),  # workers use the execution API, not the DB
    ("gateway", "dns", 54, "UDP"),
    ("airflow-scheduler", "airflow-statsd", 9125, "TCP"),
]


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize(("src", "dst", "port", "protocol"), ALLOWED)
def test_the_loop_flows_are_allowed(cluster, env: str, src: str, dst: str, port: int, protocol: str) -> None:
    policies, ends = cluster
    assert may_connect(policies, ends[env][src], ends[env][dst], port, protocol), f"{src} -> {dst}:{port}"


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize(("src", "dst", "port", "protocol"), DENIED)
def test_other_flows_are_denied(cluster, env: str, src: str, dst: str, port: int, protocol: str) -> None:
    policies, ends = cluster
    assert not may_connect(policies, ends[env][src], ends[env][dst], port, protocol), f"{src} -> {dst}:{port}"


@pytest.mark.parametrize(
    ("src", "dst"), [("gateway", "mlflow"), ("airflow-worker", "gateway"), ("control", "airflow-api-server")]
)
def test_dev_and_prod_cannot_reach_each_other(cluster, src: str, dst: str) -> None:
    policies, ends = cluster
    port = {"mlflow": 5000, "gateway": 8000, "airflow-api-server": 8080}[dst]
    assert may_connect(policies, ends["prod"][src], ends["prod"][dst], port)
    assert not may_connect(policies, ends["dev"][src], ends["prod"][dst], port)
    assert not may_connect(policies, ends["prod"][src], ends["dev"][dst], port)


def test_every_pod_of_the_namespace_is_isolated_both_ways(rendered: RenderResult) -> None:
    for env in ENVS:
        deny = find(
            objects(rendered, f"network-policies-{env}"), "NetworkPolicy", "network-policies-default-deny"
        )
        assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_no_rule_is_widened_to_anywhere(rendered: RenderResult) -> None:
    """An empty or missing from/to would allow every peer: only ports-only DNS-free rules may not exist."""
    for env in ENVS:
        for policy in objects(rendered, f"network-policies-{env}"):
            for rule in policy["spec"].get("ingress") or []:
                assert rule.get("from"), f"{policy['metadata']['name']}: ingress rule without from"
            for rule in policy["spec"].get("egress") or []:
                assert rule.get("to"), f"{policy['metadata']['name']}: egress rule without to"
                assert rule.get("ports"), f"{policy['metadata']['name']}: egress rule without ports"
