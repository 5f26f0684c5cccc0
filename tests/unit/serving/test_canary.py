"""Canary decisions: start on a new version, abort on failed gates, wait for data, advance, promote."""

from __future__ import annotations

from serving.canary import decide, gate_failure
from serving.config import Canary
from serving.runtime import WindowStats

CANARY = Canary(
    steps=[10, 50, 100],
    interval_seconds=60,
    gates={"max_error_rate": 0.05, "max_p99_ms": 100, "min_requests": 20, "window_seconds": 60},
)
HEALTHY = WindowStats(requests=100, errors=1, p99_ms=20.0)


def _decide(
    status="running", step=0, started=0.0, now=100.0, version="2", canary="2", baseline="1", stats=HEALTHY
):
    return decide(status, step, started, now, version, canary, baseline, stats, CANARY)


def test_a_new_canary_version_starts_a_rollout():
    assert _decide(status="promoted", version="1", canary="3").action == "start"
    assert _decide(version=None).action == "start"
    assert _decide(version=None, canary="1", baseline="1").action == "wait"
    assert _decide(canary=None).action == "wait"


def test_failed_gates_abort_with_the_reason():
    errors = _decide(stats=WindowStats(requests=40, errors=10, p99_ms=10.0))
    assert errors.action == "abort" and "error rate 0.250" in errors.reason
    slow = _decide(stats=WindowStats(requests=40, errors=0, p99_ms=350.0))
    assert slow.action == "abort" and "p99 350.0 ms" in slow.reason


def test_too_few_requests_neither_abort_nor_advance():
    assert _decide(stats=WindowStats(requests=5, errors=5, p99_ms=900.0)).action == "wait"
    assert gate_failure(WindowStats(requests=5, errors=5, p99_ms=900.0), CANARY) is None


def test_healthy_steps_advance_after_the_interval_and_promote_at_the_end():
    assert _decide(started=90.0, now=100.0).action == "wait"
    assert _decide(step=0).action == "advance"
    assert _decide(step=1).action == "advance"
    assert _decide(step=2).action == "promote"


def test_only_a_running_canary_moves():
    for status in ("aborted", "promoted", "manual", "rolled_back"):
        assert _decide(status=status).action == "wait"
