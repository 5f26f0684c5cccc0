"""The local runtime keeps the pod's contract: it runs the pod the KubernetesPodOperator would create (from
the rendered chart's template, with the XCom sidecar), with exactly the pod's env plus PATH/HOME/TMPDIR, a
fresh HOME and working directory, the pod's user when started as root, and the result at the sidecar's path.

Regression: the local runtime inherited the whole worker environment, ran in the repository as root, never
merged the pod template or the sidecar, and pointed TRAINER_XCOM_DIR at a folder of its own."""

import json
import os
from pathlib import Path

import pytest

from tests.unit.dags.test_pods import settings_for

# Reports what the process sees into the result file, as the trainer writes its result.
PROBE = """
import json, os, pathlib
out = pathlib.Path(os.environ["TRAINER_XCOM_DIR"]) / "return.json"
home = pathlib.Path(os.environ["HOME"])
out.write_text(json.dumps({
    "env": dict(os.environ), "cwd": os.getcwd(), "cwd_entries": os.listdir("."),
    "home_entries": os.listdir(home), "uid": os.getuid(), "gid": os.getgid(),
}))
"""


def probe_spec(settings, step: str = "train", script: str = PROBE) -> dict:
    from mlops_dags.conf import resolve_config
    from mlops_dags.pods import plan_train_pod

    config = resolve_config(settings.configs_dir, "iris", {})
    spec = plan_train_pod(settings, config, "http://mlflow.example:5000", "manual__local", None)
    return {**spec, "step": step, "cmds": ["python", "-c", script], "arguments": []}


@pytest.fixture
def local_settings(rendered_workers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SOMETHING_ONLY_THE_WORKER_HAS", "leak")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIALOCAL")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    return settings_for(rendered_workers["dev"], tmp_path, MLOPS_RUNTIME="local")


def test_the_subprocess_gets_exactly_the_pods_env_and_fresh_folders(local_settings) -> None:
    from mlops_dags.kpo import build_pod
    from mlops_dags.local_pod import run_local

    spec = probe_spec(local_settings)
    seen = run_local(spec, local_settings, log=lambda _line: None)
    pod_env = {e.name: e.value for e in build_pod(spec, local_settings).spec.containers[0].env}
    env = seen["env"]
    # The trainer Secret (envFrom) resolves to its keys present in the worker env; nothing else leaks in.
    expected = set(pod_env) | {"AWS_ACCESS_KEY_ID", "PATH", "HOME", "TMPDIR"}
    assert set(env) - {"LC_CTYPE"} == expected
    assert env["AWS_ACCESS_KEY_ID"] == "AKIALOCAL"
    assert "SOMETHING_ONLY_THE_WORKER_HAS" not in env
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.example:5000"
    assert json.loads(env["TRAINER_CONFIG_JSON"])["model_name"] == "iris"
    assert env["PATH"].split(os.pathsep)[0] == str(Path(local_settings.local_interpreter).parent)
    # Fresh, empty HOME and working directory, neither of them the repository.
    assert seen["home_entries"] == [] and seen["cwd_entries"] == []
    assert not Path(seen["cwd"]).is_relative_to(Path(__file__).resolve().parents[3])
    # The sidecar's mount (/airflow/xcom) and the pod's /tmp are private folders of this pod.
    assert env["TRAINER_XCOM_DIR"].endswith("/volumes/xcom") and env["TMPDIR"].endswith("/volumes/tmp")
    assert not Path(env["HOME"]).exists()  # removed with the pod


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to the pod's user needs root")
def test_as_root_it_runs_as_the_pods_user(local_settings) -> None:
    from mlops_dags.local_pod import run_local

    seen = run_local(probe_spec(local_settings), local_settings, log=lambda _line: None)
    assert (seen["uid"], seen["gid"]) == (10001, 10001)


def test_no_result_at_the_sidecars_path_fails_the_task(local_settings) -> None:
    from mlops_dags.local_pod import PodFailed, run_local

    script = "import pathlib; pathlib.Path('/tmp/elsewhere-return.json').write_text('{}')"
    with pytest.raises(PodFailed, match=r"exited 0 but wrote no /airflow/xcom/return.json"):
        run_local(probe_spec(local_settings, script=script), local_settings, log=lambda _line: None)


def test_a_failing_command_names_the_exit_code(local_settings) -> None:
    from mlops_dags.local_pod import PodFailed, run_local

    script = "import sys; print('error: bad config', file=sys.stderr); sys.exit(2)"
    with pytest.raises(PodFailed, match=r"exited 2 \(bad input\): error: bad config"):
        run_local(probe_spec(local_settings, script=script), local_settings, log=lambda _line: None)


def test_a_secret_the_local_runtime_does_not_have_is_an_error(local_settings) -> None:
    from mlops_dags.kpo import build_pod
    from mlops_dags.local_pod import LocalPod, PodFailed, worker_secrets

    pod = build_pod(probe_spec(local_settings), local_settings)
    other = local_settings.model_copy(update={"trainer_secret": "other-secret"})
    with pytest.raises(PodFailed, match=r"the local runtime has no Secret trainer-aws \(only other-secret\)"):
        LocalPod.from_pod(pod, worker_secrets(other))


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to the pod's user needs root")
def test_without_a_template_file_the_local_runtime_uses_the_charts_template(tmp_path, monkeypatch) -> None:
    """A local Airflow sets no KPO_POD_TEMPLATE_FILE: the pod is still the cluster's (user, /tmp)."""
    from mlops_dags.local_pod import run_local
    from mlops_dags.settings import DagSettings

    monkeypatch.delenv("KPO_POD_TEMPLATE_FILE", raising=False)
    settings = DagSettings(MLOPS_RUNTIME="local")
    assert settings.pod_template_file is None
    seen = run_local(probe_spec(settings), settings, log=lambda _line: None)
    assert (seen["uid"], seen["gid"]) == (10001, 10001)
    assert seen["env"]["TMPDIR"].endswith("/volumes/tmp")


def test_the_template_read_from_the_values_is_the_one_the_chart_renders(rendered_workers) -> None:
    from mlops_dags.kpo import chart_pod_template

    assert chart_pod_template() == rendered_workers["dev"].template == rendered_workers["prod"].template
