"""Time sources in one place, so tests can drive every timer of a replica with a fake clock."""

from __future__ import annotations

import time


class Clock:
    """Wall time (shared between replicas: records, leases) and monotonic time (windows, back-off)."""

    def now(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        return time.monotonic()
