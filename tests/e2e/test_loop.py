"""The whole loop against the real local stack: runs triggered through Airflow's REST API (by the commit
trigger, as the cluster's PostSync hook runs it, and directly) and executed by Airflow's scheduler
(LocalExecutor, MLOPS_RUNTIME=local).

Batch 1: the first commit trains every config once (champion), a second commit trains the config it
changed (challenger under the canary), repeated triggers start nothing; a failed quality gate, bad conf.
Batch 2: a broken version registered outside Airflow (the gateway refuses it) and a verify that fails:
both trigger rollback_model as a separate DAG run that restores before_version; rollback_model run by
hand is idempotent."""

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from ops.local.faults import register_unscorable
from tests.e2e.conftest import ROLLBACK_TRIGGER, Loop, RunResult
from tests.support.stack import REPO_ROOT

# Module fixtures run several DAG runs on a real scheduler: more than the default per-test timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
TRAIN = "ml_train_register_and_reload"


def texts_for(loop: Loop, run: RunResult, wait_for: str | None = None, timeout: float = 120.0) -> list[str]:
    """Slack texts that name this DAG run; with `wait_for`, wait until one starts with it (DAG-level
    callbacks run in the DAG processor after the run ended, so their message can come later)."""
    deadline = time.monotonic() + timeout
    while True:
        texts = [m.get("text", "") for m in loop.slack.messages() if run.run_id in m.get("text", "")]
        if wait_for is None or any(t.startswith(wait_for) for t in texts) or time.monotonic() > deadline:
            return texts
        time.sleep(1)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def make_repo(path: Path) -> str:
    """A repository with the project's rules and configs; its first commit."""
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "ci@example.invalid")
    git(path, "config", "user.name", "ci")
    (path / "trainer").mkdir()
    shutil.copy(REPO_ROOT / "trainer" / "train-on-commit.yaml", path / "trainer")
    shutil.copytree(REPO_ROOT / "trainer" / "configs", path / "trainer" / "configs")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "first")
    return git(path, "rev-parse", "HEAD")


