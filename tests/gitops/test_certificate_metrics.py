"""CertificateExpiringSoon reads cert-manager's own metrics: Prometheus must scrape the cert-manager
controller, whose Service lives in the `cert-manager` namespace, outside the MLOps namespaces that
kube-prometheus-stack's Prometheus selects ServiceMonitors in."""

from __future__ import annotations

from typing import Any

import yaml

from ci.validate.settings import REPO

PLATFORM = REPO / "bootstrap" / "platform"


def _application(name: str) -> dict[str, Any]:
    return yaml.safe_load((PLATFORM / f"{name}.yaml").read_text(encoding="utf-8"))


def _controller_service(app: dict[str, Any]) -> tuple[str, dict[str, str], str]:
    """(namespace, labels, metrics port name) of the Service cert-manager's chart gives its controller."""
    values = app["spec"]["source"]["helm"].get("valuesObject") or {}
    assert (values.get("prometheus") or {}).get("enabled", True), "cert-manager's metrics Service is off"
    release = app["spec"]["source"]["helm"]["releaseName"]
    labels = {
        "app.kubernetes.io/name": "cert-manager",
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/component": "controller",
    }
    return app["spec"]["destination"]["namespace"], labels, "tcp-prometheus-servicemonitor"


def test_prometheus_scrapes_the_cert_manager_controller() -> None:
    rules = (REPO / "observability" / "rules" / "certificates.rules.yaml").read_text(encoding="utf-8")
    assert "certmanager_certificate_expiration_timestamp_seconds" in rules
    namespace, labels, port = _controller_service(_application("cert-manager"))
    stack = _application("kube-prometheus-stack")
    prometheus = stack["spec"]["source"]["helm"]["valuesObject"]["prometheus"]
    selected = prometheus["prometheusSpec"]["serviceMonitorNamespaceSelector"]["matchExpressions"][0][
        "values"
    ]
    monitors = prometheus.get("additionalServiceMonitors") or []
    scraping = [
        m
        for m in monitors
        if namespace in m.get("namespaceSelector", {}).get("matchNames", [])
        and m["selector"]["matchLabels"].items() <= labels.items()
        and any(e.get("port") == port for e in m["endpoints"])
    ]
    # kube-prometheus-stack creates additionalServiceMonitors in its own namespace, which Prometheus selects
    assert scraping and stack["spec"]["destination"]["namespace"] in selected
