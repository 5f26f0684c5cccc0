"""The local stack's StatsD exporter: Airflow's StatsD packets in (UDP), Prometheus metrics out (HTTP).

In the cluster the official Airflow chart runs the Prometheus StatsD exporter; Debian has no package of
it and this machine reaches no other binary source, so the local stack runs this one. It reads the
same mapping (`statsd.overrideMappings` in charts/airflow/values/base.yaml) and follows the exporter's
rules for what the mapping uses: a glob `match` (`*` is one dot-separated part, `$n` its value),
`observer_type: histogram` with `histogram_options.buckets`, timers in milliseconds exported in
seconds, an unmapped name exported with every character outside `[a-zA-Z0-9_]` as `_`, unmapped
timers as summaries (count and sum), counters and gauges (`+n`/`-n`: a change) under their own name.

Usage: python -m ops.local.airflow.statsd --host 127.0.0.1 --udp-port 9125 --http-port 9102
"""

from __future__ import annotations

import argparse
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import start_http_server
from prometheus_client.core import (
    REGISTRY,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.registry import Collector

from ops.local.stack.settings import REPO_ROOT

MAPPING_FILE = REPO_ROOT / "charts" / "airflow" / "values" / "base.yaml"
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
INVALID = re.compile(r"[^a-zA-Z0-9_]")


@dataclass(frozen=True)
class Rule:
    """One mapping entry: a glob over dot-separated parts, the name and labels it gives."""

    pattern: re.Pattern[str]
    name: str
    labels: dict[str, str]
    histogram: bool
    buckets: tuple[float, ...]

    def apply(self, metric: str) -> tuple[str, dict[str, str]] | None:
        found = self.pattern.fullmatch(metric)
        if found is None:
            return None
        groups = found.groups()

        def fill(text: str) -> str:
            return re.sub(r"\$\{?(\d+)\}?", lambda m: groups[int(m.group(1)) - 1], text)

        return fill(self.name), {key: fill(value) for key, value in self.labels.items()}


def load_rules(path: Path = MAPPING_FILE) -> list[Rule]:
    """The mapping of the Airflow values file (`statsd.overrideMappings`), in order (first match wins)."""
    values = yaml.safe_load(path.read_text())
    rules = []
    for entry in values["statsd"]["overrideMappings"]:
        if entry.get("match_type", "glob") != "glob":
            raise ValueError(f"{path}: only glob mappings are supported here, not {entry['match']!r}")
        parts = [r"([^.]*)" if part == "*" else re.escape(part) for part in entry["match"].split(".")]
        buckets = entry.get("histogram_options", {}).get("buckets", DEFAULT_BUCKETS)
        rules.append(
            Rule(
                re.compile(r"\.".join(parts)),
                entry["name"],
                {str(k): str(v) for k, v in entry.get("labels", {}).items()},
                entry.get("observer_type") == "histogram",
                tuple(float(b) for b in buckets),
            )
        )
    return rules


Key = tuple[str, tuple[tuple[str, str], ...]]


@dataclass
class Observations:
    """What one timer series has seen: bucket counts (histograms), count and sum."""

    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    count: int = 0
    total: float = 0.0

    def add(self, value: float) -> None:
        if not self.counts:
            self.counts = [0] * len(self.buckets)
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
        self.count += 1
        self.total += value


class Exporter(Collector):
    """The state of every series, updated by StatsD lines and collected by Prometheus scrapes."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.lock = threading.Lock()
        self.counters: dict[Key, float] = {}
        self.gauges: dict[Key, float] = {}
        self.timers: dict[Key, Observations] = {}
        self.histograms: set[str] = set()

    def handle(self, packet: str) -> None:
        """Apply every StatsD line of one packet (bad lines are skipped, as the exporter does)."""
        for line in packet.splitlines():
            try:
                self._line(line.strip())
            except (ValueError, IndexError):
                continue

    def _line(self, line: str) -> None:
        if not line:
            return
        name, rest = line.split(":", 1)
        fields = rest.split("|")
        raw, kind = fields[0], fields[1]
        rate = next((float(f[1:]) for f in fields[2:] if f.startswith("@")), 1.0)
        metric, labels, rule = self._map(name)
        key: Key = (metric, tuple(sorted(labels.items())))
        with self.lock:
            if kind == "c":
                self.counters[key] = self.counters.get(key, 0.0) + float(raw) / (rate or 1.0)
            elif kind == "g":
                delta = raw[0] in "+-"
                self.gauges[key] = (self.gauges.get(key, 0.0) if delta else 0.0) + float(raw)
            elif kind in ("ms", "h", "d"):
                seconds = float(raw) / 1000 if kind == "ms" else float(raw)
                histogram = rule is not None and rule.histogram
                buckets = rule.buckets if histogram and rule is not None else ()
                if histogram:
                    self.histograms.add(metric)
                self.timers.setdefault(key, Observations(buckets)).add(seconds)

    def _map(self, name: str) -> tuple[str, dict[str, str], Rule | None]:
        for rule in self.rules:
            mapped = rule.apply(name)
            if mapped is not None:
                return mapped[0], mapped[1], rule
        return INVALID.sub("_", name), {}, None

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            counters, gauges = dict(self.counters), dict(self.gauges)
            timers = {k: (v.buckets, list(v.counts), v.count, v.total) for k, v in self.timers.items()}
        yield from _families(counters, lambda n, keys: UnknownMetricFamily(n, "StatsD counter", labels=keys))
        yield from _families(gauges, lambda n, keys: GaugeMetricFamily(n, "StatsD gauge", labels=keys))
        by_name: dict[str, list[tuple[dict[str, str], Any]]] = {}
        for (name, labels), seen in timers.items():
            by_name.setdefault(name, []).append((dict(labels), seen))
        for name, series in sorted(by_name.items()):
            keys = sorted(series[0][0])
            if name in self.histograms:
                family: Metric = HistogramMetricFamily(name, "StatsD timer (seconds)", labels=keys)
                for labels, (bounds, counts, count, total) in series:
                    buckets = [
                        (_bound(b), c) for b, c in zip(bounds, counts or [0] * len(bounds), strict=True)
                    ]
                    family.add_metric([labels[k] for k in keys], [*buckets, ("+Inf", count)], total)
            else:
                family = SummaryMetricFamily(name, "StatsD timer (seconds)", labels=keys)
                for labels, (_, _, count, total) in series:
                    family.add_metric([labels[k] for k in keys], count, total)
            yield family


def _bound(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def _families(values: dict[Key, float], make: Any) -> Iterator[Metric]:
    by_name: dict[str, list[tuple[dict[str, str], float]]] = {}
    for (name, labels), value in values.items():
        by_name.setdefault(name, []).append((dict(labels), value))
    for name, series in sorted(by_name.items()):
        keys = sorted(series[0][0])
        family = make(name, keys)
        for labels, value in series:
            family.add_metric([labels[k] for k in keys], value)
        yield family


def serve_udp(exporter: Exporter, host: str, port: int) -> None:
    """Read StatsD packets forever."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))
    while True:
        data, _ = sock.recvfrom(65535)
        exporter.handle(data.decode("utf-8", "replace"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="StatsD (UDP) to Prometheus (/metrics) for the local Airflow"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--udp-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--mapping", type=Path, default=MAPPING_FILE)
    args = parser.parse_args(argv)
    exporter = Exporter(load_rules(args.mapping))
    REGISTRY.register(exporter)
    start_http_server(args.http_port, addr=args.host)
    serve_udp(exporter, args.host, args.udp_port)


if __name__ == "__main__":
    main()
