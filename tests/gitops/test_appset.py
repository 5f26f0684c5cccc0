"""ApplicationSet expansion: the exact Applications Argo CD creates for dev and prod."""

from __future__ import annotations

import copy

import pytest
import yaml

from ci.validate import appset, pipeline
from ci.validate.manifests import parse_documents
from ci.validate.settings import REPO

REPO_URL = "https://github.com/gitops-mlops/gitops-mlops.git"
SYNC_POLICY = {
    "automated": {"prune": True, "selfHeal": True},
    "syncOptions": ["CreateNamespace=true", "PruneLast=true"],
    "managedNamespaceMetadata": {
        "labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/audit": "restricted",
        }
    },
    "retry": {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}},
}


def _by_name() -> dict[str, dict]:
    return {app["metadata"]["name"]: app for apps in appset.expand_repo(REPO).values() for app in apps}


def _expected_chart_app(app: str, env: str, wave: str) -> dict:
    return {
        "project": f"mlops-{env}",
        "sources": [
            {
                "repoURL": REPO_URL,
                "targetRevision": "main",
                "path": f"charts/{app}",
                "helm": {"releaseName": app, "valueFiles": ["values/base.yaml", f"values/{env}.yaml"]},
            },
            {"repoURL": REPO_URL, "targetRevision": "main", "path": f"apps/envs/{env}/secrets/{app}"},
        ],
        "destination": {"server": "https://kubernetes.default.svc", "namespace": f"mlops-{env}"},
        "syncPolicy": SYNC_POLICY,
    }


def _expected_airflow_app(env: str) -> dict:
    return {
        "project": f"mlops-{env}",
        "sources": [
            {
                "repoURL": "https://airflow.apache.org",
                "chart": "airflow",
                "targetRevision": "1.20.0",
                "helm": {
                    "releaseName": "airflow",
                    "valueFiles": [
                        "$values/charts/airflow/values/base.yaml",
                        f"$values/charts/airflow/values/{env}.yaml",
                    ],
                    "parameters": [
                        {"name": "dags.gitSync.repo", "value": REPO_URL},
                        *(
                            {"name": f"dags.gitSync.{key}", "value": "main"}
                            for key in ("ref", "branch", "rev")
                        ),
                    ],
                },
            },
            {"repoURL": REPO_URL, "targetRevision": "main", "ref": "values"},
            {"repoURL": REPO_URL, "targetRevision": "main", "path": f"apps/envs/{env}/secrets/airflow"},
            {
                "repoURL": REPO_URL,
                "targetRevision": "main",
                "path": "charts/commit-trigger",
                "helm": {
                    "releaseName": "airflow",
                    "valueFiles": ["values/base.yaml", f"values/{env}.yaml"],
                    "parameters": [
                        {"name": "commit", "value": "$ARGOCD_APP_REVISION"},
                        {"name": "repoURL", "value": REPO_URL},
                    ],
                },
            },
        ],
        "destination": {"server": "https://kubernetes.default.svc", "namespace": f"mlops-{env}"},
        "syncPolicy": SYNC_POLICY,
    }


def test_exactly_five_applications_per_environment() -> None:
    assert sorted(_by_name()) == [
        "airflow-dev",
        "airflow-prod",
        "control-dev",
        "control-prod",
        "gateway-dev",
        "gateway-prod",
        "mlflow-dev",
        "mlflow-prod",
        "network-policies-dev",
        "network-policies-prod",
        "postgres-dev",
        "postgres-prod",
        "serving-dev",
        "serving-prod",
    ]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_postgres_application_never_deletes_a_database(env: str) -> None:
    """No prune, no resources finalizer: removing a Cluster from git or deleting the Application keeps
    the data; the chart and the env's backup credentials are its two sources."""
    app = _by_name()[f"postgres-{env}"]
    expected = _expected_chart_app("postgres", env, "-1")
    assert app["spec"]["sources"] == expected["sources"]
    assert app["spec"]["destination"] == expected["destination"]
    policy = app["spec"]["syncPolicy"]
    assert policy["automated"] == {"prune": False, "selfHeal": True}
    assert "ServerSideApply=true" in policy["syncOptions"]
    assert policy["managedNamespaceMetadata"] == SYNC_POLICY["managedNamespaceMetadata"]
    assert "finalizers" not in app["metadata"]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_applications_of_one_environment(env: str) -> None:
    apps = _by_name()
    assert apps[f"gateway-{env}"]["spec"] == _expected_chart_app("gateway", env, "0")
    assert apps[f"mlflow-{env}"]["spec"] == _expected_chart_app("mlflow", env, "0")
    assert apps[f"serving-{env}"]["spec"] == _expected_chart_app("serving", env, "1")
    assert apps[f"control-{env}"]["spec"] == _expected_chart_app("control", env, "2")
    assert apps[f"airflow-{env}"]["spec"] == _expected_airflow_app(env)
    for name in ("gateway", "mlflow", "serving", "control", "airflow"):
        meta = apps[f"{name}-{env}"]["metadata"]
        assert meta["namespace"] == "argocd"
        assert meta["labels"] == {
            "app.kubernetes.io/part-of": "gitops-mlops",
            "mlops/app": name,
            "mlops/env": env,
        }
        for trigger in ("on-sync-succeeded", "on-sync-failed", "on-health-degraded"):
            assert (
                meta["annotations"][f"notifications.argoproj.io/subscribe.{trigger}.slack"] == f"mlops-{env}"
            )


