"""Canary gates and progression: pure functions of the canary state and the fleet's merged windows.

The canary is judged against the baseline on the same fleet over the same window: its error rate
(4xx and 5xx) may exceed the baseline's by at most `max_error_rate`; its p99 may not exceed
`max_p99_ms`, nor `max_p99_ratio` times the baseline's p99 by more than `p99_tolerance_ms`.
Below `min_requests` (counted over the whole fleet) nothing is decided. The baseline is compared only
while it takes traffic in the current step and has `min_requests` in the window; at a 100 % step only
the absolute limits apply (the baseline's rate counts as 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from serving.config import Canary
from serving.record import CanaryState
from serving.stats import Summary


@dataclass(frozen=True)
class Decision:
    """What the controller does next: `abort`, `advance`, `promote` or `wait`."""

    action: str
    reason: str = ""


def _counts(summary: Summary) -> str:
    return f"{summary.client_errors} 4xx + {summary.server_errors} 5xx of {summary.requests} requests"


def gate_failure(canary: Summary, baseline: Summary, config: Canary, baseline_weight: int = 1) -> str | None:
    """Why the gates fail, or None when they pass or there are fewer than `min_requests`."""
    gates = config.gates
    if canary.requests < gates.min_requests:
        return None
    compared = baseline_weight > 0 and baseline.requests >= gates.min_requests
    baseline_rate = baseline.error_rate if compared else 0.0
    if canary.error_rate > baseline_rate + gates.max_error_rate:
        return (
            f"error rate {canary.error_rate:.3f} ({_counts(canary)}) > baseline {baseline_rate:.3f} "
            f"+ {gates.max_error_rate} over {gates.window_seconds:g}s"
        )
    p99 = canary.p99_ms
    if p99 is None:
        return None
    if p99 > gates.max_p99_ms:
        return f"p99 {p99:.1f} ms > {gates.max_p99_ms:g} ms over {canary.requests} requests"
    base_p99 = baseline.p99_ms if compared else None
    if (
        base_p99 is not None
        and p99 > gates.max_p99_ratio * base_p99
        and p99 - base_p99 > gates.p99_tolerance_ms
    ):
        return (
            f"p99 {p99:.1f} ms > {gates.max_p99_ratio:g} x baseline p99 {base_p99:.1f} ms "
            f"over {canary.requests} requests"
        )
    return None


def decide(state: CanaryState, now: float, canary: Summary, baseline: Summary, config: Canary) -> Decision:
    """Next canary action for one model (only a running canary moves)."""
    if state.status != "running":
        return Decision("wait", f"canary {state.status}")
    failure = gate_failure(canary, baseline, config, 100 - config.steps[state.step])
    if failure is not None:
        return Decision("abort", failure)
    if canary.requests < config.gates.min_requests:
        return Decision("wait", f"{canary.requests}/{config.gates.min_requests} requests in the fleet window")
    if state.step_started is not None and now - state.step_started < config.interval_seconds:
        return Decision("wait", "interval not elapsed")
    if state.step + 1 < len(config.steps):
        return Decision(
            "advance", f"gates passed at {config.steps[state.step]}% over {canary.requests} requests"
        )
    return Decision("promote", f"all {len(config.steps)} steps passed")
