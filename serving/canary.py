"""Canary progression decisions: pure functions of the stored state and the window statistics."""

from __future__ import annotations

from dataclasses import dataclass

from serving.config import Canary
from serving.runtime import WindowStats


@dataclass(frozen=True)
class Decision:
    """What the controller does next: `start`, `abort`, `advance`, `promote` or `wait`."""

    action: str
    reason: str = ""


def gate_failure(stats: WindowStats, canary: Canary) -> str | None:
    """Why the gates fail, or None when they pass (needs at least `min_requests`)."""
    gates = canary.gates
    if stats.requests < gates.min_requests:
        return None
    if stats.error_rate > gates.max_error_rate:
        return (
            f"error rate {stats.error_rate:.3f} > {gates.max_error_rate} "
            f"({stats.errors}/{stats.requests} requests in {gates.window_seconds:g}s)"
        )
    if stats.p99_ms is not None and stats.p99_ms > gates.max_p99_ms:
        return f"p99 {stats.p99_ms:.1f} ms > {gates.max_p99_ms} ms over {stats.requests} requests"
    return None


def decide(
    status: str,
    step: int,
    step_started: float | None,
    now: float,
    canary_version: str | None,
    loaded_canary: str | None,
    loaded_baseline: str | None,
    stats: WindowStats,
    canary: Canary,
) -> Decision:
    """Next canary action for one model."""
    if loaded_canary is None or loaded_baseline is None:
        return Decision("wait", "variants not loaded")
    if canary_version != loaded_canary:
        if loaded_canary == loaded_baseline:
            return Decision("wait", "canary serves the baseline version")
        return Decision("start", f"new canary version {loaded_canary}")
    if status != "running":
        return Decision("wait", f"canary {status}")
    failure = gate_failure(stats, canary)
    if failure is not None:
        return Decision("abort", failure)
    if stats.requests < canary.gates.min_requests:
        return Decision("wait", f"{stats.requests}/{canary.gates.min_requests} requests in window")
    if step_started is not None and now - step_started < canary.interval_seconds:
        return Decision("wait", "interval not elapsed")
    if step + 1 < len(canary.steps):
        return Decision("advance", f"gates passed at {canary.steps[step]}%")
    return Decision("promote", f"all {len(canary.steps)} steps passed")
