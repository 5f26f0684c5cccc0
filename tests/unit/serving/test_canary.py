"""Canary gates on the fleet's merged windows: 4xx count, p99 against the baseline, fleet-wide minimum."""

from __future__ import annotations

from serving.canary import decide, gate_failure
from serving.config import Canary
from serving.record import CanaryState
from serving.stats import Summary

CANARY = Canary(
    steps=[10, 50, 100],
    interval_seconds=60,
    gates={"max_error_rate": 0.05, "max_p99_ms": 500, "min_requests": 20, "window_seconds": 60},
)


def window(requests: int, seconds: float = 0.002, client_errors: int = 0, server_errors: int = 0) -> Summary:
    """A window with `requests` answers of `seconds`, the first ones errors."""
    summary = Summary()
    for i in range(requests):
        status = 422 if i < client_errors else 500 if i < client_errors + server_errors else 200
        summary.add(seconds, status)
    return summary


HEALTHY = window(100)
BASELINE = window(400)


def _decide(status="running", step=0, started=0.0, now=100.0, canary=HEALTHY, baseline=BASELINE):
    state = CanaryState(status=status, step=step, step_started=started, version="2", rollout=1)
    return decide(state, now, canary, baseline, CANARY)


def test_client_errors_count_against_the_canary():
    rejected = _decide(canary=window(200, client_errors=103))
    assert rejected.action == "abort"
    assert "103 4xx + 0 5xx of 200 requests" in rejected.reason


def test_the_error_rate_is_compared_with_the_baseline_on_the_same_fleet():
    # clients that send bad input hurt both variants alike: not the canary's fault
    both_rejected = _decide(canary=window(100, client_errors=10), baseline=window(400, client_errors=40))
    assert both_rejected.action == "advance"
    worse = _decide(canary=window(100, server_errors=20), baseline=window(400, client_errors=40))
    assert worse.action == "abort" and "baseline 0.100" in worse.reason


def test_a_p99_three_times_the_baseline_aborts_even_under_the_absolute_limit():
    slow = _decide(canary=window(100, seconds=0.030), baseline=window(400, seconds=0.010))
    assert slow.action == "abort" and "x baseline p99" in slow.reason
    # sub-millisecond noise never aborts: the difference must exceed p99_tolerance_ms too
    noise = _decide(canary=window(100, seconds=0.0009), baseline=window(400, seconds=0.0003))
    assert noise.action == "advance"
    absolute = _decide(canary=window(100, seconds=0.8), baseline=window(400, seconds=0.7))
    assert absolute.action == "abort" and "> 500 ms" in absolute.reason


def test_nothing_is_decided_below_min_requests_across_the_fleet():
    assert _decide(canary=window(5, server_errors=5)).action == "wait"
    assert gate_failure(window(5, server_errors=5), BASELINE, CANARY) is None
    # three replicas with 8 requests each: merged, the fleet has enough to decide
    merged = Summary()
    for _ in range(3):
        merged.merge(window(8, server_errors=8))
    assert _decide(canary=merged).action == "abort"


def test_healthy_steps_advance_after_the_interval_and_promote_at_the_end():
    assert _decide(started=90.0, now=100.0).action == "wait"
    assert _decide(step=0).action == "advance"
    assert _decide(step=1).action == "advance"
    assert _decide(step=2).action == "promote"


def test_only_a_running_canary_moves():
    for status in ("idle", "aborted", "promoting", "promoted", "manual", "rolled_back"):
        assert _decide(status=status).action == "wait"


def test_at_a_full_step_only_the_absolute_limits_apply():
    # the baseline takes no traffic at 100 %: its last few requests are no yardstick
    slow = window(100, seconds=0.040)
    leftovers = window(40, seconds=0.0006)
    assert _decide(step=2, canary=slow, baseline=leftovers).action == "promote"
    assert _decide(step=1, canary=slow, baseline=leftovers).action == "abort"
