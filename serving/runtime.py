"""In-memory state of the served models: loaded versions, weights, counters and latency windows."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from serving.config import ModelConfig
from serving.metrics import Metrics
from serving.model import LoadedModel
from serving.routing import Router
from serving.shadow import ShadowRunner
from serving.store import ModelState

WINDOW_MAX = 200_000


@dataclass
class WindowStats:
    """Requests, errors and p99 of one variant over a window."""

    requests: int
    errors: int
    p99_ms: float | None

    @property
    def error_rate(self) -> float:
        """Errors per request (0 without requests)."""
        return self.errors / self.requests if self.requests else 0.0


class VariantRuntime:
    """One variant: the model it serves now and what it has answered."""

    __slots__ = (
        "_children",
        "alias",
        "errors",
        "last_error",
        "metrics",
        "model",
        "model_name",
        "name",
        "requests",
        "shadow",
        "window",
    )

    def __init__(self, model_name: str, name: str, alias: str, shadow: bool, metrics: Metrics) -> None:
        self.model_name = model_name
        self.name = name
        self.alias = alias
        self.shadow = shadow
        self.metrics = metrics
        self.model: LoadedModel | None = None
        self.requests = 0
        self.errors = 0
        self.last_error: str | None = None
        self.window: deque[tuple[float, float, bool]] = deque(maxlen=WINDOW_MAX)
        self._children: tuple[Any, Any, Any] | None = None

    def swap(self, model: LoadedModel) -> LoadedModel | None:
        """Serve `model` from now on (one reference assignment: atomic for requests in flight)."""
        previous = self.model
        labels = (self.model_name, self.name, model.version)
        children = (
            self.metrics.requests.labels(*labels),
            self.metrics.errors.labels(*labels),
            self.metrics.latency.labels(*labels),
        )
        if previous is not None and previous.version != model.version:
            self.metrics.loaded.labels(self.model_name, self.name, previous.version).set(0)
        self.metrics.loaded.labels(*labels).set(1)
        self._children = children
        self.model = model
        self.last_error = None
        return previous

    def record(self, seconds: float, error: bool) -> None:
        """Count one answered request."""
        self.requests += 1
        self.window.append((time.monotonic(), seconds, error))
        children = self._children
        if children is not None:
            children[0].inc()
            children[2].observe(seconds)
            if error:
                children[1].inc()
        if error:
            self.errors += 1

    def stats(self, window_seconds: float) -> WindowStats:
        """Window statistics for canary gates."""
        since = time.monotonic() - window_seconds
        latencies: list[float] = []
        errors = 0
        for at, seconds, error in reversed(self.window):
            if at < since:
                break
            latencies.append(seconds)
            errors += error
        p99 = float(np.percentile(latencies, 99)) * 1000 if latencies else None
        return WindowStats(len(latencies), errors, p99)

    def reset_window(self) -> None:
        """Forget the window (a new version starts with a clean slate)."""
        self.window.clear()


class ModelRuntime:
    """One configured model: its variants, router and the state applied from the store."""

    def __init__(self, config: ModelConfig, metrics: Metrics) -> None:
        self.config = config
        self.name = config.name
        self.metrics = metrics
        self.variants = {
            v.name: VariantRuntime(config.name, v.name, v.alias, v.shadow, metrics) for v in config.variants
        }
        self.primary = [v for v in self.variants.values() if not v.shadow]
        self.shadows = [v for v in self.variants.values() if v.shadow]
        self.order = [v.name for v in self.primary]
        self.state = ModelState(revision=0, weights=config.initial_weights())
        self.router = Router(self.order, self.state.weights)
        self.shadow: ShadowRunner | None = (
            ShadowRunner(config.name, self.shadows, metrics, config.shadow_queue_size)
            if self.shadows
            else None
        )
        self.desired: dict[str, str] = {}
        self.load_started_at: float = time.time()
        self.set_weights(self.state.weights)

    @property
    def aliases(self) -> dict[str, list[VariantRuntime]]:
        """Variants grouped by alias."""
        grouped: dict[str, list[VariantRuntime]] = {}
        for variant in self.variants.values():
            grouped.setdefault(variant.alias, []).append(variant)
        return grouped

    def set_weights(self, weights: dict[str, int]) -> None:
        """Route by these weights from now on."""
        primary_weights = {name: int(weights.get(name, 0)) for name in self.order}
        if sum(primary_weights.values()) <= 0:
            primary_weights = {name: (100 if i == 0 else 0) for i, name in enumerate(self.order)}
        self.router = Router(self.order, primary_weights)
        self.state.weights = dict(primary_weights)
        for name in self.variants:
            self.metrics.weight.labels(self.name, name).set(primary_weights.get(name, 0))

    def apply(self, state: ModelState) -> None:
        """Take weights, slot and canary state from the store."""
        if state.weights != self.state.weights:
            self.set_weights(state.weights)
        weights = self.state.weights
        self.state = state
        self.state.weights = weights
        self.metrics.canary_step.labels(self.name).set(state.canary_step)

    def choose(self, key: str | None, pinned: str | None) -> VariantRuntime | None:
        """The loaded variant that answers this request (falls back to another loaded primary)."""
        if pinned is not None:
            return self.variants[pinned]
        variant = self.variants[self.router.pick(key)]
        if variant.model is not None:
            return variant
        for name in self.order:
            other = self.variants[name]
            if other.model is not None and self.state.weights.get(name, 0) > 0:
                return other
        return next((v for v in self.primary if v.model is not None), None)

    def serving_version(self, version: str) -> VariantRuntime | None:
        """A variant with weight that serves `version` (the Open Inference Protocol's version routes)."""
        for variant in self.primary:
            loaded = variant.model
            weight = self.state.weights.get(variant.name, 0)
            if loaded is not None and loaded.version == version and weight > 0:
                return variant
        return None

    def missing(self) -> list[str]:
        """What keeps this model from being ready, one line per variant."""
        lines = []
        for variant in self.variants.values():
            if variant.model is None:
                why = variant.last_error or "not loaded yet"
                lines.append(f"{self.name}/{variant.name} (alias {variant.alias}): {why}")
        return lines
