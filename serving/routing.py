"""Weighted, sticky traffic split between variants.

The key space is cut into BUCKETS buckets laid out as contiguous ranges in variant order, so the
table is a pure function of the weights (every replica routes a key the same way) and a weight change
moves only the keys between the old and the new range boundaries: for two variants exactly the
weight delta, which is the fewest keys any split can move.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence

BUCKETS = 10_000


def key_bucket(key: str) -> int:
    """Stable bucket of a routing key (same on every replica and every run)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


class Router:
    """Picks a variant name for a request from a weight table."""

    __slots__ = ("_table", "names", "weights")

    def __init__(self, order: Sequence[str], weights: Mapping[str, int]) -> None:
        total = sum(max(0, int(weights.get(name, 0))) for name in order)
        if total <= 0:
            raise ValueError("at least one variant needs a positive weight")
        self.names = tuple(order)
        self.weights = {name: int(weights.get(name, 0)) for name in order}
        table: list[str] = []
        cumulative = 0
        for name in order:
            cumulative += max(0, self.weights[name])
            end = round(cumulative * BUCKETS / total)
            table.extend([name] * (end - len(table)))
        self._table = tuple(table)

    def pick(self, key: str | None = None) -> str:
        """The variant for `key` (sticky) or a weighted random one when there is no key."""
        if key is None:
            return self._table[int(random.random() * BUCKETS)]
        return self._table[key_bucket(key)]

    def share(self, name: str) -> float:
        """Fraction of buckets routed to `name`."""
        return self._table.count(name) / BUCKETS