def test_mlflow_syncs_before_airflow_and_serving() -> None:
    waves = {
        n: int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) for n, a in _by_name().items()
    }
    for env in ("dev", "prod"):
        assert waves[f"mlflow-{env}"] < waves[f"airflow-{env}"]
        assert waves[f"mlflow-{env}"] < waves[f"serving-{env}"]
        # the control API drives Airflow, MLflow and the gateway: it syncs after all three
        assert (
            max(waves[f"{app}-{env}"] for app in ("mlflow", "serving", "airflow")) < waves[f"control-{env}"]
        )


def test_generated_applications_pass_the_crd_schema_and_policies(report: pipeline.Report) -> None:
    generated = [f for f in report.findings if "(generated)" in f.source]
    assert generated == []
    assert len(report.applications) == 14


def _appset() -> dict:
    return yaml.safe_load((REPO / "apps/ApplicationSet/mlops-charts.yaml").read_text())


def test_missing_key_is_an_error_with_missingkey_error() -> None:
    doc = _appset()
    doc["spec"]["template"]["metadata"]["name"] = "{{.app}}-{{.region}}"
    with pytest.raises(appset.ExpansionError, match="map has no entry for key 'region'"):
        appset.expand(doc, REPO)
    doc["spec"]["template"]["metadata"]["name"] = "{{.app}}-{{.env}}-{{.region}}"
    doc["spec"]["goTemplateOptions"] = []
    assert appset.expand(doc, REPO)[0]["metadata"]["name"] == "gateway-dev-<no value>"


def test_unsupported_template_syntax_is_refused_not_guessed() -> None:
    doc = _appset()
    doc["spec"]["template"]["metadata"]["name"] = "{{ .app | upper }}"
    with pytest.raises(appset.ExpansionError, match="unsupported template action"):
        appset.expand(doc, REPO)


def test_duplicate_application_names_are_an_error() -> None:
    doc = _appset()
    doc["spec"]["template"]["metadata"]["name"] = "{{.app}}"
    with pytest.raises(appset.ExpansionError, match="duplicate Application names"):
        appset.expand(doc, REPO)


def test_path_params_of_the_git_files_generator() -> None:
    doc = copy.deepcopy(_appset())
    doc["spec"]["template"]["metadata"]["name"] = "{{.app}}-{{.path.basename}}"
    names = [a["metadata"]["name"] for a in appset.expand(doc, REPO)]
    assert names == [
        "gateway-dev",
        "mlflow-dev",
        "serving-dev",
        "control-dev",
        "gateway-prod",
        "mlflow-prod",
        "serving-prod",
        "control-prod",
    ]


def test_project_rules_apply_to_what_each_application_syncs(report: pipeline.Report) -> None:
    plain, _ = pipeline.plain_manifests(REPO)
    projects = {m.doc["metadata"]["name"]: m.doc for m in plain if m.doc["kind"] == "AppProject"}
    app = next(a for a in report.applications if a["metadata"]["name"] == "serving-dev")
    rendered = parse_documents(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: too-much}\n---\n"
        "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: mlops-prod}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\n",
        "rendered/serving-dev.yaml",
    )
    messages = [f.message for f in pipeline.project_findings([app], projects, rendered, REPO)]
    assert messages == [
        "serving-dev: cluster-scoped ClusterRole is not allowed by its AppProject",
        "serving-dev: ResourceQuota is blacklisted by its AppProject",
        "serving-dev: object is not in the destination namespace mlops-dev",
    ]
