"""Trainer pods built in-process by the DAGs' code from the KPO pod template of the rendered chart, checked
with the Kubernetes schema and the API server's semantic rules, for every profile, task and environment."""

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from ci.validate import podrules, policy
from ci.validate.manifests import Manifest
from ops.image_tags import fields as image_tags
from tests.unit.dags.conftest import REPO_ROOT

PROFILES = yaml.safe_load((REPO_ROOT / "trainer" / "model_profiles.yaml").read_text())["profiles"]
ENVS = ["dev", "prod"]


def settings_for(worker: Any, tmp_path: Path, **overrides: str):
    """DagSettings as a worker of that render builds them (its env), with the template in a local file."""
    from mlops_dags.settings import DagSettings

    template = tmp_path / "kpo_pod_template.yaml"
    template.write_text(worker.template)
    return DagSettings(**{**worker.env, "KPO_POD_TEMPLATE_FILE": str(template), **overrides})


def pods_for(settings: Any, profile: str) -> dict[str, dict]:
    """task → pod (as the API server receives it) of the train and register tasks on `profile`."""
    from kubernetes.client import ApiClient
    from mlops_dags.conf import resolve_config
    from mlops_dags.kpo import build_pod
    from mlops_dags.pods import plan_register_pod, plan_train_pod

    config = resolve_config(settings.configs_dir, "iris", {"profile": profile})
    uri = "http://mlflow.mlops-dev.svc.cluster.local:5000"
    specs = {
        "train": plan_train_pod(settings, config, uri, "manual__1", "0d85aa5"),
        "register": plan_register_pod(settings, config, "a" * 32, {"k": "v"}, uri, "manual__1", None),
    }
    return {
        task: ApiClient().sanitize_for_serialization(build_pod(spec, settings))
        for task, spec in specs.items()
    }


def containers(pod: dict) -> dict[str, dict]:
    return {c["name"]: c for c in pod["spec"]["containers"]}


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_pods_from_the_rendered_template_pass_the_api_server_rules(
    rendered_workers: dict, tmp_path: Path, env: str, profile: str
) -> None:
    """Regression: the chart's template declared the xcom volume the provider adds too ([xcom, tmp, xcom])."""
    settings = settings_for(rendered_workers[env], tmp_path)
    for task, pod in pods_for(settings, profile).items():
        kubernetes_validate.validate(pod, "1.33", strict=True)
        manifest = Manifest(f"{env}/{task}/{profile}", pod)
        assert podrules.check_manifest(manifest) == [], task
        assert policy.check_manifest(manifest) == [], task
        assert [v["name"] for v in pod["spec"]["volumes"]] == ["xcom", "tmp"]
        base = containers(pod)["base"]
        # the profile's repository with the tag the environment's values pin (TRAINER_IMAGE_TAG)
        tag = set(image_tags.tags(REPO_ROOT, env).values()).pop()
        assert base["image"] == PROFILES[profile]["image"].rsplit(":", 1)[0] + f":{tag}"
        assert base["resources"]["requests"]["cpu"] == PROFILES[profile]["resources"]["requests"]["cpu"]
        assert {"secretRef": {"name": "trainer-aws"}} in base["envFrom"]
        assert pod["metadata"]["namespace"] == f"mlops-{env}"
        assert pod["spec"]["restartPolicy"] == "Never"
        assert pod["spec"]["securityContext"]["runAsUser"] == 10001
    train = containers(pods_for(settings, profile)["train"])["base"]
    env_vars = {e["name"]: e.get("value") for e in train["env"]}
    assert json.loads(env_vars["TRAINER_CONFIG_JSON"])["profile"] == profile
    assert train["args"][: len(PROFILES[profile]["command"])] == PROFILES[profile]["command"]


def test_gpu_pod_requests_its_gpu_and_leaves_device_choice_to_the_plugin(rendered_workers, tmp_path) -> None:
    """Regression: the GPU profile set NVIDIA_VISIBLE_DEVICES=all, exposing every GPU of the node."""
    pod = pods_for(settings_for(rendered_workers["prod"], tmp_path), "image-gpu")["train"]
    base = containers(pod)["base"]
    assert (
        base["resources"]["limits"]["nvidia.com/gpu"]
        == base["resources"]["requests"]["nvidia.com/gpu"]
        == "1"
    )
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["spec"][
        "tolerations"
    ]
    assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert not {"NVIDIA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"} & {e["name"] for e in base["env"]}


def test_a_profile_that_picks_gpus_itself_is_rejected(tmp_path: Path) -> None:
    from mlops_dags.profiles import ProfileError, load_profiles

    data = yaml.safe_load((REPO_ROOT / "trainer" / "model_profiles.yaml").read_text())
    data["profiles"]["image-gpu"]["env"] = {"NVIDIA_VISIBLE_DEVICES": "all"}
    path = tmp_path / "profiles.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError, match=r"image-gpu: env: .*NVIDIA_VISIBLE_DEVICES.*device plugin"):
        load_profiles(path)


