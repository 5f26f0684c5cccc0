"""The image values of pinned upstream charts name images that exist: where a platform Application sets
an image's registry and repository, they are the ones the chart's own default names at the pinned
version (the chart supplies the tag, so a different repository asks for a tag it never published).

The defaults below are read from the charts' values.yaml at the pinned versions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

# (Application file, chart version) -> values path of an image -> (registry, repository) of the default
UPSTREAM_DEFAULTS: dict[tuple[str, str], dict[str, tuple[str, str]]] = {
    ("bootstrap/platform/kube-prometheus-stack.yaml", "88.2.0"): {
        "prometheusOperator.image": ("quay.io", "prometheus-operator/prometheus-operator"),
        "prometheusOperator.prometheusConfigReloader.image": (
            "quay.io",
            "prometheus-operator/prometheus-config-reloader",
        ),
        # tag 1.8.5 in the chart; registry.k8s.io/ingress-nginx/kube-webhook-certgen has no such tag
        "prometheusOperator.admissionWebhooks.patch.image": ("ghcr.io", "jkroepke/kube-webhook-certgen"),
        "prometheus.prometheusSpec.image": ("quay.io", "prometheus/prometheus"),
        "alertmanager.alertmanagerSpec.image": ("quay.io", "prometheus/alertmanager"),
        "kube-state-metrics.image": ("registry.k8s.io", "kube-state-metrics/kube-state-metrics"),
        "prometheus-node-exporter.image": ("quay.io", "prometheus/node-exporter"),
    },
}


def _get(values: dict, path: str) -> dict:
    node = values
    for part in path.split("."):
        node = node[part]
    return node


@pytest.mark.parametrize(("app_file", "version"), list(UPSTREAM_DEFAULTS))
def test_image_overrides_keep_the_pinned_charts_repositories(app_file: str, version: str) -> None:
    source = yaml.safe_load((REPO / app_file).read_text())["spec"]["source"]
    assert source["targetRevision"] == version, f"{app_file}: re-read the image defaults of the new version"
    values = source["helm"]["valuesObject"]
    for path, (registry, repository) in UPSTREAM_DEFAULTS[(app_file, version)].items():
        image = _get(values, path)
        assert "tag" in image or (image["registry"], image["repository"]) == (registry, repository), (
            f"{app_file} {path}: {image['registry']}/{image['repository']} with the chart's tag is not an "
            f"image the chart names ({registry}/{repository})"
        )
