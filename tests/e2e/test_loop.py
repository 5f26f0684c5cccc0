"""The whole loop against the real local stack and gateway, with Airflow running the DAGs (dag.test).

Batch 1: champion, then challenger under the canary, a failed quality gate, bad conf (also a gateway model
that serves another registered model).
Batch 2: a broken version registered outside Airflow (reload fails), a verify that fails: both trigger
rollback_model as its own DAG run, which restores before_version; rollback_model run by hand is idempotent.
Batch 3: rollback_model without before_version restores the last known-good version, or removes the alias
and takes the variant out of traffic."""

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Loop
from tests.support.stack import train_and_register

pytestmark = pytest.mark.slow
TRAIN = "ml_train_register_and_reload"


def texts_for(loop: Loop, run: dict[str, Any]) -> list[str]:
    """Slack texts that name this DAG run."""
    return [m.get("text", "") for m in loop.slack.messages() if run["run_id"] in m.get("text", "")]


def value(run: dict[str, Any], task: str) -> Any:
    return run["tasks"][task].get("value")


@pytest.fixture(scope="module")
def batch1(loop: Loop) -> dict[str, Any]:
    champion, challenger, gate, bad_config, bad_strategy, wrong_model = loop.run(
        (TRAIN, {"alias": "champion"}),
        (TRAIN, {"alias": "challenger", "overrides": {"hyperparameters": {"C": 0.5, "max_iter": 500}}}),
        (TRAIN, {"alias": "challenger", "quality_threshold": 0.999}),
        (TRAIN, {"config": "nope"}),
        (TRAIN, {"strategy": "ab"}),
        (TRAIN, {"config": "wine", "serving_model": "iris"}),
    )
    return {
        "champion": champion,
        "challenger": challenger,
        "gate": gate,
        "bad_config": bad_config,
        "bad_strategy": bad_strategy,
        "wrong_model": wrong_model,
        "after": {a: loop.alias_version("iris", a) for a in ("champion", "challenger")},
    }


def test_success_path_serves_the_new_versions(loop: Loop, batch1: dict[str, Any]) -> None:
    champion, challenger = batch1["champion"], batch1["challenger"]
    assert champion["state"] == "success" and challenger["state"] == "success"
    v1, v2 = value(champion, "summary")["version"], value(challenger, "summary")["version"]
    assert int(v2) == int(v1) + 1
    assert value(challenger, "summary")["before_version"] is None
    status = loop.status()
    assert status["aliases"] == {"champion": v1, "challenger": v2}
    assert all(r["versions"] == {"champion": v1, "challenger": v2} for r in status["replicas"] if r["alive"])
    assert status["canary"]["version"] == v2 and status["canary"]["status"] in ("running", "promoted")
    assert loop.predict("champion")["version"] == v1
    assert loop.predict("challenger")["version"] == v2
    assert challenger["tasks"]["trigger_rollback_model"]["state"] == "skipped" and not challenger["triggered"]
    for run, version, alias in ((champion, v1, "champion"), (challenger, v2, "challenger")):
        texts = texts_for(loop, run)
        assert any(t.startswith(f":rocket: iris v{version} serves on alias {alias}") for t in texts), texts
        assert any("accuracy=" in t for t in texts)
        assert any(t.startswith(":white_check_mark: DAG ml_train_register_and_reload") for t in texts), texts


def test_failed_quality_gate_moves_nothing(loop: Loop, batch1: dict[str, Any]) -> None:
    gate = batch1["gate"]
    assert gate["state"] == "success"
    assert gate["tasks"]["quality_gate"]["state"] == "success" and not value(gate, "quality_gate")
    for task in ("register", "wait_ready", "set_alias", "reload", "summary", "trigger_rollback_model"):
        assert gate["tasks"][task]["state"] == "skipped", task
    v2 = value(batch1["challenger"], "summary")["version"]
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
        # Regression: check_target never compared the gateway's registered_model with the DAG's model.
        ("wrong_model", "serving_model: the gateway's model iris serves registered model 'iris', not 'wine'"),
    ):
        run = batch1[key]
        assert run["state"] == "failed"
        assert run["tasks"]["validate_conf"]["state"] == "failed"
        assert run["tasks"]["train"]["state"] == "upstream_failed"
        assert run["tasks"]["trigger_rollback_model"]["state"] == "skipped"
        texts = texts_for(loop, run)
        assert any("validate_conf failed: invalid conf: " + needle in t for t in texts), texts
        assert any(t.startswith(":x: DAG ml_train_register_and_reload") for t in texts), texts


