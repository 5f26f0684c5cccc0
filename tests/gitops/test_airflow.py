"""The official Airflow chart rendered with our values, read as Argo CD and the cluster would: it migrates on
the first sync, every pod it and the DAGs create passes the API server's rules, people and CI can log in,
and configs reach training from Git."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

from ci.validate import pipeline, podrules, podsecurity, render
from ci.validate.settings import REPO
from tests.gitops.helpers import find, objects

ENVS = [e["env"] for e in render.environments(REPO)]
COMPONENTS = ("airflow-scheduler", "airflow-api-server", "airflow-dag-processor", "airflow-triggerer")
HOSTS = {"dev": "airflow.dev.mlops.internal", "prod": "airflow.mlops.internal"}


def executor_pod(docs: list[dict]) -> dict:
    """The KubernetesExecutor worker pod template the chart renders into airflow-config."""
    text = find(docs, "ConfigMap", "airflow-config")["data"]["pod_template_file.yaml"]
    return yaml.safe_load(text)


def base_env(pod: dict) -> dict[str, str]:
    base = next(c for c in pod["spec"]["containers"] if c["name"] == "base")
    return {e["name"]: e.get("value") for e in base["env"]}


@pytest.mark.parametrize("env", ENVS)
def test_no_helm_hook_reaches_argo_cd_and_the_migration_is_a_sync_hook(rendered, env: str) -> None:
    """Regression: migrateDatabaseJob.useHelmHooks was true, so the migration Job was a Helm post-install
    hook, which Argo CD runs as PostSync while every component waits for the migration; the KPO ConfigMap
    was a pre-install hook."""
    docs = objects(rendered, f"airflow-{env}")
    hooked = [
        f"{d['kind']}/{d['metadata']['name']}"
        for d in docs
        if any(k.startswith("helm.sh/hook") for k in (d["metadata"].get("annotations") or {}))
    ]
    assert hooked == []
    migrate = find(docs, "Job", "airflow-run-airflow-migrations")["metadata"]["annotations"]
    assert migrate["argocd.argoproj.io/hook"] == "Sync"
    assert migrate["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
    # Same wave as the components that wait for it (a later wave would wait for them to be healthy first).
    assert "argocd.argoproj.io/sync-wave" not in migrate
    users = find(docs, "Job", "airflow-create-user")["metadata"]["annotations"]
    assert users["argocd.argoproj.io/hook"] == "Sync" and users["argocd.argoproj.io/sync-wave"] == "1"
    assert find(docs, "ConfigMap", "airflow-kpo-pod-template")["metadata"].get("annotations") is None
    # Argo CD owns the custom env of the Jobs through the components, not through the hooks.
    values = yaml.safe_load((REPO / "charts/airflow/values/base.yaml").read_text())
    for job in ("migrateDatabaseJob", "createUserJob"):
        assert values[job]["useHelmHooks"] is False and values[job]["applyCustomEnv"] is False


@pytest.mark.parametrize("env", ENVS)
def test_every_airflow_pod_passes_the_api_server_rules(rendered, env: str) -> None:
    """Regression: the KPO template ConfigMap was mounted over /opt/airflow/pod_templates in every
    component, where the chart mounts the executor's template with subPath (a mount inside a ConfigMap)."""
    docs = [m for m in rendered.manifests if m.source == f"rendered/airflow-{env}.yaml"]
    templates = pipeline.embedded_pod_templates(docs)
    assert {m.doc["metadata"]["name"] for m in templates} == {"placeholder-name", "trainer"}
    assert [str(f) for f in podrules.check_all(docs + templates)] == []


@pytest.mark.parametrize("env", ENVS)
def test_every_airflow_pod_is_admitted_by_pod_security_restricted(rendered, env: str) -> None:
    """Regression: the statsd Deployment had no seccomp profile; in a namespace enforcing Pod Security
    `restricted` its pods are refused, the Application never turns Healthy and the PostSync commit trigger
    never runs."""
    docs = [m for m in rendered.manifests if m.source == f"rendered/airflow-{env}.yaml"]
    templates = pipeline.embedded_pod_templates(docs)
    assert [str(f) for f in podsecurity.check_all(docs + templates)] == []


