"""Pod tasks with two runtimes: KubernetesPodOperator from a model profile, or the same argv as a subprocess.

A plan task returns a PodSpec (JSON): profile, command, arguments, env. `kubernetes` turns it into a pod
(image, resources, GPU, tolerations, node selector, Secrets) whose /airflow/xcom/return.json becomes the
XCom; `local` runs the same argv with the same env, pointing TRAINER_XCOM_DIR at a temporary folder, and
returns that folder's return.json, so downstream tasks read results the same way.
"""

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from mlops_dags.profiles import Profile, get_profile
from mlops_dags.settings import REPO_ROOT, DagSettings

# Writes the training config from the env to a temporary file, then runs the profile's command.
TRAIN_SCRIPT = 'cfg="$(mktemp)" && printf "%s" "$TRAINER_CONFIG_JSON" > "$cfg" && exec "$@" --config "$cfg"'
EXIT_CODES = {2: "bad input", 3: "MLflow unreachable", 4: "version not READY before the timeout"}


class PodFailed(RuntimeError):
    """The trainer exited non-zero or wrote no result."""


def train_spec(profile_name: str, profile: Profile, config: dict[str, Any], env: dict[str, str]) -> dict:
    """PodSpec of `python -m trainer train` for a config passed through TRAINER_CONFIG_JSON."""
    return {
        "step": "train",
        "profile": profile_name,
        "cmds": ["sh", "-c", TRAIN_SCRIPT, "trainer"],
        "arguments": [*profile.command, "train"],
        "env": {**profile.env, **env, "TRAINER_CONFIG_JSON": json.dumps(config, sort_keys=True)},
        "name": f"train-{config['model_name']}",
    }


def register_spec(profile_name: str, profile: Profile, run_id: str, name: str, tags: dict, env: dict) -> dict:
    """PodSpec of `python -m trainer register` (no alias: the DAG moves aliases after READY)."""
    arguments = [*profile.command[1:], "register", "--run-id", run_id, "--name", name]
    for key, value in sorted(tags.items()):
        arguments += ["--tag", f"{key}={value}"]
    return {
        "step": "register",
        "profile": profile_name,
        "cmds": profile.command[:1],
        "arguments": arguments,
        "env": {**profile.env, **env},
        "name": f"register-{name}",
    }


