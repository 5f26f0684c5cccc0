"""Prometheus metrics of one gateway (own registry, so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """All gateway metrics; label children are cached by the callers on the hot path."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
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
        self.reloads = Counter(
            "serving_reloads", "Alias reloads by result", ("model", "alias", "result"), registry=self.registry
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
            "serving_variant_loaded", "1 for the version a variant serves", labels, registry=self.registry
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