@pytest.mark.parametrize("env", ENVS)
def test_kpo_template_is_mounted_only_where_it_is_read(rendered, env: str) -> None:
    docs = objects(rendered, f"airflow-{env}")
    for name in COMPONENTS:
        pod = find(docs, "Deployment", name)["spec"]["template"]["spec"]
        assert "kpo-pod-template" not in {v["name"] for v in pod.get("volumes") or []}, name
    worker = executor_pod(docs)
    mounts = {m["name"]: m for c in worker["spec"]["containers"] for m in c.get("volumeMounts") or []}
    path = base_env(worker)["KPO_POD_TEMPLATE_FILE"]
    assert path == f"{mounts['kpo-pod-template']['mountPath']}/kpo_pod_template.yaml"
    assert not path.startswith("/opt/airflow/pod_templates/")


@pytest.mark.parametrize("env", ENVS)
def test_trainer_pods_of_every_config_and_task_are_built_and_checked(
    report: pipeline.Report, env: str
) -> None:
    """make lint builds every trainer pod from the rendered template; the whole run has no findings."""
    configs = sorted(p.stem for p in (REPO / "trainer/configs").glob("*.json"))
    expected = {
        f"rendered/airflow-{env}.yaml#kpo/{task}/{c}" for task in ("train", "register") for c in configs
    }
    assert expected <= set(report.trainer_pods)
    assert [f for f in report.findings if f.source.startswith(f"rendered/airflow-{env}.yaml")] == []


@pytest.mark.parametrize("env", ENVS)
def test_links_point_at_the_environments_airflow(rendered, env: str) -> None:
    """Regression: Slack links pointed at http://localhost:8080 (no AIRFLOW__API__BASE_URL)."""
    docs = objects(rendered, f"airflow-{env}")
    url = f"https://{HOSTS[env]}"
    assert base_env(executor_pod(docs))["AIRFLOW__API__BASE_URL"] == url
    api = find(docs, "Deployment", "airflow-api-server")["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"]: e.get("value") for e in api["env"]}["AIRFLOW__API__BASE_URL"] == url
    assert not [d for d in docs if d["kind"] == "Ingress"]
    gateway = find(objects(rendered, f"gateway-{env}"), "Gateway")
    route = find(objects(rendered, f"gateway-{env}"), "HTTPRoute", "airflow")
    section = route["spec"]["parentRefs"][0]["sectionName"]
    assert [ln["hostname"] for ln in gateway["spec"]["listeners"] if ln["name"] == section] == [HOSTS[env]]
    assert route["spec"]["rules"][0]["backendRefs"][0]["name"] == "airflow-api-server"


@pytest.mark.parametrize("env", ENVS)
def test_people_and_ci_get_users_from_sealed_secrets_with_least_roles(rendered, env: str) -> None:
    """Regression: the create-user Job was off and FAB has no SSO: nobody could log in after install."""
    job = find(objects(rendered, f"airflow-{env}"), "Job", "airflow-create-user")
    container = job["spec"]["template"]["spec"]["containers"][0]
    refs = {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in container["env"]
        if "valueFrom" in e
    }
    assert refs["ADMIN_PASSWORD"] == ("airflow-admin-user", "password")
    assert refs["CI_PASSWORD"] == ("airflow-ci-user", "password")
    script = container["args"][-1]
    assert 'ensure_user "$ADMIN_USERNAME" "$ADMIN_PASSWORD" Admin' in script
    assert 'ensure_user "$CI_USERNAME" "$CI_PASSWORD" MLOpsTrigger' in script
    granted = re.findall(r"roles add-perms MLOpsTrigger -r (\"[^\"]+\"|\S+) -a (.+)", script)
    assert {(r.strip('"'), a) for r, a in granted} == {
        ("DAGs", "can_read can_edit"),  # FAB: triggering a DAG needs edit on it
        ("DAG Runs", "can_read can_create"),
        ("Task Instances", "can_read"),
        ("XComs", "can_read"),  # the control API reads a run's results and task logs
        ("Task Logs", "can_read"),
    }
    assert script.index("check-migrations") < script.index("users create")
    for secret in ("airflow-admin-user", "airflow-ci-user"):
        sealed = yaml.safe_load((REPO / f"apps/envs/{env}/secrets/airflow/{secret}.yaml").read_text())
        assert sealed["kind"] == "SealedSecret" and {"username", "password"} <= set(
            sealed["spec"]["encryptedData"]
        )


