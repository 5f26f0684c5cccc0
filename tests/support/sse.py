"""Parse a text/event-stream body (as the control API sends it) into events."""

import json
from typing import Any


def parse_sse(text: str) -> list[dict[str, Any]]:
    """Events with data: their id (int), event type, and data parsed as JSON; comments are skipped."""
    out = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key] = value.removeprefix(" ")
        if "data" in fields:
            out.append(
                {"id": int(fields["id"]), "event": fields["event"], "data": json.loads(fields["data"])}
            )
    return out
