"""Our charts' Prometheus Operator objects (ServiceMonitor, PrometheusRule), rendered as Argo CD renders
them on a cluster that serves monitoring.coreos.com/v1, for validation against the vendored CRDs.

The main renders leave them out (the templates check `.Capabilities.APIVersions.Has`: a cluster without
the operator still syncs), so they are rendered here once more per chart and environment; these objects
are validated, not part of the first-sync dry run. A chart with alert rules (`rules/`) must render
them into a PrometheusRule, group for group, in some environment.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ci.validate import render
from ci.validate.findings import Finding
from ci.validate.manifests import Manifest, parse_documents
from ci.validate.settings import Settings

GROUP = "monitoring.coreos.com"
APIS = (f"{GROUP}/v1/ServiceMonitor", f"{GROUP}/v1/PrometheusRule")


def _rule_groups(chart_dir: Path) -> list[dict]:
    groups: list[dict] = []
    for path in sorted(chart_dir.glob("rules/*.rules.yaml")):
        groups += yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    return groups


def render_monitoring(s: Settings) -> tuple[list[Manifest], list[Finding]]:
    """The monitoring objects of every chart x environment, and what went wrong rendering them."""
    objects: list[Manifest] = []
    findings: list[Finding] = []
    for chart in render.our_charts(s.repo):
        chart_dir = s.repo / "charts" / chart
        expected = _rule_groups(chart_dir)
        shipped = False
        for env in render.environments(s.repo):
            values = [chart_dir / "values" / "base.yaml", chart_dir / "values" / f"{env['env']}.yaml"]
            source = f"charts/{chart} ({env['env']}, with the Prometheus Operator's APIs)"
            text, found = render.helm_template(
                s, chart, chart_dir, env["namespace"], values, source, api_versions=APIS
            )
            findings += found
            if text is None:
                continue
            mine = [m for m in parse_documents(text, source) if m.doc["apiVersion"].startswith(f"{GROUP}/")]
            objects += mine
            for rule in (m for m in mine if m.doc["kind"] == "PrometheusRule"):
                shipped = True
                if rule.doc["spec"]["groups"] != expected:
                    findings.append(
                        Finding(
                            source,
                            "prometheus-rule",
                            "spec.groups differ from the chart's rules/*.rules.yaml",
                        )
                    )
        if expected and not shipped:
            findings.append(
                Finding(f"charts/{chart}", "prometheus-rule", "rules/ has alert rules no environment renders")
            )
    return objects, findings
