"""Which metric names a Prometheus text exposition (a /metrics answer) makes queryable.

Read from the text as Prometheus stores it: sample names as written, and names declared by `# TYPE`
lines (prometheus_client declares labelled metrics before their first sample). A histogram or summary
declared as `x` makes `x_bucket`, `x_count` and `x_sum` queryable. prometheus_client's own parser is not
used: it renames counter samples to `<name>_total`, which is not what Prometheus stores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TYPE_LINE = re.compile(r"#\s*TYPE\s+([A-Za-z_:][A-Za-z0-9_:]*)\s+(\w+)")
_SAMPLE_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_SERIES_SUFFIXES = {"histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum")}
_SERIES_SUFFIXES["gaugehistogram"] = ("_bucket", "_gcount", "_gsum")


@dataclass
class Exposition:
    """The names one or more scrapes exported."""

    samples: set[str] = field(default_factory=set)
    types: dict[str, str] = field(default_factory=dict)

    def add(self, text: str) -> None:
        for raw in text.splitlines():
            line = raw.strip()
            if not line:
                continue
            if line.startswith("#"):
                declared = _TYPE_LINE.match(line)
                if declared:
                    self.types[declared.group(1)] = declared.group(2)
                continue
            name = _SAMPLE_NAME.match(line)
            if name:
                self.samples.add(name.group())

    def exports(self, name: str) -> bool:
        """Whether a PromQL selector of `name` would find series (or will, once the metric is observed)."""
        if name in self.samples or name in self.types:
            return True
        for declared, kind in self.types.items():
            if any(name == declared + suffix for suffix in _SERIES_SUFFIXES.get(kind, ())):
                return True
        return False


def parse(*texts: str) -> Exposition:
    exposition = Exposition()
    for text in texts:
        exposition.add(text)
    return exposition
