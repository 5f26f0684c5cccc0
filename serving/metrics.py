"""Prometheus metrics of one gateway (own registry, so several apps can live in one process).

Alert rules and dashboards build on these names (`observability/rules/`, `docs/observability.md`):
rename one only together with them.
"""

from __future__ import annotations

import contextlib
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CODE_CLASSES = ("2xx", "4xx", "5xx")
ROLLOUT_PHASES = ("steady", "mlflow", "converge", "compensate")
GATE_DECISIONS = ("wait", "advance", "abort", "promote")
RELOAD_RESULTS = ("loaded", "failed")


def code_class(status: int) -> str:
    """`2xx`, `4xx` or `5xx` (1xx/3xx never answer a predict request; they count as 2xx)."""
    if status >= 500:
        return "5xx"
    return "4xx" if status >= 400 else "2xx"


class Metrics:
    """All gateway metrics; label children are cached by the callers on the hot path."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # process_start_time_seconds (and the process' CPU and memory): the rollout alerts count a counter
        # series first seen at a value only when its replica is young, not after Prometheus lost its data
        ProcessCollector(registry=self.registry)
        labels = ("model", "variant", "version")
        self.requests = Counter(
            "serving_requests", "Predict requests answered", labels, registry=self.registry
        )
        self.errors = Counter(
            "serving_request_errors",
            "Predict requests answered 5xx (the model failed)",
            labels,
            registry=self.registry,
        )
        self.client_errors = Counter(
            "serving_request_rejections",
            "Predict requests answered 4xx by a variant (input its version does not take)",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "serving_request_seconds",
            "Gateway time per predict request (decode, predict), by the variant that answered",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.http = Histogram(
            "serving_http_request_duration_seconds",
            "End-to-end time of predict requests (v1, /invocations, v2): arrival to response sent "
            "(body read, decode, route, predict, encode); variant and version empty when refused "
            "before a variant was chosen, model empty when the path names no configured model",
            (*labels, "code_class"),
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.reloads = Counter(
            "serving_reloads",
            "Alias loads by result: loaded (a new version serves) or failed (download, load or warm-up)",
            ("model", "alias", "result"),
            registry=self.registry,
        )
        self.load_seconds = Histogram(
            "serving_model_load_seconds",
            "Time to download, load and warm up a model version",
            ("model",),
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.weight = Gauge(
            "serving_variant_weight", "Traffic weight", ("model", "variant"), registry=self.registry
        )
        self.loaded = Gauge(
            "serving_variant_loaded",
            "1 for the version a variant serves on this replica (the series goes when the version leaves)",
            labels,
            registry=self.registry,
        )
        self.converged = Gauge(
            "serving_alias_converged",
            "1 while this replica serves the version the rollout record wants for the alias, else 0",
            ("model", "alias"),
            registry=self.registry,
        )
        shadow = ("model", "variant")
        self.shadow_rows = Counter(
            "serving_shadow_rows", "Rows compared between shadow and primary", shadow, registry=self.registry
        )
        self.shadow_agree = Counter(
            "serving_shadow_agreeing_rows", "Rows where the shadow agreed", shadow, registry=self.registry
        )
        self.shadow_agreement = Gauge(
            "serving_shadow_agreement_ratio", "Share of agreeing rows", shadow, registry=self.registry
        )
        self.shadow_dropped = Counter(
            "serving_shadow_dropped", "Shadow copies dropped (queue full)", shadow, registry=self.registry
        )
        self.shadow_errors = Counter(
            "serving_shadow_errors", "Shadow predictions that failed", shadow, registry=self.registry
        )
        self.shadow_latency = Histogram(
            "serving_shadow_seconds",
            "Shadow model time per request",
            shadow,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.canary_step = Gauge(
            "serving_canary_step", "Current canary step index", ("model",), registry=self.registry
        )
        self.rollout_phase = Gauge(
            "serving_rollout_phase",
            "1 for the rollout record's phase: steady, or the operation's mlflow/converge/compensate",
            ("model", "phase"),
            registry=self.registry,
        )
        self.gate_decisions = Counter(
            "serving_gate_decisions",
            "Canary gate decisions of the fleet's controller (the leader): wait, advance, abort, promote",
            ("model", "decision"),
            registry=self.registry,
        )
        self.canary_aborts = Counter(
            "serving_canary_aborts",
            "Canary rollouts aborted (counted by the replica that wrote the abort)",
            ("model",),
            registry=self.registry,
        )
        self.rollbacks = Counter(
            "serving_rollbacks",
            "Rollbacks done: the alias is back on its previous version across the fleet",
            ("model", "alias"),
            registry=self.registry,
        )
        self.leader = Gauge(
            "serving_controller_leader",
            "1 while this replica holds the model's controller lease",
            ("model",),
            registry=self.registry,
        )
        self.degraded = Gauge(
            "serving_state_store_degraded",
            "1 while the state store is unreachable (serving from the last known state)",
            registry=self.registry,
        )
        self.load_failures = Gauge(
            "serving_load_failures",
            "Consecutive failed loads of the version an alias should serve (0: none)",
            ("model", "alias"),
            registry=self.registry,
        )

    def declare(self, model: str, aliases: list[str], canary: bool) -> None:
        """Create a model's counters at 0, so the first event is an increase Prometheus can see."""
        self.canary_aborts.labels(model)
        for alias in aliases:
            self.rollbacks.labels(model, alias)
            for result in RELOAD_RESULTS:
                self.reloads.labels(model, alias, result)
        if canary:
            for decision in GATE_DECISIONS:
                self.gate_decisions.labels(model, decision)
        self.set_phase(model, "steady")

    def set_phase(self, model: str, phase: str) -> None:
        """One-hot `serving_rollout_phase` of a model."""
        for name in ROLLOUT_PHASES:
            self.rollout_phase.labels(model, name).set(1 if name == phase else 0)

    def forget_version(self, model: str, variant: str, version: str) -> None:
        """Remove every series of `version` on `variant` (it left the variant)."""
        labels = {"model": model, "variant": variant, "version": version}
        for metric in (self.requests, self.errors, self.client_errors, self.latency, self.loaded, self.http):
            metric.remove_by_labels(labels)

    def forget_model(self, model: str) -> None:
        """Remove every series of a model (it is no longer served here)."""
        for metric in vars(self).values():
            if isinstance(metric, Counter | Gauge | Histogram):
                with contextlib.suppress(ValueError):  # a metric without a `model` label
                    metric.remove_by_labels({"model": model})

    def count_event(self, item: dict[str, Any]) -> None:
        """Count the rollout events this replica publishes (an event subscriber: one count per event)."""
        model = item.get("model")
        if model is None:
            return
        if item["type"] == "canary_abort":
            self.canary_aborts.labels(model).inc()
        elif item["type"] == "rollback":
            self.rollbacks.labels(model, item["data"].get("alias") or "").inc()
