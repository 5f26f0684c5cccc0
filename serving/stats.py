"""Request statistics that merge across replicas: counters and a latency sketch per time slot.

A `Summary` counts requests by outcome (2xx, 4xx, 5xx) and keeps latencies in logarithmic bins with
a fixed relative accuracy (the DDSketch layout), so two summaries merge by adding bins and any
quantile of the merged fleet is within `RELATIVE_ACCURACY` of the exact one. A `Window` keeps one
summary per time slot in a ring: recording is O(1) and a window summary costs O(slots x bins), never
O(requests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

RELATIVE_ACCURACY = 0.02
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
LOG_GAMMA = math.log(GAMMA)
MIN_SECONDS = 1e-6
SLOTS = 30


def bin_of(seconds: float) -> int:
    """Latency bin of a duration (bin 0 holds everything up to a microsecond)."""
    if seconds <= MIN_SECONDS:
        return 0
    return math.ceil(math.log(seconds / MIN_SECONDS) / LOG_GAMMA)


def seconds_of(index: int) -> float:
    """Representative duration of a bin (within RELATIVE_ACCURACY of every value in it)."""
    if index <= 0:
        return MIN_SECONDS
    return MIN_SECONDS * GAMMA**index * 2 / (1 + GAMMA)


@dataclass
class Summary:
    """Requests by outcome and their latency bins; mergeable and JSON-serialisable."""

    requests: int = 0
    client_errors: int = 0
    server_errors: int = 0
    latency: dict[int, int] = field(default_factory=dict)

    def add(self, seconds: float, status: int) -> None:
        """Count one answered request."""
        self.requests += 1
        if 400 <= status < 500:
            self.client_errors += 1
        elif status >= 500:
            self.server_errors += 1
        index = bin_of(seconds)
        self.latency[index] = self.latency.get(index, 0) + 1

    def merge(self, other: Summary) -> Summary:
        """Add `other` into this summary; returns self."""
        self.requests += other.requests
        self.client_errors += other.client_errors
        self.server_errors += other.server_errors
        for index, count in other.latency.items():
            self.latency[index] = self.latency.get(index, 0) + count
        return self

    @property
    def errors(self) -> int:
        """4xx and 5xx answers."""
        return self.client_errors + self.server_errors

    @property
    def error_rate(self) -> float:
        """Errors (4xx and 5xx) per request; 0 without requests."""
        return self.errors / self.requests if self.requests else 0.0

    def quantile(self, q: float) -> float | None:
        """Latency quantile in seconds (None without requests)."""
        total = sum(self.latency.values())
        if not total:
            return None
        rank = q * (total - 1)
        seen = 0
        for index in sorted(self.latency):
            seen += self.latency[index]
            if seen > rank:
                return seconds_of(index)
        return seconds_of(max(self.latency))

    @property
    def p99_ms(self) -> float | None:
        """99th percentile latency in milliseconds."""
        value = self.quantile(0.99)
        return None if value is None else value * 1000

    def as_json(self) -> dict[str, Any]:
        """Compact form for the state store."""
        return {
            "requests": self.requests,
            "4xx": self.client_errors,
            "5xx": self.server_errors,
            "latency": [[index, count] for index, count in sorted(self.latency.items())],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Summary:
        """Inverse of `as_json` (tolerates missing keys)."""
        return cls(
            requests=int(data.get("requests", 0)),
            client_errors=int(data.get("4xx", 0)),
            server_errors=int(data.get("5xx", 0)),
            latency={int(i): int(c) for i, c in data.get("latency", [])},
        )

    def brief(self) -> dict[str, Any]:
        """Figures for status pages and messages."""
        p99 = self.p99_ms
        return {
            "requests": self.requests,
            "4xx": self.client_errors,
            "5xx": self.server_errors,
            "error_rate": round(self.error_rate, 4),
            "p99_ms": None if p99 is None else round(p99, 3),
        }


class Window:
    """Summaries of the last `seconds` in `SLOTS` time slots (a ring; old slots are reused)."""

    __slots__ = ("_index", "_slots", "seconds", "width")

    def __init__(self, seconds: float, slots: int = SLOTS) -> None:
        self.seconds = seconds
        self.width = seconds / slots
        self._slots = [Summary() for _ in range(slots + 1)]
        self._index = [-1] * (slots + 1)

    def add(self, now: float, seconds: float, status: int) -> None:
        """Count one request answered at `now` (monotonic seconds)."""
        tick = int(now // self.width)
        position = tick % len(self._slots)
        if self._index[position] != tick:
            self._slots[position] = Summary()
            self._index[position] = tick
        self._slots[position].add(seconds, status)

    def summary(self, now: float) -> Summary:
        """Merged summary of the slots inside the window ending at `now`."""
        tick = int(now // self.width)
        oldest = tick - len(self._slots) + 1
        merged = Summary()
        for position, index in enumerate(self._index):
            if oldest <= index <= tick:
                merged.merge(self._slots[position])
        return merged

    def cells(self) -> int:
        """Latency bins held in memory (bounded by slots x bins, whatever the request count)."""
        return sum(len(s.latency) for s in self._slots)
