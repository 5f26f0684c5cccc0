"""Shadow traffic: copies of primary requests replayed on shadow variants, off the response path.

A bounded queue feeds one worker thread; a full queue drops the copy (counted), so shadows never slow
or fail the primary. Agreement is counted per row: equal labels, or close numbers for regressions.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class ShadowTarget(Protocol):
    """What the runner needs of a shadow variant: its name and the model it serves now."""

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> Any: ...


@dataclass
class ShadowStats:
    """Comparison totals of one shadow variant."""

    compared: int = 0
    rows: int = 0
    agreeing: int = 0
    errors: int = 0
    dropped: int = 0
    shadow_seconds: float = 0.0
    primary_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Status view."""
        return {
            "compared_requests": self.compared,
            "compared_rows": self.rows,
            "agreement": round(self.agreeing / self.rows, 4) if self.rows else None,
            "errors": self.errors,
            "dropped": self.dropped,
            "shadow_mean_ms": round(1000 * self.shadow_seconds / self.compared, 3) if self.compared else None,
            "primary_mean_ms": round(1000 * self.primary_seconds / self.compared, 3)
            if self.compared
            else None,
        }


def agreeing_rows(primary: Any, shadow: Any) -> tuple[int, int]:
    """(rows compared, rows equal) between two prediction outputs."""
    a, b = np.asarray(primary), np.asarray(shadow)
    rows = len(a) if a.ndim else 1
    if a.shape != b.shape:
        return rows, 0
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        equal = np.isclose(a, b, rtol=1e-6, atol=1e-9)
    else:
        equal = a == b
    if equal.ndim > 1:
        equal = equal.reshape(len(equal), -1).all(axis=1)
    return rows, int(np.count_nonzero(equal))


class ShadowRunner:
    """Worker thread replaying requests on the shadow variants of one model."""

    def __init__(self, model: str, shadows: Sequence[ShadowTarget], metrics: Any, size: int) -> None:
        self.model = model
        self.shadows = shadows
        self.metrics = metrics
        self.stats = {v.name: ShadowStats() for v in shadows}
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=size)
        self._thread = threading.Thread(target=self._work, name=f"shadow-{model}", daemon=True)
        self._thread.start()

    def submit(self, request: Any, primary: Any, primary_seconds: float) -> None:
        """Queue a copy of a decoded request; drop it when the queue is full."""
        try:
            self._queue.put_nowait((request, primary, primary_seconds))
        except queue.Full:
            for variant in self.shadows:
                self.stats[variant.name].dropped += 1
                self.metrics.shadow_dropped.labels(self.model, variant.name).inc()

    def stop(self) -> None:
        """Finish the queued copies and end the thread."""
        self._queue.put(None)
        self._thread.join(timeout=5)

    def join(self) -> None:
        """Wait until every queued copy was compared (tests)."""
        self._queue.join()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                for variant in self.shadows:
                    self._compare(variant, *item)
            finally:
                self._queue.task_done()

    def _compare(self, variant: ShadowTarget, request: Any, primary: Any, seconds: float) -> None:
        model = variant.model
        if model is None:
            return
        stats = self.stats[variant.name]
        started = time.perf_counter()
        try:
            output = model.predict(model.prepare(request))
        except Exception:
            stats.errors += 1
            self.metrics.shadow_errors.labels(self.model, variant.name).inc()
            return
        elapsed = time.perf_counter() - started
        rows, agree = agreeing_rows(primary, output)
        stats.compared += 1
        stats.rows += rows
        stats.agreeing += agree
        stats.shadow_seconds += elapsed
        stats.primary_seconds += seconds
        labels = (self.model, variant.name)
        self.metrics.shadow_rows.labels(*labels).inc(rows)
        self.metrics.shadow_agree.labels(*labels).inc(agree)
        self.metrics.shadow_agreement.labels(*labels).set(stats.agreeing / stats.rows if stats.rows else 0)
        self.metrics.shadow_latency.labels(*labels).observe(elapsed)
