"""Slack incoming-webhook notifications (Block Kit); an outage of Slack never affects serving."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from loguru import logger

ICONS = {
    "promotion": ":rocket:",
    "rollback": ":rewind:",
    "canary_abort": ":no_entry:",
    "reload_failed": ":warning:",
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
