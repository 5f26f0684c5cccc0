"""Training pods built offline from every model profile and validated against the Kubernetes schema."""

import json
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.unit.dags.conftest import REPO_ROOT

PROFILES = sorted(yaml.safe_load((REPO_ROOT / "trainer" / "model_profiles.yaml").read_text())["profiles"])
KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: offline, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: offline, user: {token: offline}}]
contexts: [{name: offline, context: {cluster: offline, user: offline, namespace: mlops-dev}}]
current-context: offline
"""


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(KUBECONFIG)
    return path


def build_pod(profile_name: str, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> dict:
    from kubernetes.client import ApiClient
    from mlops_dags.pods import train_spec, trainer_pod_operator
    from mlops_dags.profiles import get_profile
    from mlops_dags.settings import DagSettings

    monkeypatch.setenv("K8S_NAMESPACE", "mlops-dev")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = DagSettings()
    profile = get_profile(settings.profiles_path, profile_name)
    config = json.loads((REPO_ROOT / "trainer" / "configs" / "iris.json").read_text())
    spec = train_spec(profile_name, profile, config, {"MLFLOW_TRACKING_URI": "http://mlflow:5000"})
    operator = trainer_pod_operator("train", spec, settings, config_file=str(kubeconfig))
    operator.apply_spec()
    pod = operator.build_pod_request_obj(dry_run=True)
    return ApiClient().sanitize_for_serialization(pod)


@pytest.mark.parametrize("profile_name", PROFILES)
def test_pod_of_every_profile_is_valid(profile_name: str, kubeconfig: Path, monkeypatch) -> None:
    pod = build_pod(profile_name, kubeconfig, monkeypatch)
    kubernetes_validate.validate(pod, "1.33", strict=True)
    base = next(c for c in pod["spec"]["containers"] if c["name"] == "base")
    profile = yaml.safe_load((REPO_ROOT / "trainer" / "model_profiles.yaml").read_text())["profiles"][
        profile_name
    ]
    assert base["image"] == profile["image"]
    assert base["args"][: len(profile["command"])] == profile["command"]
    assert base["resources"]["requests"] == profile["resources"]["requests"]
    assert pod["metadata"]["namespace"] == "mlops-dev"
    assert pod["spec"]["restartPolicy"] == "Never"
    env = {e["name"]: e.get("value") for e in base["env"]}
    assert json.loads(env["TRAINER_CONFIG_JSON"])["model_name"] == "iris"
    assert {"secretRef": {"name": "trainer-aws"}} in base["envFrom"]
    # do_xcom_push: the sidecar that reads /airflow/xcom/return.json
    assert any(c["name"] == "airflow-xcom-sidecar" for c in pod["spec"]["containers"])


def test_gpu_profile_has_gpu_limit_toleration_and_node_selector(kubeconfig: Path, monkeypatch) -> None:
    pod = build_pod("image-gpu", kubeconfig, monkeypatch)
    base = next(c for c in pod["spec"]["containers"] if c["name"] == "base")
    assert base["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["spec"][
        "tolerations"
    ]
    assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}


def test_cpu_profile_has_no_gpu(kubeconfig: Path, monkeypatch) -> None:
    pod = build_pod("tabular", kubeconfig, monkeypatch)
    base = next(c for c in pod["spec"]["containers"] if c["name"] == "base")
    assert "nvidia.com/gpu" not in base["resources"]["limits"]
    assert not pod["spec"].get("tolerations")


def test_image_tag_override_and_pod_template(kubeconfig: Path, monkeypatch, tmp_path: Path) -> None:
    template = tmp_path / "kpo.yaml"
    template.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: trainer}\nspec:\n  containers:\n    - name: base\n"
        "      image: placeholder:1\n      volumeMounts: [{name: tmp, mountPath: /tmp}]\n"
        "  volumes: [{name: tmp, emptyDir: {}}]\n"
    )
    pod = build_pod(
        "tabular", kubeconfig, monkeypatch, TRAINER_IMAGE_TAG="abc123", KPO_POD_TEMPLATE_FILE=str(template)
    )
    kubernetes_validate.validate(pod, "1.33", strict=True)
    base = next(c for c in pod["spec"]["containers"] if c["name"] == "base")
    assert base["image"] == "ghcr.io/gitops-mlops/trainer:abc123"
    assert [v["name"] for v in pod["spec"]["volumes"]].count("tmp") == 1
