"""What one replica serves now: the loaded version of every variant, its counters and its window.

The prediction path reads these objects (`ModelRuntime.choose`, `VariantRuntime.model`,
`VariantRuntime.record`); the model repository swaps versions in, the traffic policy sets weights.
"""

from __future__ import annotations

from typing import Any

from serving.clock import Clock
from serving.config import ModelConfig
from serving.metrics import CODE_CLASSES, Metrics
from serving.model import LoadedModel
from serving.routing import Router
from serving.shadow import ShadowRunner
from serving.stats import Summary, Window

DEFAULT_WINDOW_SECONDS = 60.0


class VariantRuntime:
    """One variant: the model it serves now and what it has answered."""

    __slots__ = (
        "_children",
        "alias",
        "client_errors",
        "clock",
        "errors",
        "http",
        "last_error",
        "metrics",
        "model",
        "model_name",
        "name",
        "requests",
        "shadow",
        "window",
        "window_seconds",
    )

    def __init__(
        self,
        model_name: str,
        name: str,
        alias: str,
        shadow: bool,
        metrics: Metrics,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        clock: Clock | None = None,
    ) -> None:
        self.model_name = model_name
        self.name = name
        self.alias = alias
        self.shadow = shadow
        self.metrics = metrics
        self.clock = clock or Clock()
        self.window_seconds = window_seconds
        self.model: LoadedModel | None = None
        self.requests = 0
        self.errors = 0
        self.client_errors = 0
        self.last_error: str | None = None
        self.window = Window(window_seconds)
        self._children: tuple[Any, ...] | None = None
        self.http: tuple[Any, ...] | None = None

    def swap(self, model: LoadedModel) -> LoadedModel | None:
        """Serve `model` from now on (one reference assignment: atomic for requests in flight)."""
        previous = self.model
        labels = (self.model_name, self.name, model.version)
        children = (
            self.metrics.requests.labels(*labels),
            self.metrics.errors.labels(*labels),
            self.metrics.latency.labels(*labels),
            self.metrics.client_errors.labels(*labels),
        )
        if previous is not None and previous.version != model.version:
            self.metrics.forget_version(self.model_name, self.name, previous.version)
        self.metrics.loaded.labels(*labels).set(1)
        self._children = children
        self.http = tuple(self.metrics.http.labels(*labels, cls) for cls in CODE_CLASSES)
        if previous is None or previous.version != model.version:
            self.window = Window(self.window_seconds)  # a new version starts with a clean window
        self.model = model
        self.last_error = None
        return previous

    def record(self, seconds: float, status: int = 200) -> None:
        """Count one request answered by this variant with HTTP `status` after `seconds` in the gateway."""
        self.requests += 1
        self.window.add(self.clock.monotonic(), seconds, status)
        children = self._children
        if children is not None:
            children[0].inc()
            children[2].observe(seconds)
            if status >= 500:
                children[1].inc()
            elif status >= 400:
                children[3].inc()
        if status >= 500:
            self.errors += 1
        elif status >= 400:
            self.client_errors += 1

    def summary(self) -> Summary:
        """This replica's window of the version it serves now."""
        return self.window.summary(self.clock.monotonic())

    @property
    def version(self) -> str | None:
        """The version served now (None before the first load)."""
        model = self.model
        return model.version if model is not None else None


class ModelRuntime:
    """One configured model: its variants, its router and its shadow runner."""

    def __init__(self, config: ModelConfig, metrics: Metrics, clock: Clock | None = None) -> None:
        self.config = config
        self.name = config.name
        self.metrics = metrics
        window = config.canary.gates.window_seconds if config.canary else DEFAULT_WINDOW_SECONDS
        self.variants = {
            v.name: VariantRuntime(config.name, v.name, v.alias, v.shadow, metrics, window, clock)
            for v in config.variants
        }
        self.primary = [v for v in self.variants.values() if not v.shadow]
        self.shadows = [v for v in self.variants.values() if v.shadow]
        self.order = [v.name for v in self.primary]
        self.aliases: dict[str, list[VariantRuntime]] = {}
        for variant in self.variants.values():
            self.aliases.setdefault(variant.alias, []).append(variant)
        metrics.declare(config.name, list(self.aliases), config.strategy == "canary")
        self.weights: dict[str, int] = {}
        self.router = Router(self.order, {self.order[0]: 100})
        self.shadow: ShadowRunner | None = (
            ShadowRunner(config.name, self.shadows, metrics, config.shadow_queue_size)
            if self.shadows
            else None
        )
        weights = config.initial_weights()
        self.set_weights({name: weights.get(name, 0) for name in self.order})

    def set_weights(self, weights: dict[str, int]) -> None:
        """Route by these weights from now on (all zero: everything to the first variant)."""
        primary = {name: int(weights.get(name, 0)) for name in self.order}
        if sum(primary.values()) <= 0:
            primary = {name: (100 if i == 0 else 0) for i, name in enumerate(self.order)}
        if primary == self.weights:
            return
        self.router = Router(self.order, primary)
        self.weights = primary
        for name in self.variants:
            self.metrics.weight.labels(self.name, name).set(primary.get(name, 0))

    def choose(self, key: str | None, pinned: str | None) -> VariantRuntime | None:
        """The loaded variant that answers this request (falls back to another loaded primary)."""
        if pinned is not None:
            return self.variants[pinned]
        variant = self.variants[self.router.pick(key)]
        if variant.model is not None:
            return variant
        for name in self.order:
            other = self.variants[name]
            if other.model is not None and self.weights.get(name, 0) > 0:
                return other
        return next((v for v in self.primary if v.model is not None), None)

    def serving_version(self, version: str) -> VariantRuntime | None:
        """A variant with weight that serves `version` (the Open Inference Protocol's version routes)."""
        for variant in self.primary:
            loaded = variant.model
            weight = self.weights.get(variant.name, 0)
            if loaded is not None and loaded.version == version and weight > 0:
                return variant
        return None

    def missing(self) -> list[str]:
        """Variants with nothing loaded, one line each."""
        lines = []
        for variant in self.variants.values():
            if variant.model is None:
                why = variant.last_error or "not loaded yet"
                lines.append(f"{self.name}/{variant.name} (alias {variant.alias}): {why}")
        return lines
