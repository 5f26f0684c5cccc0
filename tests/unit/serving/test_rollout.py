"""Transitions of the rollout record: moves, the canary start, blue-green, promotion and compensation."""

from __future__ import annotations

import pytest

from serving import rollout
from serving.config import parse_config
from serving.errors import Conflict, Invalid
from serving.record import RolloutRecord
from serving.traffic import effective_weights


def _model(strategy: str, **extra):
    variants = {
        "canary": [
            {"name": "champion", "alias": "champion", "weight": 90},
            {"name": "challenger", "alias": "challenger", "weight": 10},
        ],
        "bluegreen": [{"name": "blue", "alias": "champion"}, {"name": "green", "alias": "challenger"}],
        "ab": [
            {"name": "a", "alias": "champion", "weight": 50},
            {"name": "b", "alias": "challenger", "weight": 50},
        ],
    }[strategy]
    model = {"name": "iris", "registered_model": "iris", "strategy": strategy, "variants": variants, **extra}
    return parse_config({"models": [model]}).models[0]


CANARY = _model("canary", canary={"steps": [10, 50, 100]})
BLUEGREEN = _model("bluegreen", bluegreen={"active": "blue", "preview": "green"})
AB = _model("ab")


def _canary_of_v2() -> RolloutRecord:
    """A canary record: champion v1, challenger v2 at the first step."""
    record = rollout.initial_record(CANARY)
    rollout.move_alias(CANARY, record, "champion", "1", "resolver", "resolver", 0.0)
    rollout.move_alias(CANARY, record, "challenger", "2", "reload", "dag", 1.0)
    return record


def test_only_a_change_of_version_is_a_move_and_a_first_version_is_none():
    record = rollout.initial_record(AB)
    assert rollout.move_alias(AB, record, "champion", "1", "resolver", "resolver", 1.0) == []
    rollout.move_alias(AB, record, "champion", "1", "reload", "replica restart", 2.0)
    assert record.moves == [] and record.aliases == {"champion": "1"}
    rollout.move_alias(AB, record, "champion", "2", "reload", "dag", 3.0)
    assert [(m.from_version, m.to_version) for m in record.moves] == [("1", "2")]
    assert record.previous("champion") == "1"


def test_a_new_canary_version_starts_one_rollout_and_never_restarts_it():
    record = rollout.initial_record(CANARY)
    rollout.move_alias(CANARY, record, "champion", "1", "resolver", "resolver", 0.0)
    rollout.move_alias(CANARY, record, "challenger", "1", "resolver", "resolver", 0.0)
    assert record.canary.status == "idle"  # the challenger serves the baseline version
    events = rollout.move_alias(CANARY, record, "challenger", "2", "reload", "dag", 1.0)
    assert [e["type"] for e in events] == ["canary_start"]
    assert record.weights == {"champion": 90, "challenger": 10} and record.canary.version == "2"
    rollout.canary_step(CANARY, record, "abort", "error rate", 5.0)
    # the same version again (a reload, a restart, another replica): no second start
    assert rollout.move_alias(CANARY, record, "challenger", "2", "reload", "dag", 6.0) == []
    assert record.canary.status == "aborted" and record.canary.rollout == 1


def test_a_canary_waits_for_its_baseline():
    record = rollout.initial_record(CANARY)
    assert rollout.move_alias(CANARY, record, "challenger", "2", "resolver", "resolver", 0.0) == []
    assert record.canary.status == "idle"


def test_blue_green_traffic_follows_the_active_slot_through_switch_and_promote():
    """Defect: after switch then promote the store said active=green while all traffic went to blue."""
    record = rollout.initial_record(BLUEGREEN)
    rollout.move_alias(BLUEGREEN, record, "champion", "1", "resolver", "resolver", 0.0)
    rollout.move_alias(BLUEGREEN, record, "challenger", "2", "resolver", "resolver", 0.0)
    rollout.switch(BLUEGREEN, record, "ops")
    assert record.active == "green" and effective_weights(BLUEGREEN, record) == {"blue": 0, "green": 100}
    rollout.begin_promote(BLUEGREEN, record, None, "ops", 10.0, 60.0)
    rollout.op_applied(BLUEGREEN, record, 11.0)
    rollout.op_converged(BLUEGREEN, record, 12.0)
    # the champion slot (blue) now serves v2 and is active again: slot and traffic agree
    assert record.aliases == {"champion": "2", "challenger": "2"}
    assert record.active == "blue" and effective_weights(BLUEGREEN, record) == {"blue": 100, "green": 0}
    with pytest.raises(Conflict, match="already serves version 2"):
        rollout.begin_promote(BLUEGREEN, record, None, "ops", 13.0, 60.0)


def test_a_failed_promotion_is_compensated_back_to_the_state_before_it():
    record = _canary_of_v2()
    rollout.canary_step(CANARY, record, "advance", "gates passed", 2.0)
    before = record.copy()
    rollout.begin_promote(CANARY, record, None, "canary", 3.0, 60.0)
    assert record.canary.status == "promoting" and record.phase == "mlflow"
    with pytest.raises(Conflict, match="in progress"):
        rollout.begin_rollback(CANARY, record, None, "ops", 3.5, 60.0)
    rollout.op_applied(CANARY, record, 4.0)
    assert record.aliases["champion"] == "2" and record.previous("champion") == "1"
    events = rollout.op_compensate(CANARY, record, "pod-2: cannot load", 5.0)
    assert events[0]["type"] == "promote_failed" and record.phase == "compensate"
    assert record.aliases == before.aliases and record.moves == before.moves
    assert record.weights == before.weights and record.canary.status == "running"
    assert [e["type"] for e in rollout.op_compensated(record, 6.0)] == ["promote_compensated"]
    assert record.operation is None and record.last_operation.result == "compensated"


def test_rollback_walks_back_one_move_at_a_time():
    record = rollout.initial_record(AB)
    for version in ("1", "2", "3"):
        rollout.move_alias(AB, record, "champion", version, "reload", "dag", float(version))
    for expected in ("2", "1"):
        rollout.begin_rollback(AB, record, None, "ops", 10.0, 60.0)
        rollout.op_applied(AB, record, 11.0)
        rollout.op_converged(AB, record, 12.0)
        assert record.aliases["champion"] == expected
    with pytest.raises(Conflict, match="nothing to roll back"):
        rollout.begin_rollback(AB, record, None, "ops", 13.0, 60.0)


def test_weights_are_checked_and_pause_a_running_canary():
    record = _canary_of_v2()
    with pytest.raises(Invalid, match="sum to 100"):
        rollout.set_weights(CANARY, record, {"champion": 60}, "ops")
    with pytest.raises(Invalid, match="'z'"):
        rollout.set_weights(CANARY, record, {"z": 100}, "ops")
    rollout.set_weights(CANARY, record, {"champion": 70, "challenger": 30}, "ops")
    assert record.canary.status == "manual" and record.weights == {"champion": 70, "challenger": 30}
    with pytest.raises(Conflict, match="switch"):
        rollout.set_weights(BLUEGREEN, rollout.initial_record(BLUEGREEN), {"blue": 100}, "ops")
