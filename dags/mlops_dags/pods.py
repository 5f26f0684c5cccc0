"""Pod tasks: a plan task returns a PodSpec (JSON: profile, command, arguments, env); the pod task runs it.

The PodSpec carries the whole resolved profile (`profile_spec`: image, resources, placement): the pod task
builds its pod from the plan alone, never from the profiles file again. git-sync moves the checkout between
the tasks of a run, so a second read could mix two commits' profiles in one pod.

Both runtimes run the same pod, built by `mlops_dags.kpo.build_pod` from the KubernetesPodOperator pod
template, the model profile and the XCom sidecar: `kubernetes` creates it (KubernetesPodOperator,
deferrable), `local` runs its base container as a subprocess under the pod's contract
(`mlops_dags.local_pod`). Either way the trainer's result JSON at the sidecar's path is the task's XCom.
"""

import json
from typing import Any

from mlops_dags.conf import profile_name
from mlops_dags.profiles import Profile, get_profile
from mlops_dags.settings import DagSettings

# Writes the training config from the env to a temporary file, then runs the profile's command.
TRAIN_SCRIPT = 'cfg="$(mktemp)" && printf "%s" "$TRAINER_CONFIG_JSON" > "$cfg" && exec "$@" --config "$cfg"'
# Where the KubernetesPodOperator's XCom sidecar reads return.json (PodDefaults.XCOM_MOUNT_PATH).
XCOM_DIR = "/airflow/xcom"


def pod_env(
    settings: DagSettings, mlflow_uri: str, run_id: str, git_commit: str | None, dag_id: str | None = None
) -> dict[str, str]:
    """Env every trainer pod gets from the DAG: from settings and the run, never the worker's environment.

    `mlflow_uri` is the URL the DAG itself uses (`connections.mlflow_uri`); credentials come from the
    trainer Secret. AIRFLOW_DAG_RUN_ID and AIRFLOW_DAG_ID (and AIRFLOW_TASK_ID, set per step by the spec)
    are the ids the trainer's JSON log lines carry, so Loki finds a run's lines by its run id."""
    env = {"MLFLOW_TRACKING_URI": mlflow_uri, "AIRFLOW_DAG_RUN_ID": run_id, "TRAINER_XCOM_DIR": XCOM_DIR}
    if dag_id:
        env["AIRFLOW_DAG_ID"] = dag_id
    if settings.mlflow_s3_endpoint_url:
        env["MLFLOW_S3_ENDPOINT_URL"] = settings.mlflow_s3_endpoint_url
    commit = git_commit or settings.git_commit
    if commit:
        env["GIT_COMMIT"] = commit
    return env


def profile_spec(profile: Profile) -> dict[str, Any]:
    """The resolved profile as JSON, for the PodSpec (`kpo.pod_settings` reads it back)."""
    return profile.model_dump(mode="json")


def train_spec(profile_name: str, profile: Profile, config: dict[str, Any], env: dict[str, str]) -> dict:
    """PodSpec of `python -m trainer train` for a config passed through TRAINER_CONFIG_JSON."""
    return {
        "step": "train",
        "profile": profile_name,
        "profile_spec": profile_spec(profile),
        "cmds": ["sh", "-c", TRAIN_SCRIPT, "trainer"],
        "arguments": [*profile.command, "train"],
        "env": {
            **profile.env,
            **env,
            "AIRFLOW_TASK_ID": "train",
            "TRAINER_CONFIG_JSON": json.dumps(config, sort_keys=True),
        },
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
        "profile_spec": profile_spec(profile),
        "cmds": profile.command[:1],
        "arguments": arguments,
        "env": {**profile.env, **env, "AIRFLOW_TASK_ID": "register"},
        "name": f"register-{name}",
    }


def planned_profile(settings: DagSettings, name: str) -> Profile:
    """The profile as the checkout has it now, with the image tag the workers set (TRAINER_IMAGE_TAG)."""
    return get_profile(settings.profiles_path, name).with_image_tag(settings.trainer_image_tag)


def plan_train_pod(
    settings: DagSettings,
    config: dict[str, Any],
    mlflow_uri: str,
    run_id: str,
    git_commit: str | None,
    dag_id: str | None = None,
) -> dict:
    """The train task's PodSpec for a resolved config, with its profile from the checkout's file."""
    name = profile_name(config)
    env = pod_env(settings, mlflow_uri, run_id, git_commit, dag_id)
    return train_spec(name, planned_profile(settings, name), config, env)


def plan_register_pod(
    settings: DagSettings,
    config: dict[str, Any],
    trained_run_id: str,
    tags: dict[str, str],
    mlflow_uri: str,
    run_id: str,
    git_commit: str | None,
    dag_id: str | None = None,
) -> dict:
    """The register task's PodSpec: registers the trained MLflow run as a version of the config's model."""
    name = profile_name(config)
    env = pod_env(settings, mlflow_uri, run_id, git_commit, dag_id)
    profile = planned_profile(settings, name)
    return register_spec(name, profile, trained_run_id, config["model_name"], tags, env)


def pod_task(task_id: str, spec: Any, settings: DagSettings, **kwargs: Any):
    """The pod task of the configured runtime; returns its XComArg (the trainer's result JSON)."""
    if settings.runtime == "kubernetes":
        from mlops_dags.kpo import trainer_pod_operator

        return trainer_pod_operator(task_id, spec, settings, **kwargs).output

    from airflow.sdk import task

    @task(task_id=task_id, **kwargs)
    def local_pod(pod_spec: dict[str, Any]) -> dict[str, Any]:
        """Run the pod's base container as a subprocess under the pod's contract (env, user, result)."""
        from mlops_dags.local_pod import run_local

        return run_local(pod_spec, settings)

    return local_pod(spec)