@pytest.mark.parametrize("env", ENVS)
def test_triggerer_has_no_log_volume(rendered, env: str) -> None:
    """Regression: the triggerer got a 100 Gi volume although task logs go to S3."""
    docs = objects(rendered, f"airflow-{env}")
    assert not [d for d in docs if d["kind"] in {"StatefulSet", "PersistentVolumeClaim"}]
    triggerer = find(docs, "Deployment", "airflow-triggerer")["spec"]["template"]["spec"]
    logs = next(v for v in triggerer["volumes"] if v["name"] == "logs")
    assert "emptyDir" in logs


@pytest.mark.parametrize("env", ENVS)
def test_dags_read_configs_and_profiles_from_the_git_sync_checkout(rendered, env: str) -> None:
    """Regression: configs and profiles were baked into the Airflow image (MODEL_PROFILES_PATH,
    TRAINER_CONFIGS_DIR): a config commit needed an image rebuild. git-sync clones the whole repository;
    the DAGs folder is its dags/, so the checkout's trainer/ is next to it."""
    docs = objects(rendered, f"airflow-{env}")
    worker = executor_pod(docs)
    assert not {"MODEL_PROFILES_PATH", "TRAINER_CONFIGS_DIR"} & set(base_env(worker))
    cfg = find(docs, "ConfigMap", "airflow-config")["data"]["airflow.cfg"]
    assert re.search(r"^dags_folder = /opt/airflow/dags/repo/dags$", cfg, re.MULTILINE)
    sync = next(c for c in worker["spec"]["initContainers"] if c["name"] == "git-sync-init")
    sync_env = {e["name"]: e.get("value") for e in sync["env"]}
    assert sync_env["GITSYNC_LINK"] == "repo" and "GITSYNC_SPARSE_CHECKOUT_FILE" not in sync_env
    dockerfile = (REPO / "dags/Dockerfile").read_text()
    assert not re.search(r"^(COPY|ADD|ENV) ", dockerfile, re.MULTILINE)


def _airflow_chart_source(app: dict) -> dict:
    return next(s for s in app["spec"]["sources"] if s.get("chart") == "airflow")


def _helm_value(values_files: list[dict], parameters: list[dict], key: str) -> object:
    """A value as Argo CD's helm gets it: the value files in order, then the parameters (--set)."""
    found = None
    for values in values_files:
        node: object = values
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        found = node if node is not None else found
    for parameter in parameters:
        if parameter["name"] == key:
            found = parameter["value"]
    return found


@pytest.mark.parametrize("env", ENVS)
def test_git_sync_follows_the_repository_and_revision_argo_cd_syncs(tmp_path, env: str) -> None:
    """Regression: git-sync cloned the repository and branch hard-coded in the Airflow values, while Argo CD
    syncs (and the commit trigger waits for the DAGs of) env.yaml's repoURL and targetRevision: a fork, or
    an environment on another branch, synced its commit and the trigger waited for DAGs git-sync never
    cloned."""
    from ci.validate import appset

    shutil.copytree(REPO / "apps", tmp_path / "apps")
    env_file = tmp_path / f"apps/envs/{env}/env.yaml"
    settings = yaml.safe_load(env_file.read_text())
    fork, revision = "https://git.example.com/platform/gitops-mlops.git", "release-7"
    env_file.write_text(yaml.safe_dump({**settings, "repoURL": fork, "targetRevision": revision}))
    apps = [app for apps in appset.expand_repo(tmp_path).values() for app in apps]
    app = next(a for a in apps if a["metadata"]["name"] == f"airflow-{env}")
    source = _airflow_chart_source(app)
    files = [
        yaml.safe_load((REPO / path.replace("$values/", "")).read_text())
        for path in source["helm"]["valueFiles"]
    ]
    parameters = source["helm"].get("parameters") or []
    assert _helm_value(files, parameters, "dags.gitSync.repo") == fork
    for key in ("ref", "branch", "rev"):
        assert _helm_value(files, parameters, f"dags.gitSync.{key}") == revision, key


@pytest.mark.parametrize("env", ENVS)
def test_ci_renders_airflow_with_the_parameters_argo_cd_passes(rendered, env: str) -> None:
    """The CI render gets the Application's helm parameters too, so the worker template checked is the
    one the cluster gets."""
    environment = next(e for e in render.environments(REPO) if e["env"] == env)
    sync = next(c for c in executor_pod(objects(rendered, f"airflow-{env}"))["spec"]["initContainers"])
    sync_env = {e["name"]: e.get("value") for e in sync["env"]}
    assert sync_env["GITSYNC_REPO"] == environment["repoURL"]
    assert sync_env["GITSYNC_REF"] == environment["targetRevision"]