@pytest.fixture(scope="module")
def batch2(loop: Loop, batch1: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # A version registered outside Airflow whose artifacts are broken: the gateway cannot load it.
    outside = train_and_register(loop.running, tmp_path_factory.mktemp("outside"), "iris")
    model_id = outside["register"]["source"].rsplit("/", 1)[-1]
    artifacts = Path(loop.running.settings.state_dir) / "mlflow" / "artifacts"
    broken = list(artifacts.glob(f"*/models/{model_id}/artifacts/MLmodel"))
    assert broken, f"no MLmodel for {model_id} under {artifacts}"
    for file in broken:
        file.write_text("flavors: [not yaml\n")
    sensor, verify_fails, by_hand = loop.run(
        ("register_sensor_check", {"alias": "challenger"}),
        (TRAIN, {"alias": "challenger", "min_replicas": 2, "verify_timeout_seconds": 3}),
        ("rollback_model", {"model": "iris", "alias": "challenger", "before_version": "2"}),
    )
    return {"outside": outside, "sensor": sensor, "verify_fails": verify_fails, "by_hand": by_hand}


def test_failed_reload_rolls_back_to_before_version(
    loop: Loop, batch1: dict[str, Any], batch2: dict[str, Any]
) -> None:
    sensor, v2 = batch2["sensor"], value(batch1["challenger"], "summary")["version"]
    assert sensor["state"] == "failed"
    assert value(sensor, "wait_new_version")["version"] == batch2["outside"]["register"]["version"]
    assert sensor["tasks"]["reload"]["state"] == "failed"
    assert sensor["tasks"]["trigger_rollback_model"]["state"] == "success"
    [triggered] = sensor["triggered"]
    assert triggered["dag_id"] == "rollback_model" and triggered["state"] == "success"
    rollback = value(triggered, "rollback")
    assert rollback["restored"] == v2 and rollback["alias_was"] == batch2["outside"]["register"]["version"]
    assert any("reload failed" in t for t in texts_for(loop, sensor))
    assert any(
        t.startswith(f":leftwards_arrow_with_hook: rolled back iris@challenger to v{v2}")
        for t in texts_for(loop, triggered)
    )


def test_failed_verify_rolls_back_and_a_partial_restore_says_what_serves(
    loop: Loop, batch1: dict[str, Any], batch2: dict[str, Any]
) -> None:
    """min_replicas=2 with one gateway replica: verify fails, the rollback moves the alias back and the
    gateway serves before_version again, but the rollback's own check (same min_replicas) cannot pass,
    so it fails saying exactly what serves."""
    run, v2 = batch2["verify_fails"], value(batch1["challenger"], "summary")["version"]
    assert run["state"] == "failed"
    assert run["tasks"]["reload"]["state"] == "success" and run["tasks"]["verify"]["state"] == "failed"
    assert run["tasks"]["trigger_rollback_model"]["state"] == "failed"
    [triggered] = run["triggered"]
    assert triggered["dag_id"] == "rollback_model" and triggered["state"] == "failed"
    assert triggered["tasks"]["rollback"]["state"] == "failed"
    assert loop.alias_version("iris", "challenger") == v2
    status = loop.status()
    assert status["aliases"]["challenger"] == v2
    assert all(r["versions"]["challenger"] == v2 for r in status["replicas"] if r["alive"])
    assert loop.predict("challenger")["version"] == v2
    texts = texts_for(loop, run)
    assert any("verify failed" in t and "1 alive replica(s) report, 2 expected" in t for t in texts), texts
    rollback_texts = texts_for(loop, triggered)
    failed = [
        t for t in rollback_texts if t.startswith(":rotating_light: ROLLBACK FAILED for iris@challenger")
    ]
    assert failed and f"MLflow alias now v{v2}; serving: alias challenger → v{v2}; replicas: " in failed[0]
    assert f"challenger=v{v2}" in failed[0]


def test_rollback_model_is_idempotent(loop: Loop, batch1: dict[str, Any], batch2: dict[str, Any]) -> None:
    run, v2 = batch2["by_hand"], value(batch1["challenger"], "summary")["version"]
    assert run["state"] == "success"
    result = value(run, "rollback")
    assert result["changed"] is False and result["reload"]["changed"] is False
    assert loop.status()["aliases"]["challenger"] == v2
    assert any("already there" in t for t in texts_for(loop, run))


@pytest.fixture(scope="module")
def batch3(loop: Loop, batch1: dict[str, Any], batch2: dict[str, Any]) -> dict[str, Any]:
    """Failed first releases on an alias (no before_version), set up by hand with versions that exist:
    v2 (the challenger batch 1 released: the alias's last known-good) and the version batch 2's failed
    verify trained (good artifacts, never verified)."""
    v2 = value(batch1["challenger"], "summary")["version"]
    unverified = str(value(batch2["verify_fails"], "wait_ready")["version"])
    no_before = {"model": "iris", "alias": "challenger", "before_version": None, "reason": "test"}
    loop.release("challenger", unverified)
    (known_good,) = loop.run(("rollback_model", no_before))
    after_known_good = loop.alias_version("iris", "challenger")
    loop.set_model_tag("mlops.known_good.challenger", unverified)  # nothing older is known now
    loop.release("challenger", unverified)
    (nothing,) = loop.run(("rollback_model", no_before))
    return {
        "v2": v2,
        "unverified": unverified,
        "known_good": known_good,
        "after_known_good": after_known_good,
        "nothing": nothing,
    }


def test_rollback_without_before_version_restores_the_last_known_good(
    loop: Loop, batch3: dict[str, Any]
) -> None:
    """Regression: before_version=None removed the alias and left the failed version serving."""
    run, v2 = batch3["known_good"], batch3["v2"]
    assert run["state"] == "success"
    result = value(run, "rollback")
    assert (result["restored"], result["known_good"], result["alias_was"]) == (v2, v2, batch3["unverified"])
    assert batch3["after_known_good"] == v2
    assert any(
        t.startswith(
            f":leftwards_arrow_with_hook: rolled back iris@challenger to v{v2} (no before_version: "
            "the last known-good recorded in MLflow)"
        )
        for t in texts_for(loop, run)
    )


def test_rollback_with_nothing_to_restore_takes_the_variant_out_of_traffic(
    loop: Loop, batch1: dict[str, Any], batch3: dict[str, Any]
) -> None:
    run = batch3["nothing"]
    assert run["state"] == "success"
    result = value(run, "rollback")
    assert result["restored"] is None and result["alias_was"] == batch3["unverified"]
    assert loop.alias_version("iris", "challenger") is None
    assert loop.status()["weights"] == {"champion": 100, "challenger": 0}
    assert loop.served_versions() == {value(batch1["champion"], "summary")["version"]}
    texts = texts_for(loop, run)
    assert any("to no version (alias removed)" in t and "gets no traffic" in t for t in texts), texts
