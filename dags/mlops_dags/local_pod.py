"""The local runtime: the pod `kpo.build_pod` builds, run as a subprocess that keeps the pod's contract.

What the subprocess gets, and nothing else:
- argv: the base container's command + args;
- env: the base container's env and envFrom as Kubernetes would resolve them (the trainer Secret's keys,
  TRAINER_AWS_SECRET_KEYS, are taken from the worker's environment, where the chart injects the same
  Secret), plus PATH (the local python first), HOME (a fresh empty folder, as the image's HOME=/tmp
  is a fresh emptyDir) and TMPDIR when the pod mounts an emptyDir at /tmp;
- a fresh empty working directory;
- the pod's user: when this process is root it drops to the pod's runAsUser/runAsGroup (the trainer image
  runs as 10001), so a file the trainer cannot write in the cluster fails here too;
- every emptyDir mount of the base container as a fresh folder; env values that name a mount path are
  pointed at that folder (TRAINER_XCOM_DIR=/airflow/xcom → <pod>/volumes/xcom).

The result is read where the XCom sidecar reads it: return.json in the folder of the sidecar's mount.
"""

import json
import logging
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes.client import models as k8s

from mlops_dags.kpo import SIDECAR_NAME, build_pod, chart_pod_template
from mlops_dags.settings import DagSettings

EXIT_CODES = {2: "bad input", 3: "MLflow unreachable", 4: "version not READY before the timeout"}
BASE_CONTAINER = "base"


class PodFailed(RuntimeError):
    """The pod cannot run locally, its command exited non-zero, or it wrote no result."""


@dataclass(frozen=True)
class LocalPod:
    """What running one pod's base container locally needs, read from the V1Pod."""

    name: str
    argv: list[str]
    env: dict[str, str]
    mounts: dict[str, str]  # mount path → emptyDir volume name
    result_mount: str  # the sidecar's mount path (return.json lives there)
    user: int | None
    group: int | None

    @classmethod
    def from_pod(cls, pod: k8s.V1Pod, secrets: Callable[[str], dict[str, str]]) -> "LocalPod":
        """Read argv, env, emptyDir mounts, the sidecar's path and the user from a V1Pod."""
        containers = {c.name: c for c in pod.spec.containers}
        base, sidecar = containers.get(BASE_CONTAINER), containers.get(SIDECAR_NAME)
        if base is None or sidecar is None or not sidecar.volume_mounts:
            raise PodFailed(f"pod {pod.metadata.name} needs a base container and an XCom sidecar")
        argv = [*(base.command or []), *(base.args or [])]
        if not argv:
            raise PodFailed(f"pod {pod.metadata.name}: the base container has no command (image entrypoint)")
        empty_dirs = {v.name for v in pod.spec.volumes or [] if v.empty_dir is not None}
        mounts = {m.mount_path: m.name for m in base.volume_mounts or [] if m.name in empty_dirs}
        pod_sc, container_sc = pod.spec.security_context, base.security_context
        return cls(
            name=pod.metadata.name,
            argv=argv,
            env=_resolve_env(base, secrets),
            mounts=mounts,
            result_mount=sidecar.volume_mounts[0].mount_path,
            user=_first(container_sc, pod_sc, "run_as_user"),
            group=_first(container_sc, pod_sc, "run_as_group"),
        )


def _first(container_sc: Any, pod_sc: Any, field: str) -> int | None:
    for context in (container_sc, pod_sc):
        value = getattr(context, field, None) if context is not None else None
        if value is not None:
            return int(value)
    return None


def _resolve_env(container: k8s.V1Container, secrets: Callable[[str], dict[str, str]]) -> dict[str, str]:
    """env after envFrom, as the kubelet builds it (later entries win; env wins over envFrom)."""
    env: dict[str, str] = {}
    for source in container.env_from or []:
        if source.secret_ref is None:
            raise PodFailed("the local runtime resolves envFrom secretRef only")
        env.update({f"{source.prefix or ''}{k}": v for k, v in secrets(source.secret_ref.name).items()})
    for var in container.env or []:
        if var.value_from is None:
            env[var.name] = var.value or ""
        elif var.value_from.secret_key_ref is not None:
            ref = var.value_from.secret_key_ref
            values = secrets(ref.name)
            if ref.key not in values:
                raise PodFailed(f"env {var.name}: Secret {ref.name} has no key {ref.key} locally")
            env[var.name] = values[ref.key]
        else:
            raise PodFailed(f"env {var.name}: the local runtime resolves value and secretKeyRef only")
    return env


def worker_secrets(settings: DagSettings) -> Callable[[str], dict[str, str]]:
    """Secrets of the local runtime: the trainer Secret's keys, taken from the worker's environment."""

    def lookup(name: str) -> dict[str, str]:
        if name != settings.trainer_secret:
            raise PodFailed(f"the local runtime has no Secret {name} (only {settings.trainer_secret})")
        return {k: os.environ[k] for k in settings.trainer_secret_keys if k in os.environ}

    return lookup


