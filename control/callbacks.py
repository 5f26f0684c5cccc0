"""Callback delivery: POST each due outbox row's event to its URL, signed, until the receiver answers 2xx
or the retry time runs out. At least once: a delivery is marked done only after the 2xx, so a crash
between the two sends it again; receivers drop an event id they have seen (docs/control.md)."""

import json
import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from loguru import logger
from sqlalchemy.engine import RowMapping

from control.settings import ControlSettings
from control.signing import DELIVERY_HEADER, EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, sign
from control.store import Database, Fence
from control.store import deliveries as delivery_rows
from control.store import events as event_log
from control.timeutil import iso, now

USER_AGENT = "gitops-mlops-control/1"


def payload(event: event_log.Event) -> bytes:
    """The callback body: the event id and type, when it happened, and the job as it was then."""
    body: dict[str, Any] = {"event_id": event.id, "type": event.type, "at": iso(event.at), **event.data}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def backoff(settings: ControlSettings, attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones: doubling, capped, with jitter."""
    base = min(settings.callback_backoff_max_seconds, settings.callback_backoff_initial_seconds * 2**attempts)
    return base * random.uniform(0.8, 1.0)


class Dispatcher:
    """Sends due deliveries (the lease holder only), a few at a time."""

    def __init__(self, settings: ControlSettings, db: Database, transport: httpx.BaseTransport | None = None):
        self.settings = settings
        self.db = db
        self._http = httpx.Client(
            timeout=settings.callback_timeout_seconds,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            transport=transport,
        )
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="control-callback")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._http.close()

    def deliver_due(self, fence: Fence, limit: int = 16) -> int:
        """Attempt every due delivery once; the number attempted."""
        with self.db.read() as conn:
            due = delivery_rows.due(conn, now(), limit)
        if not due:
            return 0
        with self.db.write(fence):
            pass  # still the lease holder (else LeaseLost): a replica that lost it sends nothing
        for future in [self._pool.submit(self._attempt, row, fence) for row in due]:
            future.result()
        return len(due)

    def _send(self, row: RowMapping, event: event_log.Event) -> tuple[bool, dict[str, Any]]:
        body = payload(event)
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: str(event.id),
            EVENT_TYPE_HEADER: event.type,
            DELIVERY_HEADER: f"{row['id']}.{row['attempts'] + 1}",
            SIGNATURE_HEADER: sign(self.settings.signing_secrets(), body),
        }
        started = now()
        attempt: dict[str, Any] = {"at": iso(started)}
        try:
            response = self._http.post(row["url"], content=body, headers=headers)
        except httpx.HTTPError as error:
            attempt.update(error=f"{type(error).__name__}: {error}"[:300], status=None)
            return False, attempt
        finally:
            attempt["duration_ms"] = round((now() - started) * 1000, 1)
        attempt["status"] = response.status_code
        if 200 <= response.status_code < 300:
            return True, attempt
        attempt["error"] = (
            "redirects are not followed" if 300 <= response.status_code < 400 else response.text[:200]
        )
        return False, attempt

    def _attempt(self, row: RowMapping, fence: Fence) -> None:
        with self.db.read() as conn:
            event = event_log.get(conn, row["event_id"])
        if event is None:
            logger.error("delivery {}: event {} is missing", row["id"], row["event_id"])
            return
        if not self.settings.signing_secrets():
            ok, attempt = (
                False,
                {"at": iso(now()), "status": None, "error": "no CALLBACK_SIGNING_SECRETS set"},
            )
        else:
            ok, attempt = self._send(row, event)
        at = now()
        with self.db.write(fence) as conn:
            current = delivery_rows.get(conn, row["id"], lock=True)
            if current is None or current["state"] != delivery_rows.PENDING:
                return
            if ok:
                delivery_rows.record(conn, current, attempt, delivery_rows.DELIVERED, at, delivered_at=at)
                event_log.append(
                    conn,
                    "callback.delivered",
                    {"delivery_id": row["id"], "event_id": event.id, "url": row["url"], **attempt},
                    job_id=row["job_id"],
                )
                return
            if at >= current["deadline_at"]:
                delivery_rows.record(conn, current, attempt, delivery_rows.FAILED, at)
                event_log.append(
                    conn,
                    "callback.failed",
                    {
                        "delivery_id": row["id"],
                        "event_id": event.id,
                        "url": row["url"],
                        "attempts": current["attempts"] + 1,
                        **attempt,
                    },
                    job_id=row["job_id"],
                )
                logger.warning(
                    "delivery {} to {} given up after {} attempts",
                    row["id"],
                    row["url"],
                    current["attempts"] + 1,
                )
                return
            retry_at = min(at + backoff(self.settings, current["attempts"]), current["deadline_at"])
            delivery_rows.record(conn, current, attempt, delivery_rows.PENDING, retry_at)
