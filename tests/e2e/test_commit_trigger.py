"""The commit trigger end to end, as the cluster's PostSync hook runs it (`python -m commit_trigger` in a
subprocess, the CI/API user's password from the environment): one run per affected config, a second call
starts none, and the run serves the new version with the commit recorded in MLflow."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from ops.local.airflow import API_USER
from tests.e2e.conftest import Loop
from tests.support.stack import REPO_ROOT

# Module fixtures run several DAG runs on a real scheduler: more than the default per-test timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
TRAIN = "ml_train_register_and_reload"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A repository with the project's rules and configs: a first commit, then one that changes the iris
    and wine configs and a document (only iris trains on commit)."""
    path = tmp_path_factory.mktemp("commit-repo")
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "ci@example.invalid")
    git(path, "config", "user.name", "ci")
    (path / "trainer").mkdir()
    shutil.copy(REPO_ROOT / "trainer" / "train-on-commit.yaml", path / "trainer")
    shutil.copytree(REPO_ROOT / "trainer" / "configs", path / "trainer" / "configs")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "base")
    base = git(path, "rev-parse", "HEAD")
    for name in ("iris.json", "wine.json"):
        file = path / "trainer" / "configs" / name
        config = json.loads(file.read_text())
        config["tags"] = {**config.get("tags", {}), "changed_by": "e2e"}
        file.write_text(json.dumps(config, indent=2))
    (path / "docs").mkdir()
    (path / "docs" / "notes.md").write_text("notes\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "tune iris and wine")
    return path, base, git(path, "rev-parse", "HEAD")


def trigger(loop: Loop, *args: str) -> tuple[int, dict[str, Any] | None, str]:
    env = {
        **os.environ,
        "AIRFLOW_URL": loop.running.settings.airflow_url,
        "AIRFLOW_API_USER": API_USER,
        "AIRFLOW_API_PASSWORD": loop.running.stack.env_values()["AIRFLOW_API_PASSWORD"],
        "SLACK_WEBHOOK_URL": loop.running.settings.slack_webhook_url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "commit_trigger", *args, "--json"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = done.stdout.splitlines()
    report = json.loads(lines[-1]) if done.returncode == 0 and lines else None
    return done.returncode, report, done.stdout + done.stderr


@pytest.fixture(scope="module")
def triggered(loop: Loop, repo: tuple[Path, str, str]) -> dict[str, Any]:
    path, base, sha = repo
    before = loop.alias_version("iris", "challenger")
    first = trigger(loop, "--sha", sha, "--repo", str(path), "--base", base)
    second = trigger(loop, "--sha", sha, "--repo", str(path))
    runs = {o["run_id"]: loop.result(TRAIN, o["run_id"]) for o in (first[1] or {}).get("outcomes", [])}
    return {"sha": sha, "before": before, "first": first, "second": second, "runs": runs}


def test_one_run_per_affected_config_and_a_repeat_starts_none(loop: Loop, triggered: dict[str, Any]) -> None:
    sha = triggered["sha"]
    code, report, output = triggered["first"]
    assert code == 0, output
    assert report["started"] == [f"commit-{sha}-iris"]  # wine.json changed too, but wine is not in the rules
    assert report["change"]["paths"] == [
        "docs/notes.md",
        "trainer/configs/iris.json",
        "trainer/configs/wine.json",
    ]
    code, again, output = triggered["second"]
    assert code == 0, output
    assert again["started"] == [] and [o["run_id"] for o in again["outcomes"]] == [f"commit-{sha}-iris"]
    assert "iris: already triggered" in output
    commit_runs = loop.airflow.runs(TRAIN, run_id_prefix=f"commit-{sha}")
    assert [r.run_id for r in commit_runs] == [f"commit-{sha}-iris"]
    assert commit_runs[0].conf["git_commit"] == sha and commit_runs[0].conf["config"] == "iris"


def test_the_commit_run_serves_the_new_version(loop: Loop, triggered: dict[str, Any]) -> None:
    sha = triggered["sha"]
    run = triggered["runs"][f"commit-{sha}-iris"]
    assert run.state == "success"
    version = run.value("summary")["version"]
    assert run.value("summary")["before_version"] == triggered["before"]
    assert loop.alias_version("iris", "challenger") == version
    status = loop.status()
    assert all(r["versions"]["challenger"] == version for r in status["replicas"] if r["alive"])
    assert loop.predict("challenger")["version"] == version
    registered = MlflowClient(loop.running.tracking_uri).get_model_version("iris", version)
    assert registered.tags["git_commit"] == sha


def test_slack_says_which_commit_started_which_run(loop: Loop, triggered: dict[str, Any]) -> None:
    sha = triggered["sha"]
    texts = [m.get("text", "") for m in loop.slack.messages() if sha[:12] in m.get("text", "")]
    assert any(
        t.startswith(":arrow_forward: commit " + sha[:12]) and f"commit-{sha}-iris" in t for t in texts
    )
    assert any(t.startswith(":repeat: commit " + sha[:12]) for t in texts)