def test_cpu_pod_has_no_gpu(rendered_workers, tmp_path) -> None:
    pod = pods_for(settings_for(rendered_workers["dev"], tmp_path), "tabular")["train"]
    assert "nvidia.com/gpu" not in containers(pod)["base"]["resources"]["limits"]
    assert not pod["spec"].get("tolerations")


def test_xcom_sidecar_is_hardened_and_its_image_configurable(rendered_workers, tmp_path) -> None:
    """Regression: the sidecar was `alpine` from Docker Hub without a securityContext."""
    worker = rendered_workers["dev"]
    pod = pods_for(settings_for(worker, tmp_path), "tabular")["train"]
    sidecar, base = containers(pod)["airflow-xcom-sidecar"], containers(pod)["base"]
    assert sidecar["image"] == base["image"]  # already on the node; no other registry
    assert sidecar["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
    }
    assert sidecar["resources"]["limits"]["memory"] == "64Mi"
    mirrored = "registry.mlops.internal/mirror/busybox:1.37.0"
    other = pods_for(settings_for(worker, tmp_path, MLOPS_XCOM_SIDECAR_IMAGE=mirrored), "tabular")["train"]
    assert containers(other)["airflow-xcom-sidecar"]["image"] == mirrored


def test_image_tag_override(rendered_workers, tmp_path) -> None:
    settings = settings_for(rendered_workers["dev"], tmp_path, TRAINER_IMAGE_TAG="abc123")
    pod = pods_for(settings, "tabular")["train"]
    assert containers(pod)["base"]["image"] == "ghcr.io/gitops-mlops/trainer:abc123"


def test_pod_env_comes_from_the_dag_not_from_the_worker(rendered_workers, tmp_path, monkeypatch) -> None:
    """The pod's env is built from settings and the run only: nothing of the worker's env leaks in."""
    monkeypatch.setenv("SOMETHING_ONLY_THE_WORKER_HAS", "x")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://somewhere-else:5000")
    pod = pods_for(settings_for(rendered_workers["dev"], tmp_path), "tabular")["register"]
    env = {e["name"]: e["value"] for e in containers(pod)["base"]["env"]}
    assert env == {
        "AIRFLOW_DAG_RUN_ID": "manual__1",
        "AIRFLOW_TASK_ID": "register",
        "MLFLOW_TRACKING_URI": "http://mlflow.mlops-dev.svc.cluster.local:5000",
        "OMP_NUM_THREADS": "2",
        "TRAINER_XCOM_DIR": "/airflow/xcom",
    }


def test_xcom_dir_is_the_providers_sidecar_path() -> None:
    from airflow.providers.cncf.kubernetes.utils.xcom_sidecar import PodDefaults
    from mlops_dags.pods import XCOM_DIR

    assert XCOM_DIR == PodDefaults.XCOM_MOUNT_PATH


def test_the_pod_is_the_plan_even_when_the_profiles_change_before_it_starts(rendered_workers, tmp_path):
    """Regression: the plan task took the command and env from the profile, the pod task re-read the
    profiles file for image, resources and placement. git-sync moves the checkout between the tasks of a
    run (each KubernetesExecutor worker clones the branch head; a long-lived process follows the link), so
    a profile commit landing mid-run gave a pod with the old argv on the new image and resources."""
    from kubernetes.client import ApiClient
    from mlops_dags.conf import resolve_config
    from mlops_dags.kpo import build_pod
    from mlops_dags.pods import plan_train_pod

    profiles = tmp_path / "model_profiles.yaml"
    profiles.write_text((REPO_ROOT / "trainer" / "model_profiles.yaml").read_text())
    settings = settings_for(rendered_workers["dev"], tmp_path, MODEL_PROFILES_PATH=str(profiles))
    config = resolve_config(settings.configs_dir, "iris", {})
    spec = plan_train_pod(settings, config, "http://mlflow:5000", "manual__1", None)
    planned = json.loads(json.dumps(spec))  # what the plan task's XCom carries
    as_planned = containers(ApiClient().sanitize_for_serialization(build_pod(planned, settings)))["base"]

    data = yaml.safe_load(profiles.read_text())
    data["profiles"]["tabular"].update(
        image="ghcr.io/gitops-mlops/trainer:0.2.0",
        command=["python", "-m", "trainer2"],
        resources={"requests": {"cpu": "3", "memory": "9Gi"}, "limits": {"cpu": "3", "memory": "9Gi"}},
        node_selector={"pool": "highmem"},
    )
    profiles.write_text(yaml.safe_dump(data))

    pod = ApiClient().sanitize_for_serialization(build_pod(planned, settings))
    base = containers(pod)["base"]
    tabular = PROFILES["tabular"]
    assert base == as_planned
    assert base["args"][:3] == tabular["command"]
    # the profile's image with the tag the environment pins (TRAINER_IMAGE_TAG), not the new profile's
    assert base["image"].rpartition(":")[0] == tabular["image"].rpartition(":")[0]
    assert not base["image"].endswith(":0.2.0")
    assert base["resources"] == tabular["resources"]
    assert not pod["spec"].get("nodeSelector")


