"""A variant's request window costs bounded memory and time, however many requests it saw."""

from __future__ import annotations

import tracemalloc

import numpy as np

from serving.metrics import Metrics
from serving.runtime import VariantRuntime


def test_a_variant_window_holds_bounded_memory_whatever_the_request_count():
    """Defect: every variant kept a deque of up to 200k requests that `stats()` walked on the event loop
    (108 ms per call, every second and on each GET /v1/models). Now a ring of per-slot sketches."""
    variant = VariantRuntime("m", "v", "champion", False, Metrics())
    durations = np.random.default_rng(1).lognormal(-6, 0.5, 200_000).tolist()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        for seconds in durations:
            variant.record(seconds, 200)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held - start < 1_000_000, f"{held - start} bytes held for 200k requests"
    assert variant.requests == 200_000