def base_env(settings: DagSettings, run_id: str, git_commit: str | None = None) -> dict[str, str]:
    """Env every trainer pod gets from the DAG (credentials come from Secrets or the worker env)."""
    env = {"MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri, "AIRFLOW_DAG_RUN_ID": run_id}
    for key in ("GIT_COMMIT", "MLFLOW_S3_ENDPOINT_URL"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    if git_commit:
        env["GIT_COMMIT"] = git_commit
    return env


# -- local runtime -------------------------------------------------------------------------------------
def run_local(spec: dict[str, Any], settings: DagSettings, log=None) -> dict[str, Any]:
    """Run the spec's argv as a subprocess; its return.json is the result (the pod's XCom)."""
    log = log or logging.getLogger(__name__).info
    python_dir = str(Path(settings.local_python or sys.executable).parent)
    with tempfile.TemporaryDirectory(prefix=f"mlops-{spec['step']}-") as xcom_dir:
        env = {
            **os.environ,
            **spec["env"],
            "TRAINER_XCOM_DIR": xcom_dir,
            "PATH": python_dir + os.pathsep + os.environ.get("PATH", ""),
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p),
        }
        env.pop("TRAINER_RESULT_FILE", None)
        argv = [*spec["cmds"], *spec["arguments"]]
        log(f"local pod {spec['name']}: {' '.join(argv[:1] + argv[4:] if argv[0] == 'sh' else argv)}")
        completed = subprocess.run(
            argv,
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=settings.pod_timeout_seconds,
            check=False,
        )
        for line in (completed.stdout + completed.stderr).splitlines()[-40:]:
            log(f"  {line}")
        if completed.returncode != 0:
            meaning = EXIT_CODES.get(completed.returncode, "error")
            last = (completed.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise PodFailed(f"{spec['step']} exited {completed.returncode} ({meaning}): {last}")
        result_file = Path(xcom_dir) / "return.json"
        if not result_file.is_file():
            raise PodFailed(f"{spec['step']} exited 0 but wrote no {result_file.name}")
        return json.loads(result_file.read_text(encoding="utf-8"))


# -- kubernetes runtime ----------------------------------------------------------------------------------
def pod_settings(spec: dict[str, Any], settings: DagSettings) -> dict[str, Any]:
    """KubernetesPodOperator attributes for a spec, from its model profile."""
    from airflow.providers.cncf.kubernetes.secret import Secret
    from kubernetes.client import models as k8s

    profile = get_profile(settings.profiles_path, spec["profile"]).with_image_tag(settings.trainer_image_tag)
    limits = dict(profile.limits)
    if profile.gpu:
        limits["nvidia.com/gpu"] = str(profile.gpu)
    values: dict[str, Any] = {
        "image": profile.image,
        "cmds": list(spec["cmds"]),
        "arguments": list(spec["arguments"]),
        "env_vars": [k8s.V1EnvVar(name=k, value=v) for k, v in sorted(spec["env"].items())],
        "container_resources": k8s.V1ResourceRequirements(requests=dict(profile.requests), limits=limits),
        "node_selector": dict(profile.node_selector),
        "tolerations": [
            k8s.V1Toleration(key=t.key, operator=t.operator, value=t.value, effect=t.effect)
            for t in profile.tolerations
        ],
        "secrets": [Secret("env", None, settings.trainer_secret)],
        "name": spec["name"].lower().replace("_", "-").replace(".", "-")[:50],
        "namespace": settings.namespace,
    }
    if not settings.pod_template_file:
        # The chart's pod template mounts /tmp; without it the pod gets its own writable /tmp.
        values["volumes"] = [k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource())]
        values["volume_mounts"] = [k8s.V1VolumeMount(name="tmp", mount_path="/tmp")]
    return values


def trainer_pod_operator(task_id: str, spec: Any, settings: DagSettings, **kwargs: Any):
    """A KubernetesPodOperator that takes its pod from `spec` (a PodSpec or an XComArg of one)."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    class TrainerPodOperator(KubernetesPodOperator):
        """KubernetesPodOperator whose image, argv, env, resources and placement come from a PodSpec."""

        template_fields = (*KubernetesPodOperator.template_fields, "spec")

        def __init__(self, *, spec: Any, dag_settings: DagSettings, **inner: Any) -> None:
            super().__init__(**inner)
            self.spec = spec
            self.dag_settings = dag_settings

        def apply_spec(self) -> None:
            for key, value in pod_settings(self.spec, self.dag_settings).items():
                setattr(self, key, value)

        def execute(self, context):  # type: ignore[override]
            self.apply_spec()
            return super().execute(context)

    return TrainerPodOperator(
        task_id=task_id,
        spec=spec,
        dag_settings=settings,
        namespace=settings.namespace,
        kubernetes_conn_id=settings.kubernetes_conn_id,
        pod_template_file=settings.pod_template_file,
        on_finish_action="delete_pod",
        do_xcom_push=True,
        get_logs=True,
        startup_timeout_seconds=600,
        active_deadline_seconds=settings.pod_timeout_seconds,
        labels={"app.kubernetes.io/part-of": "gitops-mlops", "app.kubernetes.io/component": "trainer"},
        **kwargs,
    )


def pod_task(task_id: str, spec: Any, settings: DagSettings, **kwargs: Any):
    """The pod task of the configured runtime; returns its XComArg (the trainer's result JSON)."""
    if settings.runtime == "kubernetes":
        return trainer_pod_operator(task_id, spec, settings, **kwargs).output

    from airflow.sdk import task

    @task(task_id=task_id, **kwargs)
    def local_pod(pod_spec: dict[str, Any]) -> dict[str, Any]:
        """Run the trainer as a subprocess with the pod's argv, env and result file."""
        return run_local(pod_spec, settings)

    return local_pod(spec)
