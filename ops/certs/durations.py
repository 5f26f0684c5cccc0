"""Go ``time.ParseDuration`` (the format of cert-manager's ``duration`` and ``renewBefore``)."""

from __future__ import annotations

import datetime as dt
import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> dt.timedelta:
    """``"2160h"``, ``"1h30m"``, ``"90m"``, ``"0"`` → timedelta; ValueError on anything Go would reject."""
    s = text.strip()
    sign = -1 if s.startswith("-") else 1
    s = s.lstrip("+-")
    if s == "0":
        return dt.timedelta(0)
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    pos, seconds = 0, 0.0
    while pos < len(s):
        match = _PART.match(s, pos)
        if match is None:
            raise ValueError(f"invalid duration {text!r}")
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return dt.timedelta(seconds=sign * seconds)


def format_duration(value: dt.timedelta) -> str:
    """Hours as cert-manager manifests usually spell them (``2160h``), minutes when not whole hours."""
    seconds = int(value.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"