def _profiles_with(tmp_path: Path, tolerations: list[dict]) -> Path:
    data = yaml.safe_load((REPO_ROOT / "trainer" / "model_profiles.yaml").read_text())
    data["profiles"]["tabular"]["tolerations"] = tolerations
    path = tmp_path / "model_profiles.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_toleration_written_as_kubernetes_has_it_builds_a_pod_the_api_server_accepts(
    rendered_workers, tmp_path
) -> None:
    """Regression: a profile toleration without operator became operator Exists (Kubernetes' default is
    Equal), so `{key, value, effect}` built a pod with Exists and a value, which the API server refuses."""
    profiles = _profiles_with(tmp_path, [{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}])
    settings = settings_for(rendered_workers["dev"], tmp_path, MODEL_PROFILES_PATH=str(profiles))
    pod = pods_for(settings, "tabular")["train"]
    assert podrules.check_manifest(Manifest("dev/train/tabular", pod)) == []
    assert pod["spec"]["tolerations"] == [{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}]


@pytest.mark.parametrize(
    ("toleration", "problem"),
    [
        ({"key": "dedicated", "operator": "Exists", "value": "ml"}, "operator Exists takes no value"),
        ({"key": "dedicated", "operator": "In"}, "tolerations.0.operator"),
        ({"key": "dedicated", "effect": "NoRun"}, "tolerations.0.effect"),
    ],
)
def test_a_toleration_the_api_server_refuses_fails_the_profile(tmp_path, toleration, problem) -> None:
    from mlops_dags.profiles import ProfileError, load_profiles

    with pytest.raises(ProfileError, match=rf"profile tabular: .*{problem}"):
        load_profiles(_profiles_with(tmp_path, [toleration]))


def test_the_triggerer_watches_the_pod_with_the_in_cluster_config(rendered_workers, tmp_path, monkeypatch):
    """Regression: the deferrable pod task left `in_cluster` unset and the chart creates no
    `kubernetes_default` connection. The worker's sync hook falls back to the in-cluster config, the
    triggerer's async hook does not: it loads ~/.kube/config, which no Airflow pod has, so every trainer
    pod was created and then its task failed with "Invalid kube-config file"."""
    import asyncio

    from airflow.exceptions import AirflowNotFoundException, TaskDeferred
    from airflow.providers.cncf.kubernetes.hooks import kubernetes as hooks
    from kubernetes.client import models as k8s
    from mlops_dags.kpo import trainer_pod_operator

    def no_connection(conn_id: str, *args: Any, **kwargs: Any) -> Any:
        raise AirflowNotFoundException(conn_id)

    async def no_async_connection(conn_id: str) -> Any:
        raise AirflowNotFoundException(conn_id)

    loaded: list[str] = []
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config, as in the triggerer's pod
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setattr("airflow.sdk.BaseHook.get_connection", no_connection)
    monkeypatch.setattr(hooks, "get_async_connection", no_async_connection)
    monkeypatch.setattr(
        hooks.async_config, "load_incluster_config", lambda **kwargs: loaded.append("in-cluster")
    )

    settings = settings_for(rendered_workers["dev"], tmp_path)
    operator = trainer_pod_operator("train", {}, settings)
    operator.pod = k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="train-iris-abc", namespace="mlops-dev"))
    with pytest.raises(TaskDeferred) as deferred:
        operator.invoke_defer_method()
    asyncio.run(deferred.value.trigger.hook._load_config())
    assert loaded == ["in-cluster"]


def test_the_pods_carry_the_airflow_ids_their_log_lines_name(rendered_workers, tmp_path, dagbag) -> None:
    """The trainer's JSON lines carry run_id, dag_id and task_id (issue 16 item 5): the pod contract gives
    them, and the task ids are those of the DAG's pod tasks."""
    from mlops_dags.conf import resolve_config
    from mlops_dags.kpo import build_pod
    from mlops_dags.pods import plan_register_pod, plan_train_pod

    dag_id = "ml_train_register_and_reload"
    settings = settings_for(rendered_workers["dev"], tmp_path)
    config = resolve_config(settings.configs_dir, "iris", {})
    uri = "http://mlflow.mlops-dev.svc.cluster.local:5000"
    specs = {
        "train": plan_train_pod(settings, config, uri, "manual__1", None, dag_id),
        "register": plan_register_pod(settings, config, "a" * 32, {}, uri, "manual__1", None, dag_id),
    }
    assert set(specs) <= set(dagbag.dags[dag_id].task_ids)
    for task, spec in specs.items():
        env = {e.name: e.value for e in build_pod(spec, settings).spec.containers[0].env}
        ids = (env["AIRFLOW_DAG_RUN_ID"], env["AIRFLOW_DAG_ID"], env["AIRFLOW_TASK_ID"])
        assert ids == ("manual__1", dag_id, task)