def _mapped(value: str, folders: dict[str, Path]) -> str:
    """`value` with a leading mount path replaced by its local folder."""
    for mount, folder in folders.items():
        if value == mount or value.startswith(mount.rstrip("/") + "/"):
            return str(folder) + value[len(mount.rstrip("/")) :]
    return value


def prepare(pod: LocalPod, root: Path, python: str) -> tuple[dict[str, str], Path, dict[str, Path]]:
    """Create the pod's fresh folders; return its env, working directory and mount folders."""
    folders = {mount: root / "volumes" / name for mount, name in pod.mounts.items()}
    home, work = root / "home", root / "work"
    for folder in (home, work, *folders.values()):
        folder.mkdir(parents=True, exist_ok=True)
    env = {key: _mapped(value, folders) for key, value in pod.env.items()}
    env["PATH"] = os.pathsep.join([str(Path(python).parent), os.environ.get("PATH", os.defpath)])
    env["HOME"] = str(home)
    if "/tmp" in folders:
        env["TMPDIR"] = str(folders["/tmp"])
    if os.geteuid() == 0 and pod.user is not None:
        for path in [root, *root.rglob("*")]:
            os.chown(path, pod.user, pod.group if pod.group is not None else pod.user)
    return env, work, folders


def _as_pod_user(pod: LocalPod) -> dict[str, Any]:
    """subprocess arguments that drop root to the pod's user (no-op when not root or no user is set)."""
    if os.geteuid() != 0 or pod.user is None:
        return {}
    return {"user": pod.user, "group": pod.group if pod.group is not None else pod.user, "extra_groups": []}


def _run(pod: LocalPod, env: dict[str, str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    try:
        process = subprocess.Popen(
            pod.argv,
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            **_as_pod_user(pod),
        )
    except OSError as error:
        who = f"uid {pod.user} (the pod's runAsUser)" if _as_pod_user(pod) else "this user"
        raise PodFailed(
            f"cannot start {pod.argv[0]} as {who}: {error}; the interpreter on PATH ({env['PATH']}) must be "
            "readable and executable by that user"
        ) from None
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise PodFailed(f"pod {pod.name} did not finish within {timeout:.0f}s (MLOPS_POD_TIMEOUT)") from None
    return subprocess.CompletedProcess(pod.argv, process.returncode, stdout, stderr)


def run_pod(pod: LocalPod, settings: DagSettings, log: Callable[[str], None]) -> dict[str, Any]:
    """Run the pod's base container; its return.json (at the sidecar's mount) is the result."""
    python = settings.local_interpreter
    with tempfile.TemporaryDirectory(prefix=f"mlops-pod-{pod.name[:40]}-") as tmp:
        env, cwd, folders = prepare(pod, Path(tmp), python)
        if pod.result_mount not in folders:
            raise PodFailed(f"the XCom sidecar's path {pod.result_mount} is not an emptyDir of the pod")
        shown = pod.argv[:1] + pod.argv[4:] if pod.argv[0] == "sh" else pod.argv
        uid = pod.user if _as_pod_user(pod) else os.geteuid()
        log(f"local pod {pod.name} (uid {uid}, python {python}): {' '.join(shown)}")
        completed = _run(pod, env, cwd, settings.pod_timeout_seconds)
        for line in (completed.stdout + completed.stderr).splitlines()[-40:]:
            log(f"  {line}")
        if completed.returncode != 0:
            meaning = EXIT_CODES.get(completed.returncode, "error")
            last = (completed.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise PodFailed(f"{pod.name} exited {completed.returncode} ({meaning}): {last}")
        result_file = folders[pod.result_mount] / "return.json"
        if not result_file.is_file():
            raise PodFailed(f"{pod.name} exited 0 but wrote no {pod.result_mount}/return.json")
        return json.loads(result_file.read_text(encoding="utf-8"))


def run_local(spec: dict[str, Any], settings: DagSettings, log: Callable[[str], None] | None = None) -> dict:
    """Build the spec's pod as the cluster would get it and run it locally; return its result JSON.

    Without KPO_POD_TEMPLATE_FILE (a local Airflow) the pod is built on the template the chart mounts in
    the cluster's workers, read from the checkout's Airflow values."""
    log = log or logging.getLogger(__name__).info
    with tempfile.TemporaryDirectory(prefix="mlops-kpo-template-") as folder:
        template = None if settings.pod_template_file else chart_pod_template()
        if template is not None:
            path = Path(folder) / "kpo_pod_template.yaml"
            path.write_text(template, encoding="utf-8")
            settings = settings.model_copy(update={"pod_template_file": str(path)})
        pod = LocalPod.from_pod(build_pod(spec, settings), worker_secrets(settings))
    return run_pod(pod, settings, log)
