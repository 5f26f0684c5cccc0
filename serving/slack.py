"""Slack incoming-webhook notifications (Block Kit), a subscriber of the event log.

An outage of Slack never affects serving."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from loguru import logger

from serving.explore import LogLinks

ICONS = {
    "promotion": ":rocket:",
    "rollback": ":rewind:",
    "canary_abort": ":no_entry:",
    "reload_failed": ":warning:",
    "promote_failed": ":warning:",
    "rollback_failed": ":warning:",
    "promote_compensated": ":leftwards_arrow_with_hook:",
    "rollback_compensated": ":leftwards_arrow_with_hook:",
}


def blocks(kind: str, title: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Block Kit message with a header and one field per item."""
    text = f"{ICONS.get(kind, ':information_source:')} {title}"
    return {
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": text[:150]}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{key}*\n{value}"}
                    for key, value in list(fields.items())[:10]
                ],
            },
        ],
    }


class Slack:
    """Fire-and-forget poster; without a webhook URL it only logs."""

    def __init__(self, url: str | None, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self._tasks: set[asyncio.Task[None]] = set()

    def notify(self, kind: str, title: str, **fields: Any) -> None:
        """Queue one message; returns at once."""
        message = blocks(kind, title, fields)
        logger.bind(kind=kind, **{k: str(v) for k, v in fields.items()}).info(title)
        if not self.url:
            return
        task = asyncio.get_running_loop().create_task(self._post(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, message: dict[str, Any]) -> None:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(self.url or "", json=message)
            if response.status_code >= 400:
                logger.warning("slack webhook answered {}", response.status_code)
        except Exception as error:
            logger.warning("slack webhook failed: {}", error)

    async def drain(self) -> None:
        """Wait for messages in flight (shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.timeout)


def _versions(data: dict[str, Any]) -> str:
    return f"{data.get('from_version')} → {data.get('to_version')}"


def message(item: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(title, fields) of the Slack message for an event, or None when the event is not announced."""
    kind, model, data = item["type"], item.get("model"), item["data"]
    alias, by = data.get("alias"), data.get("actor")
    if kind == "promotion":
        title = f"Promoted {model} version {data.get('to_version')} to {alias}"
        return title, {"model": model, "alias": alias, "versions": _versions(data), "by": by}
    if kind == "rollback":
        title = f"Rolled back {model} alias {alias} to version {data.get('to_version')}"
        return title, {"model": model, "alias": alias, "versions": _versions(data), "by": by}
    if kind in ("promote_failed", "rollback_failed"):
        what = "Promotion" if kind == "promote_failed" else "Rollback"
        title = f"{what} failed: {model} alias {alias}, moving it back to version {data.get('from_version')}"
        return title, {
            "model": model,
            "alias": alias,
            "versions": _versions(data),
            "reason": data.get("reason"),
        }
    if kind in ("promote_compensated", "rollback_compensated"):
        title = f"Compensated: {model} alias {alias} is back on version {data.get('from_version')}"
        return title, {"model": model, "alias": alias, "reason": data.get("reason"), "by": by}
    if kind == "canary_abort":
        canary, baseline = data.get("canary") or {}, data.get("baseline") or {}
        title = f"Canary aborted: {model} version {data.get('version')}"
        return title, {
            "model": model,
            "variant": data.get("variant"),
            "version": data.get("version"),
            "reason": data.get("reason"),
            "requests": canary.get("requests"),
            "error_rate": canary.get("error_rate"),
            "p99_ms": canary.get("p99_ms"),
            "baseline_p99_ms": baseline.get("p99_ms"),
        }
    if kind == "reload_failed":
        title = f"Reload failed: {model} alias {alias}"
        fields = {
            "model": model,
            "alias": alias,
            "version": data.get("version"),
            "serving": data.get("serving"),
        }
        return title, {**fields, "reason": data.get("reason"), "replica": item.get("replica")}
    return None


class SlackNotifier:
    """Event-log subscriber: announces promotions, rollbacks, compensations, aborts and load failures."""

    def __init__(self, slack: Slack, links: LogLinks | None = None) -> None:
        self.slack = slack
        self.links = links or LogLinks(None)

    def __call__(self, item: dict[str, Any]) -> None:
        found = message(item)
        if found is not None:
            title, fields = found
            link = self.links.for_event(item)
            if link:
                fields["logs"] = f"<{link}|Grafana Explore>"
            self.slack.notify(item["type"], title, **{k: v for k, v in fields.items() if v is not None})
