"""wrk load and its figures (RPS, p50, p99, failures); the median of interleaved rounds."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

WORK = Path(__file__).resolve().parents[1] / "build" / "bench"


@dataclass
class Result:
    """wrk figures of one server."""

    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    failed: int


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def script(name: str, body: str) -> Path:
    """A wrk Lua script POSTing `body` as JSON."""
    path = WORK / f"{name}.lua"
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return path


def wrk(name: str, url: str, body: str, duration: int, connections: int) -> Result:
    """Drive `url` with POSTs of `body`; parse RPS, p50, p99 and failures."""
    lua = script(name, body)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(lua), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    total, failed = counts(out)
    return Result(name, rps, p50, p99, total, failed)


def counts(out: str) -> tuple[int, int]:
    """(requests, failed requests: non-2xx and socket errors) of a wrk report."""
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, errors.groups())) if errors else 0)
    return total, failed


def median_round(rounds: list[Result]) -> Result:
    """The round with the median RPS (its own p50/p99), failures summed over all rounds."""
    ordered = sorted(rounds, key=lambda r: r.rps)
    middle = ordered[len(ordered) // 2]
    return Result(
        middle.name, middle.rps, middle.p50_ms, middle.p99_ms, middle.requests, sum(r.failed for r in rounds)
    )
