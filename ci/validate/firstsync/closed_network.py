"""Closed-network rules: every image from a configured registry with its host spelled out, every
platform chart's images named in its values, and no public CA (ACME) or external DNS."""

from __future__ import annotations

from pathlib import Path

import yaml

from ci.validate.findings import Finding, SetupError, obj_name
from ci.validate.firstsync.plan import chart_name

REGISTRIES = "ci/registries.yaml"
# The values of each pinned upstream chart that decide where its images come from (the dry run cannot
# render these charts offline): each must be set and name a configured registry.
CHART_IMAGE_VALUES: dict[str, tuple[str, ...]] = {
    "sealed-secrets": ("image.registry",),
    "cert-manager": ("imageRegistry",),
    "gateway-helm": (
        "global.images.envoyGateway.image",
        "global.images.ratelimit.image",
        "global.images.envoyProxy.image",
    ),
    "metallb": ("controller.image.repository", "speaker.image.repository"),
    "kube-prometheus-stack": (
        "prometheusOperator.image.registry",
        "prometheusOperator.prometheusConfigReloader.image.registry",
        "prometheusOperator.admissionWebhooks.patch.image.registry",
        "prometheus.prometheusSpec.image.registry",
        "alertmanager.alertmanagerSpec.image.registry",
        "grafana.image.registry",
        "grafana.sidecar.image.registry",
        "kube-state-metrics.image.registry",
        "prometheus-node-exporter.image.registry",
    ),
    "nfs-subdir-external-provisioner": ("image.repository",),
    "reloader": ("image.repository",),
    "cloudnative-pg": ("image.repository", "config.data.POSTGRES_IMAGE_NAME"),
    "plugin-barman-cloud": ("image.registry", "sidecarImage.registry"),
    "loki": ("global.imageRegistry",),
    "alloy": ("global.image.registry",),
}
# Charts the dry run renders itself: their images are checked in the render.
RENDERED_CHARTS = {"airflow"}


def allowed_registries(repo: Path) -> tuple[str, ...]:
    """The registry hosts of ci/registries.yaml."""
    path = repo / REGISTRIES
    if not path.is_file():
        raise SetupError(f"{path} is missing: list the registries images may come from (docs/gitops.md)")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    registries = tuple(str(r) for r in (data.get("registries") if isinstance(data, dict) else None) or [])
    if not registries:
        raise SetupError(f"{path}: needs `registries:`, a list of registry hosts")
    return registries


def registry_of(image: str) -> str | None:
    """The registry host an image reference names, or None when it names none (Docker Hub default)."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def image_registry_problem(image: str, allowed: tuple[str, ...]) -> str | None:
    """Why `image` would not be pulled from a configured registry, or None."""
    host = registry_of(image)
    if host is None:
        return (
            f"image {image!r} names no registry host (Docker Hub by default): "
            f"write it as <registry>/<repository>:<tag> with a registry of {REGISTRIES} {list(allowed)}"
        )
    if host not in allowed:
        return f"image {image!r} comes from {host}, which is not in {REGISTRIES} {list(allowed)}"
    return None


def _value(values: dict, path: str) -> object:
    node: object = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def chart_image_problems(app: dict, allowed: tuple[str, ...]) -> list[str]:
    """Images of an Application's upstream chart sources that would come from the chart's default."""
    spec = app.get("spec") or {}
    out = []
    for src in list(spec.get("sources") or []) + ([spec["source"]] if spec.get("source") else []):
        chart = chart_name(src)
        if not chart or chart in RENDERED_CHARTS:
            continue
        paths = CHART_IMAGE_VALUES.get(chart)
        if paths is None:
            out.append(
                f"chart {chart}: its images are not known to the dry run; add the values that name "
                f"their registry to CHART_IMAGE_VALUES ({__name__}) and set them"
            )
            continue
        values = (src.get("helm") or {}).get("valuesObject") or {}
        for path in paths:
            value = _value(values, path)
            if not isinstance(value, str) or not value:
                out.append(f"chart {chart}: {path} is not set, so the chart's default registry is used")
            elif not any(value == r or value.startswith(f"{r}/") for r in allowed):
                out.append(
                    f"chart {chart}: {path}={value!r} is not a registry of {REGISTRIES} {list(allowed)}"
                )
    return out


def issuer_problem(doc: dict) -> str | None:
    """Why an Issuer/ClusterIssuer needs the internet (ACME: a public CA), or None."""
    if doc.get("kind") in ("Issuer", "ClusterIssuer") and "acme" in (doc.get("spec") or {}):
        server = ((doc.get("spec") or {}).get("acme") or {}).get("server", "")
        return (
            f"ACME issuer {server}: a public CA the closed network cannot reach; issue from the internal CA"
        )
    return None


def platform_findings(manifests: list, allowed: tuple[str, ...]) -> list[Finding]:
    """Closed-network findings of the platform Applications and of every Issuer in the render."""
    out = []
    for m in manifests:
        doc = m.doc
        if doc.get("kind") == "Application":
            for problem in chart_image_problems(doc, allowed):
                out.append(Finding(m.source, "first-sync:registry", problem, obj_name(doc)))
        if problem := issuer_problem(doc):
            out.append(Finding(m.source, "first-sync:closed-network", problem, obj_name(doc)))
    return out
