"""In-process event bus behind `GET /v1/events` (Server-Sent Events)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from typing import Any

import orjson


class EventBus:
    """Fan-out of gateway events to SSE subscribers; slow subscribers lose events, never block."""

    def __init__(self, replica: str, history: int = 200) -> None:
        self.replica = replica
        self._ids = itertools.count(1)
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.recent: deque[dict[str, Any]] = deque(maxlen=history)

    def publish(self, kind: str, **data: Any) -> dict[str, Any]:
        """Send one event to every subscriber."""
        item = {"id": next(self._ids), "type": kind, "time": time.time(), "replica": self.replica, **data}
        self.recent.append(item)
        for queue in list(self._subscribers):
            if queue.full():
                continue
            queue.put_nowait(item)
        return item

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """A new subscriber queue."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Drop a subscriber."""
        self._subscribers.discard(queue)

    @staticmethod
    def format(item: dict[str, Any]) -> bytes:
        """One SSE frame."""
        return b"id: %d\nevent: %s\ndata: %s\n\n" % (item["id"], item["type"].encode(), orjson.dumps(item))