def commit_changes(path: Path) -> str:
    """A commit that changes the iris and wine configs and a document (only iris trains on commit)."""
    for name in ("iris.json", "wine.json"):
        file = path / "trainer" / "configs" / name
        config = json.loads(file.read_text())
        config["tags"] = {**config.get("tags", {}), "changed_by": "e2e"}
        file.write_text(json.dumps(config, indent=2))
    (path / "docs").mkdir()
    (path / "docs" / "notes.md").write_text("notes\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "tune iris and wine")
    return git(path, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def commits(loop: Loop, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    repo = tmp_path_factory.mktemp("commit-repo")
    first = make_repo(repo)
    out: dict[str, Any] = {"first_sha": first}
    out["first"] = loop.commit_trigger("--sha", first, "--repo", str(repo))
    out["first_again"] = loop.commit_trigger("--sha", first, "--repo", str(repo))
    out["champion"] = loop.result(TRAIN, f"commit-{first}-iris")
    second = commit_changes(repo)
    out["second_sha"] = second
    out["second"] = loop.commit_trigger("--sha", second, "--repo", str(repo))
    out["second_again"] = loop.commit_trigger("--sha", second, "--repo", str(repo))
    out["challenger"] = loop.result(TRAIN, f"commit-{second}-iris")
    return out


@pytest.fixture(scope="module")
def batch1(loop: Loop, commits: dict[str, Any]) -> dict[str, Any]:
    gate = loop.run(TRAIN, {"alias": "challenger", "quality_threshold": 0.999}, "gate")
    bad_config = loop.run(TRAIN, {"config": "nope"}, "bad-config")
    bad_strategy = loop.run(TRAIN, {"strategy": "ab"}, "bad-strategy")
    return {
        "champion": commits["champion"],
        "challenger": commits["challenger"],
        "gate": gate,
        "bad_config": bad_config,
        "bad_strategy": bad_strategy,
        "after": {a: loop.alias_version("iris", a) for a in ("champion", "challenger")},
    }


def test_the_first_commit_trains_every_config_once_as_champion(loop: Loop, commits: dict[str, Any]) -> None:
    sha = commits["first_sha"]
    code, report, output = commits["first"]
    assert code == 0, output
    assert report["change"]["first"] is True and report["started"] == [f"commit-{sha}-iris"]
    code, again, output = commits["first_again"]
    assert code == 0 and again["started"] == [], output
    run = commits["champion"]
    assert run.state == "success"
    assert run.run.conf == {"alias": "champion", "strategy": "canary", "config": "iris", "git_commit": sha}
    version = run.value("summary")["version"]
    assert (
        MlflowClient(loop.running.tracking_uri).get_model_version("iris", version).tags["git_commit"] == sha
    )


def test_a_commit_trains_one_run_per_affected_config_and_a_repeat_starts_none(
    loop: Loop, commits: dict[str, Any]
) -> None:
    first, sha = commits["first_sha"], commits["second_sha"]
    code, report, output = commits["second"]
    assert code == 0, output
    # The base is the last commit that trained, found in Airflow; wine.json changed too, but wine is
    # not in the rules.
    assert report["change"]["base"] == first
    assert report["change"]["paths"] == [
        "docs/notes.md",
        "trainer/configs/iris.json",
        "trainer/configs/wine.json",
    ]
    assert report["started"] == [f"commit-{sha}-iris"]
    code, again, output = commits["second_again"]
    assert code == 0, output
    assert again["started"] == [] and [o["run_id"] for o in again["outcomes"]] == [f"commit-{sha}-iris"]
    assert "iris: already triggered" in output
    assert [r.run_id for r in loop.airflow.runs(TRAIN, run_id_prefix=f"commit-{sha}")] == [
        f"commit-{sha}-iris"
    ]
    assert commits["challenger"].run.conf["alias"] == "challenger"
    texts = [m.get("text", "") for m in loop.slack.messages() if sha[:12] in m.get("text", "")]
    assert any(
        t.startswith(":arrow_forward: commit " + sha[:12]) and f"commit-{sha}-iris" in t for t in texts
    )
    assert any(t.startswith(":repeat: commit " + sha[:12]) for t in texts)


def test_success_path_serves_the_new_versions(loop: Loop, batch1: dict[str, Any]) -> None:
    champion, challenger = batch1["champion"], batch1["challenger"]
    assert champion.state == "success" and challenger.state == "success"
    v1, v2 = champion.value("summary")["version"], challenger.value("summary")["version"]
    assert int(v2) == int(v1) + 1
    assert challenger.value("summary")["before_version"] is None
    status = loop.status()
    assert status["aliases"] == {"champion": v1, "challenger": v2}
    assert all(r["versions"] == {"champion": v1, "challenger": v2} for r in status["replicas"] if r["alive"])
    assert status["canary"]["version"] == v2 and status["canary"]["status"] in ("running", "promoted")
    assert loop.predict("champion")["version"] == v1
    assert loop.predict("challenger")["version"] == v2
    assert challenger.task_state(ROLLBACK_TRIGGER) == "skipped"
    assert loop.rollback_of(challenger) is None
    for run, version, alias in ((champion, v1, "champion"), (challenger, v2, "challenger")):
        texts = texts_for(loop, run, wait_for=":white_check_mark: DAG ml_train_register_and_reload")
        assert any(t.startswith(f":rocket: iris v{version} serves on alias {alias}") for t in texts), texts
        assert any("accuracy=" in t for t in texts)
        assert any(t.startswith(":white_check_mark: DAG ml_train_register_and_reload") for t in texts), texts


def test_failed_quality_gate_moves_nothing(loop: Loop, batch1: dict[str, Any]) -> None:
    gate = batch1["gate"]
    assert gate.state == "success"
    assert gate.task_state("quality_gate") == "success" and not gate.value("quality_gate")
    for task in ("register", "wait_ready", "set_alias", "reload", "summary", ROLLBACK_TRIGGER):
        assert gate.task_state(task) == "skipped", task
    v2 = batch1["challenger"].value("summary")["version"]
    assert batch1["after"]["challenger"] == v2
    texts = texts_for(loop, gate)
    assert any(
        t.startswith(":no_entry: quality gate rejected iris") and "threshold 0.999" in t for t in texts
    )
    assert not any(t.startswith(":rocket:") for t in texts)


def test_bad_conf_fails_the_first_task_with_its_message(loop: Loop, batch1: dict[str, Any]) -> None:
    for key, needle in (
        ("bad_config", "config: no config 'nope'"),
        ("bad_strategy", "strategy: the gateway"),
    ):
        run = batch1[key]
        assert run.state == "failed"
        assert run.task_state("validate_conf") == "failed"
        assert run.task_state("train") == "upstream_failed"
        assert run.task_state(ROLLBACK_TRIGGER) == "skipped"
        texts = texts_for(loop, run, wait_for=":x: DAG ml_train_register_and_reload")
        assert any("validate_conf failed: invalid conf: " + needle in t for t in texts), texts
        assert any(t.startswith(":x: DAG ml_train_register_and_reload") for t in texts), texts


@pytest.fixture(scope="module")
def batch2(loop: Loop, batch1: dict[str, Any]) -> dict[str, Any]:
    # A version registered outside Airflow that cannot score its own input example: the gateway refuses it.
    broken = register_unscorable(loop.running.tracking_uri, "iris", experiment="e2e-faults")
    sensor = loop.run("register_sensor_check", {"alias": "challenger"}, "sensor")
    sensor_rollback = loop.rollback_of(sensor)
    verify_conf = {"alias": "challenger", "min_replicas": 2, "verify_timeout_seconds": 3}
    verify_fails = loop.run(TRAIN, verify_conf, "verify-fails")
    verify_rollback = loop.rollback_of(verify_fails)
    v2 = batch1["challenger"].value("summary")["version"]
    by_hand = loop.run(
        "rollback_model", {"model": "iris", "alias": "challenger", "before_version": v2}, "hand"
    )
    return {
        "broken": broken,
        "sensor": sensor,
        "sensor_rollback": sensor_rollback,
        "verify_fails": verify_fails,
        "verify_rollback": verify_rollback,
        "by_hand": by_hand,
    }


def test_failed_reload_triggers_rollback_model_that_restores_before_version(
    loop: Loop, batch1: dict[str, Any], batch2: dict[str, Any]
) -> None:
    sensor, rollback = batch2["sensor"], batch2["sensor_rollback"]
    v2 = batch1["challenger"].value("summary")["version"]
    assert sensor.state == "failed"
    assert sensor.value("wait_new_version")["version"] == batch2["broken"]
    assert sensor.task_state("reload") == "failed"
    assert sensor.task_state(ROLLBACK_TRIGGER) == "success"
    # rollback_model ran as its own DAG run, triggered by the failed release.
    assert rollback is not None and rollback.run.run_type == "operator_triggered"
    assert rollback.state == "success"
    assert rollback.run.conf["before_version"] == v2 and rollback.run.conf["alias"] == "challenger"
    result = rollback.value("rollback")
    assert result["restored"] == v2 and result["alias_was"] == batch2["broken"]
    texts = texts_for(loop, rollback)
    assert any(
        t.startswith(f":leftwards_arrow_with_hook: rolled back iris@challenger to v{v2}") for t in texts
    )
    sensor_texts = texts_for(loop, sensor, wait_for=":warning: register_sensor_check.reload failed")
    assert any("reload failed" in t for t in sensor_texts)


def test_failed_verify_rolls_back_and_a_partial_restore_says_what_serves(
    loop: Loop, batch1: dict[str, Any], batch2: dict[str, Any]
) -> None:
    """min_replicas=2 with one gateway replica: verify fails, the triggered rollback moves the alias back
    and the gateway serves before_version again, but the rollback's own check (same min_replicas) cannot
    pass, so it fails saying exactly what serves, and so does the release's trigger task."""
    run, rollback = batch2["verify_fails"], batch2["verify_rollback"]
    v2 = batch1["challenger"].value("summary")["version"]
    assert run.state == "failed"
    assert run.task_state("reload") == "success" and run.task_state("verify") == "failed"
    assert run.task_state(ROLLBACK_TRIGGER) == "failed"
    assert rollback is not None and rollback.state == "failed"
    assert loop.alias_version("iris", "challenger") == v2
    status = loop.status()
    assert status["aliases"]["challenger"] == v2
    assert all(r["versions"]["challenger"] == v2 for r in status["replicas"] if r["alive"])
    assert loop.predict("challenger")["version"] == v2
    texts = texts_for(loop, run, wait_for=":warning: ml_train_register_and_reload.verify failed")
    assert any("verify failed" in t and "1 alive replica(s) report, 2 expected" in t for t in texts), texts
    failed = [
        t
        for t in texts_for(loop, rollback)
        if t.startswith(":rotating_light: ROLLBACK FAILED for iris@challenger")
    ]
    assert failed and f"MLflow alias now v{v2}; serving: alias challenger → v{v2}; replicas: " in failed[0]
    assert f"challenger=v{v2}" in failed[0]


def test_rollback_model_is_idempotent(loop: Loop, batch1: dict[str, Any], batch2: dict[str, Any]) -> None:
    run, v2 = batch2["by_hand"], batch1["challenger"].value("summary")["version"]
    assert run.state == "success"
    result = run.value("rollback")
    assert result["changed"] is False and result["reload"]["changed"] is False
    assert loop.status()["aliases"]["challenger"] == v2
    assert any("already there" in t for t in texts_for(loop, run))
