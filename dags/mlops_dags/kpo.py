"""The trainer pod as the cluster gets it: a KubernetesPodOperator (deferrable) whose image, argv, env,
resources and placement come from a PodSpec and its model profile, on top of the chart's pod template,
with the XCom sidecar hardened (image configurable, non-root, read-only, resources).

`build_pod` returns exactly the V1Pod the operator would create; the local runtime runs that pod's base
container, and CI checks it against the Kubernetes schema and the API server's rules.
"""

from pathlib import Path
from typing import Any

import yaml
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret
from airflow.providers.cncf.kubernetes.utils.xcom_sidecar import PodDefaults
from kubernetes.client import models as k8s

from mlops_dags.profiles import Profile, get_profile
from mlops_dags.settings import REPO_ROOT, DagSettings

# Where the chart's KPO pod template comes from: the Airflow values render it verbatim into this ConfigMap.
CHART_VALUES = REPO_ROOT / "charts" / "airflow" / "values" / "base.yaml"
TEMPLATE_CONFIGMAP, TEMPLATE_KEY = "airflow-kpo-pod-template", "kpo_pod_template.yaml"
SIDECAR_NAME = PodDefaults.SIDECAR_CONTAINER_NAME
SIDECAR_RESOURCES = k8s.V1ResourceRequirements(
    requests={"cpu": "5m", "memory": "16Mi"}, limits={"cpu": "100m", "memory": "64Mi"}
)
LABELS = {"app.kubernetes.io/part-of": "gitops-mlops", "app.kubernetes.io/component": "trainer"}


def sidecar_security_context() -> k8s.V1SecurityContext:
    """The XCom sidecar only reads return.json and sleeps: no root, no writes, no capabilities."""
    return k8s.V1SecurityContext(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        capabilities=k8s.V1Capabilities(drop=["ALL"]),
    )


def spec_profile(spec: dict[str, Any], settings: DagSettings) -> Profile:
    """The profile the plan task resolved (`profile_spec`). A PodSpec planned before specs carried it (a run
    in flight across an upgrade) falls back to the profiles file."""
    if spec.get("profile_spec"):
        return Profile.model_validate(spec["profile_spec"])
    return get_profile(settings.profiles_path, spec["profile"]).with_image_tag(settings.trainer_image_tag)


def pod_settings(spec: dict[str, Any], settings: DagSettings) -> dict[str, Any]:
    """KubernetesPodOperator attributes for a spec, from the model profile its plan resolved."""
    profile = spec_profile(spec, settings)
    limits = dict(profile.limits)
    requests = dict(profile.requests)
    if profile.gpu:
        # An extended resource: the API server wants the request equal to the limit.
        limits["nvidia.com/gpu"] = requests["nvidia.com/gpu"] = str(profile.gpu)
    values: dict[str, Any] = {
        "image": profile.image,
        "cmds": list(spec["cmds"]),
        "arguments": list(spec["arguments"]),
        "env_vars": [k8s.V1EnvVar(name=k, value=v) for k, v in sorted(spec["env"].items())],
        "container_resources": k8s.V1ResourceRequirements(requests=requests, limits=limits),
        "node_selector": dict(profile.node_selector),
        "tolerations": [
            k8s.V1Toleration(key=t.key, operator=t.operator, value=t.value, effect=t.effect)
            for t in profile.tolerations
        ],
        "secrets": [Secret("env", None, settings.trainer_secret)],
        "name": spec["name"].lower().replace("_", "-").replace(".", "-")[:50].rstrip("-"),
        "namespace": settings.namespace,
    }
    if not settings.pod_template_file:
        # The chart's pod template mounts /tmp; without it the pod gets its own writable /tmp.
        values["volumes"] = [k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource())]
        values["volume_mounts"] = [k8s.V1VolumeMount(name="tmp", mount_path="/tmp")]
    return values


class TrainerPodOperator(KubernetesPodOperator):
    """KubernetesPodOperator whose image, argv, env, resources and placement come from a PodSpec."""

    template_fields = (*KubernetesPodOperator.template_fields, "spec")

    def __init__(self, *, spec: Any, dag_settings: DagSettings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.dag_settings = dag_settings

    def apply_spec(self) -> None:
        for key, value in pod_settings(self.spec, self.dag_settings).items():
            setattr(self, key, value)

    def execute(self, context):  # type: ignore[override]
        self.apply_spec()
        return super().execute(context)

    def build_pod_request_obj(self, context=None, *, dry_run: bool = False) -> k8s.V1Pod:
        """The provider's pod, with the XCom sidecar on our image and resources."""
        pod = super().build_pod_request_obj(context, dry_run=dry_run)
        for container in pod.spec.containers:
            if container.name == SIDECAR_NAME:
                container.image = self.dag_settings.xcom_sidecar_image or self.image
                container.resources = SIDECAR_RESOURCES
                container.image_pull_policy = "IfNotPresent"
        return pod


def trainer_pod_operator(task_id: str, spec: Any, settings: DagSettings, **kwargs: Any) -> TrainerPodOperator:
    """A deferrable KubernetesPodOperator that takes its pod from `spec` (a PodSpec or an XComArg of one)."""
    return TrainerPodOperator(
        task_id=task_id,
        spec=spec,
        dag_settings=settings,
        namespace=settings.namespace,
        kubernetes_conn_id=settings.kubernetes_conn_id,
        # Explicit: the triggerer's async hook, unlike the worker's, never falls back to the in-cluster
        # config; with no connection it reads ~/.kube/config, which no Airflow pod has.
        in_cluster=True if settings.kubernetes_in_cluster else None,
        pod_template_file=settings.pod_template_file,
        on_finish_action="delete_pod",
        do_xcom_push=True,
        xcom_sidecar_container_security_context=sidecar_security_context(),
        deferrable=True,
        get_logs=True,
        startup_timeout_seconds=600,
        active_deadline_seconds=settings.pod_timeout_seconds,
        labels=dict(LABELS),
        **kwargs,
    )


def chart_pod_template(values: Path = CHART_VALUES) -> str | None:
    """The KPO pod template the Airflow chart mounts in the workers (values → ConfigMap data), or None
    when the checkout has no chart values (a DAG bundle without charts/)."""
    if not values.is_file():
        return None
    config_maps = yaml.safe_load(values.read_text(encoding="utf-8")).get("extraConfigMaps") or {}
    data = (config_maps.get(TEMPLATE_CONFIGMAP) or {}).get("data")
    return yaml.safe_load(data).get(TEMPLATE_KEY) if data else None


def build_pod(spec: dict[str, Any], settings: DagSettings) -> k8s.V1Pod:
    """The pod the operator creates for `spec`: pod template + profile + Secret + XCom sidecar."""
    operator = trainer_pod_operator(spec["step"], spec, settings)
    operator.apply_spec()
    return operator.build_pod_request_obj(dry_run=True)
