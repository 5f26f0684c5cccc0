"""The fleet's event log: every replica appends to the store's event table; `/v1/events` reads it.

`publish` hands an event to the local subscribers (Slack, logs) at once and queues it for the store;
`flush` appends the queue in one transaction, with the audit entry the audit subscriber derived from
each event. While the store is down events wait in a bounded queue and are written when it returns.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import orjson
from loguru import logger

from serving.clock import Clock
from serving.store import STORE_ERRORS, Store

MAX_PENDING = 10_000
BACKGROUND_ACTORS = ("resolver", "sync")
# event type -> audited action; `ok` is false for failures and refusals
AUDITED = {
    "reload": "reload",
    "reload_failed": "reload",
    "traffic": "traffic",
    "switch": "switch",
    "promotion_started": "promote",
    "promotion": "promotion",
    "promote_failed": "promotion",
    "promote_compensated": "compensation",
    "rollback_started": "rollback",
    "rollback": "rollback_done",
    "rollback_failed": "rollback_done",
    "rollback_compensated": "compensation",
    "canary_start": "canary_start",
    "canary_advance": "canary_advance",
    "canary_abort": "canary_abort",
    "canary_promote": "canary_promote",
    "alias_moved": "alias_moved",
    "admin_refused": "admin_refused",
    "model_declared": "model_declared",
    "model_deleted": "model_deleted",
}

Event = dict[str, Any]


def audit_entry(item: Event) -> dict[str, Any] | None:
    """The audit log entry of an event, or None for events that are not audited."""
    kind = item["type"]
    data = item["data"]
    action = AUDITED.get(kind)
    if action is None or (kind == "reload_failed" and data.get("actor") in BACKGROUND_ACTORS):
        return None
    if kind == "admin_refused":
        action = data.get("action", action)
    ok = not kind.endswith(("_failed", "_refused"))
    actor = data.get("actor") or ("canary" if kind.startswith("canary_") else None)
    return {"action": action, "ok": ok, "actor": actor, "detail": data}


class EventLog:
    """Publishes this replica's events and reads the whole fleet's back from the store."""

    def __init__(self, store: Store, replica: str, clock: Clock) -> None:
        self.store = store
        self.replica = replica
        self.clock = clock
        self.dropped = 0
        self._subscribers: list[Callable[[Event], None]] = [self._audit]
        self._pending: list[tuple[int, Event]] = []
        self._seq = itertools.count(1)
        self._warned = False
        self._flushing = asyncio.Lock()

    def subscribe(self, handler: Callable[[Event], None]) -> None:
        """Call `handler` with every event this replica publishes."""
        self._subscribers.append(handler)

    def publish(self, kind: str, model: str | None = None, **data: Any) -> Event:
        """Send one event to the subscribers and queue it for the store."""
        item: Event = {
            "type": kind,
            "model": model,
            "at": self.clock.now(),
            "replica": self.replica,
            "data": data,
        }
        for handler in self._subscribers:
            try:
                handler(item)
            except Exception as error:
                logger.warning("event subscriber failed on {}: {}", kind, error)
        self._pending.append((next(self._seq), item))
        if len(self._pending) > MAX_PENDING:
            self.dropped += len(self._pending) - MAX_PENDING
            del self._pending[:-MAX_PENDING]
        return item

    @staticmethod
    def _audit(item: Event) -> None:
        item["audit"] = audit_entry(item)

    @property
    def pending(self) -> int:
        """Events not in the store yet."""
        return len(self._pending)

    async def flush(self) -> None:
        """Append the queued events to the store (kept for the next try when it is down)."""
        async with self._flushing:
            await self._flush()

    async def _flush(self) -> None:
        if not self._pending:
            return
        batch = list(self._pending)
        try:
            await self.store.run(self.store.append, [item for _, item in batch])
        except STORE_ERRORS as error:
            if not self._warned:
                logger.warning("{} events wait for the state store: {}", len(batch), error)
                self._warned = True
            return
        self._warned = False
        last = batch[-1][0]
        self._pending = [(seq, item) for seq, item in self._pending if seq > last]

    async def after(self, last_id: int, limit: int = 500) -> list[Event]:
        """Stored events of every replica with an id above `last_id`, oldest first."""
        rows = await self.store.run(self.store.events_after, last_id, limit)
        return [self.row(r) for r in rows]

    async def recent(self, count: int) -> list[Event]:
        """The newest `count` stored events, oldest first."""
        rows = await self.store.run(self.store.recent_events, count) if count else []
        return [self.row(r) for r in rows]

    @staticmethod
    def row(row: dict[str, Any]) -> Event:
        """A stored event as the stream sends it."""
        return {
            "id": row["id"],
            "type": row["type"],
            "time": row["at"],
            "replica": row["replica"],
            "model": row["model"],
            **dict(row["data"] or {}),
        }

    @staticmethod
    def format(item: Event) -> bytes:
        """One Server-Sent Events frame."""
        return b"id: %d\nevent: %s\ndata: %s\n\n" % (item["id"], item["type"].encode(), orjson.dumps(item))
