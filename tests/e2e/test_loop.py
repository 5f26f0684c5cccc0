"""The whole loop against the real local stack: runs triggered through Airflow's REST API and executed
by its scheduler (LocalExecutor, MLOPS_RUNTIME=local).

Batch 1: champion, then challenger under the canary, a failed quality gate, bad conf.
Batch 2: a broken version registered outside Airflow (the gateway refuses it) and a verify that fails:
both trigger rollback_model as a separate DAG run that restores before_version; rollback_model run by
hand is idempotent."""

from typing import Any

import pytest

from ops.local.faults import register_unscorable
from tests.e2e.conftest import ROLLBACK_TRIGGER, Loop, RunResult

# Module fixtures run several DAG runs on a real scheduler: more than the default per-test timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
TRAIN = "ml_train_register_and_reload"


def texts_for(loop: Loop, run: RunResult) -> list[str]:
    """Slack texts that name this DAG run."""
    return [m.get("text", "") for m in loop.slack.messages() if run.run_id in m.get("text", "")]


@pytest.fixture(scope="module")
def batch1(loop: Loop) -> dict[str, Any]:
    before = loop.alias_version("iris", "challenger")
    champion = loop.run(TRAIN, {"alias": "champion"}, "champion")
    challenger_conf = {"alias": "challenger", "overrides": {"hyperparameters": {"C": 0.5, "max_iter": 500}}}
    challenger = loop.run(TRAIN, challenger_conf, "challenger")
    gate = loop.run(TRAIN, {"alias": "challenger", "quality_threshold": 0.999}, "gate")
    bad_config = loop.run(TRAIN, {"config": "nope"}, "bad-config")
    bad_strategy = loop.run(TRAIN, {"strategy": "ab"}, "bad-strategy")
    return {
        "challenger_before": before,
        "champion": champion,
        "challenger": challenger,
        "gate": gate,
        "bad_config": bad_config,
        "bad_strategy": bad_strategy,
        "after": {a: loop.alias_version("iris", a) for a in ("champion", "challenger")},
    }


def test_success_path_serves_the_new_versions(loop: Loop, batch1: dict[str, Any]) -> None:
    champion, challenger = batch1["champion"], batch1["challenger"]
    assert champion.state == "success" and challenger.state == "success"
    v1, v2 = champion.value("summary")["version"], challenger.value("summary")["version"]
    assert int(v2) == int(v1) + 1
    assert challenger.value("summary")["before_version"] == batch1["challenger_before"]
    status = loop.status()
    assert status["aliases"] == {"champion": v1, "challenger": v2}
    assert all(r["versions"] == {"champion": v1, "challenger": v2} for r in status["replicas"] if r["alive"])
    assert status["canary"]["version"] == v2 and status["canary"]["status"] in ("running", "promoted")
    assert loop.predict("champion")["version"] == v1
    assert loop.predict("challenger")["version"] == v2
    assert challenger.task_state(ROLLBACK_TRIGGER) == "skipped"
    assert loop.rollback_of(challenger) is None
    for run, version, alias in ((champion, v1, "champion"), (challenger, v2, "challenger")):
        texts = texts_for(loop, run)
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
        texts = texts_for(loop, run)
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
    assert any("reload failed" in t for t in texts_for(loop, sensor))


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
    texts = texts_for(loop, run)
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
