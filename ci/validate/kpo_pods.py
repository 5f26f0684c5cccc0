"""Every KubernetesPodOperator pod the DAGs create, built as the cluster gets it, for the pod checks.

From a render of the official Airflow chart: the executor's worker pod template (ConfigMap airflow-config)
gives the worker's env; its KPO_POD_TEMPLATE_FILE is followed through the worker's volume mounts to the
ConfigMap that holds the KPO pod template. Then, in a subprocess with exactly that env (Airflow reads its
configuration at import), the DAGs' own code plans the train and register pod of every training config in
trainer/configs/ (and of every model profile no config uses) and builds each with the provider's
`build_pod_request_obj` (template, profile, Secret, XCom sidecar). The pods come back as manifests, so the
schema, policy and pod-rule checks apply to them like to any rendered object.

`python -m ci.validate.kpo_pods OUT` is that subprocess: the template on stdin (JSON), the pods written
to OUT (JSON).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ci.validate.findings import Finding
from ci.validate.manifests import Manifest, parse_documents

EXECUTOR_CONFIGMAP = "airflow-config"
EXECUTOR_TEMPLATE_KEY = "pod_template_file.yaml"
TEMPLATE_ENV = "KPO_POD_TEMPLATE_FILE"
CHECK_RUN_ID = "manual__ci-pod-check"
CHECK_COMMIT = "0" * 40
CHECK_MLFLOW_RUN = "0" * 32


class WorkerError(ValueError):
    """The render does not give the workers what building a KPO pod needs."""


@dataclass(frozen=True)
class Worker:
    """What a KubernetesExecutor worker of one render sees: its plain env and the KPO pod template."""

    env: dict[str, str]
    template: str


def _executor_pod(manifests: list[Manifest]) -> dict:
    for m in manifests:
        doc = m.doc
        if doc.get("kind") == "ConfigMap" and doc["metadata"].get("name") == EXECUTOR_CONFIGMAP:
            text = (doc.get("data") or {}).get(EXECUTOR_TEMPLATE_KEY)
            if text:
                return parse_documents(text, EXECUTOR_TEMPLATE_KEY)[0].doc
    raise WorkerError(f"no ConfigMap {EXECUTOR_CONFIGMAP} with {EXECUTOR_TEMPLATE_KEY} (KubernetesExecutor)")


def _config_maps(manifests: list[Manifest]) -> dict[str, dict]:
    return {
        m.doc["metadata"]["name"]: m.doc.get("data") or {}
        for m in manifests
        if m.doc.get("kind") == "ConfigMap"
    }


def worker_of(manifests: list[Manifest]) -> Worker:
    """The worker's plain env and the KPO template it reads through its mounts (WorkerError if it cannot)."""
    pod = _executor_pod(manifests)["spec"]
    base = next((c for c in pod.get("containers") or [] if c.get("name") == "base"), None)
    if base is None:
        raise WorkerError("the executor's pod template has no 'base' container")
    env = {e["name"]: str(e["value"]) for e in base.get("env") or [] if "value" in e}
    path = env.get(TEMPLATE_ENV)
    if not path:
        raise WorkerError(f"the workers have no {TEMPLATE_ENV}: the trainer pods would get no pod template")
    file = PurePosixPath(path)
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    for mount in base.get("volumeMounts") or []:
        mount_path = PurePosixPath(mount["mountPath"])
        if mount.get("subPath"):
            key = mount["subPath"] if mount_path == file else None
        else:
            key = file.name if file.parent == mount_path else None
        source = (volumes.get(mount["name"]) or {}).get("configMap")
        if key and source:
            data = _config_maps(manifests).get(source["name"], {})
            if key not in data:
                raise WorkerError(f"{TEMPLATE_ENV}={path}: ConfigMap {source['name']} has no key {key}")
            return Worker(env=env, template=data[key])
    raise WorkerError(f"{TEMPLATE_ENV}={path} is not a file of a ConfigMap mounted in the worker pods")


def build_pods(worker: Worker, repo: Path) -> list[tuple[str, dict]]:
    """(label, pod) of every trainer pod, built by the DAGs' code in a subprocess with the worker's env."""
    with tempfile.TemporaryDirectory(prefix="kpo-pods-") as home:
        out = Path(home) / "pods.json"
        env = {
            **worker.env,
            "AIRFLOW_HOME": home,
            "HOME": home,
            "PATH": os.environ.get("PATH", os.defpath),
            "PYTHONPATH": os.pathsep.join([str(repo / "dags"), str(repo)]),
        }
        proc = subprocess.run(
            [sys.executable, "-m", "ci.validate.kpo_pods", str(out)],
            input=json.dumps({"template": worker.template}),
            env=env,
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            raise WorkerError(f"building the trainer pods failed: {last}")
        return [(item["label"], item["pod"]) for item in json.loads(out.read_text(encoding="utf-8"))]


def trainer_pod_manifests(
    manifests: list[Manifest], source: str, repo: Path
) -> tuple[list[Manifest], list[Finding]]:
    """The trainer pods of one Airflow render as manifests (`<source>#kpo/<label>`), or why there are none."""
    try:
        pods = build_pods(worker_of(manifests), repo)
    except WorkerError as error:
        return [], [Finding(source, "kpo-pods", str(error))]
    return [Manifest(f"{source}#kpo/{label}", pod) for label, pod in pods], []


# -- the subprocess -------------------------------------------------------------------------------------
def _check_configs(configs_dir: Path, profiles: list[str]) -> list[tuple[str, dict]]:
    """Every config in trainer/configs/, plus iris on each profile that no config uses."""
    from mlops_dags.conf import profile_name, resolve_config

    configs = [(p.stem, resolve_config(configs_dir, p.stem, {})) for p in sorted(configs_dir.glob("*.json"))]
    used = {profile_name(config) for _, config in configs}
    for profile in profiles:
        if profile not in used:
            configs.append((f"iris-on-{profile}", resolve_config(configs_dir, "iris", {"profile": profile})))
    return configs


def main(out: Path) -> int:
    """Build the pods with the env this process was started with; the template text comes on stdin."""
    template = json.loads(sys.stdin.read())["template"]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as file:
        file.write(template)
    os.environ[TEMPLATE_ENV] = file.name
    from kubernetes.client import ApiClient
    from mlops_dags.kpo import build_pod
    from mlops_dags.pods import plan_register_pod, plan_train_pod
    from mlops_dags.profiles import load_profiles
    from mlops_dags.settings import DagSettings

    settings = DagSettings()
    uri = settings.mlflow_tracking_uri
    tags = {"airflow_dag_id": "ml_train_register_and_reload", "quality_gate": "accuracy=0.9"}
    pods = []
    for label, config in _check_configs(settings.configs_dir, sorted(load_profiles(settings.profiles_path))):
        specs = {
            "train": plan_train_pod(settings, config, uri, CHECK_RUN_ID, CHECK_COMMIT),
            "register": plan_register_pod(
                settings, config, CHECK_MLFLOW_RUN, tags, uri, CHECK_RUN_ID, CHECK_COMMIT
            ),
        }
        for task, spec in specs.items():
            pod = ApiClient().sanitize_for_serialization(build_pod(spec, settings))
            pods.append({"label": f"{task}/{label}", "pod": pod})
    os.unlink(file.name)
    out.write_text(json.dumps(pods), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
