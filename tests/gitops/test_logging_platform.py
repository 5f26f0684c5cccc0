"""The log pipeline's Applications agree with each other and with the services (issue 16 item 5): Alloy
pushes to, and Grafana reads from, the Service the Loki release creates; images come from the named mirror;
the ids our JSON lines carry are structured metadata, never labels (one stream per id would sink Loki)."""

from __future__ import annotations

import re

import yaml

from ci.validate.firstsync.plan import UPSTREAM_CHARTS
from ci.validate.settings import REPO

PLATFORM = REPO / "bootstrap" / "platform"
DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io", "")


def _app(name: str) -> dict:
    return yaml.safe_load((PLATFORM / f"{name}.yaml").read_text())


def _values(name: str) -> dict:
    return _app(name)["spec"]["source"]["helm"]["valuesObject"]


def _alloy_config() -> str:
    return _values("alloy")["alloy"]["configMap"]["content"]


def _block(config: str, header: str) -> str:
    """The body of the first `header { ... }` block (braces balanced)."""
    start = config.index(header)
    depth, i = 0, config.index("{", start)
    for j in range(i, len(config)):
        depth += {"{": 1, "}": -1}.get(config[j], 0)
        if depth == 0:
            return config[i + 1 : j]
    raise AssertionError(f"unbalanced block {header}")


def _loki_service() -> tuple[str, str]:
    app = _app("loki")
    return app["spec"]["source"]["helm"]["releaseName"], app["spec"]["destination"]["namespace"]


def test_alloy_and_grafana_reach_the_service_the_loki_release_creates() -> None:
    release, namespace = _loki_service()
    assert _values("loki")["deploymentMode"] == "Monolithic"  # the Service named after the release
    assert UPSTREAM_CHARTS["loki"] == {f"Service/{namespace}/{release}"}
    base = f"http://{release}.{namespace}.svc.cluster.local:3100"
    assert f'url = "{base}/loki/api/v1/push"' in _alloy_config()
    datasource = yaml.safe_load((REPO / "bootstrap" / "logging" / "loki-datasource.yaml").read_text())
    assert datasource["metadata"]["labels"]["grafana_datasource"] == "1"
    [source] = yaml.safe_load(datasource["data"]["loki-datasource.yaml"])["datasources"]
    assert source["url"] == base and source["type"] == "loki"


def test_the_datasource_uid_is_the_one_the_explore_links_name() -> None:
    from serving.settings import Settings

    datasource = yaml.safe_load((REPO / "bootstrap" / "logging" / "loki-datasource.yaml").read_text())
    [source] = yaml.safe_load(datasource["data"]["loki-datasource.yaml"])["datasources"]
    assert Settings.model_fields["grafana_loki_uid"].default == source["uid"]
    dags_settings = (REPO / "dags" / "mlops_dags" / "settings.py").read_text()
    assert f'grafana_loki_uid: str = Field(default="{source["uid"]}"' in dags_settings


def test_images_come_from_the_mirror_the_values_name_and_charts_are_pinned() -> None:
    loki, alloy = _values("loki"), _values("alloy")
    assert loki["global"]["imageRegistry"] not in DOCKER_HUB
    assert alloy["global"]["image"]["registry"] not in DOCKER_HUB  # also the config reloader (quay.io)
    assert loki["global"]["imageRegistry"] == alloy["global"]["image"]["registry"]
    for name in ("loki", "alloy"):
        assert re.fullmatch(r"\d+\.\d+\.\d+", _app(name)["spec"]["source"]["targetRevision"]), name
    assert _app("loki")["spec"]["source"]["repoURL"] == "https://grafana-community.github.io/helm-charts"


def test_ids_are_structured_metadata_and_only_level_is_a_label() -> None:
    config = _alloy_config()
    process = _block(config, 'loki.process "pods"')
    labels = set(re.findall(r"(\w+)\s*=", _block(process, "stage.labels")))
    metadata = set(re.findall(r"(\w+)\s*=", _block(process, "stage.structured_metadata")))
    assert labels == {"values", "level"}
    assert {"request_id", "run_id", "dag_id", "task_id", "job_id"} <= metadata
    extracted = set(re.findall(r"(\w+)\s*=\s*\"\w+\"", _block(process, "stage.json")))
    assert metadata - {"values"} <= extracted
    assert "stage.cri" in process  # container runtime lines unwrapped before the JSON is read
