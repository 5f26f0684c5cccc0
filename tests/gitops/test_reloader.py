"""Secrets that keep working: every long-running workload names the Secrets it reads in Reloader's
annotation (exactly those), Reloader is a pinned platform Application with its image from a named
registry, and the rotation's consumer lists match the workloads that read each rotated Secret."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ci.validate.render import RenderResult
from ops.rotate.targets import load_targets
from tests.gitops.helpers import objects

REPO = Path(__file__).resolve().parents[2]
RELOAD = "secret.reloader.stakater.com/reload"
RENDERS = [f"{app}-{env}" for app in ("mlflow", "serving", "control", "airflow") for env in ("dev", "prod")]


def secrets_read(pod: dict) -> set[str]:
    """Names of the Secrets a pod spec reads: env, envFrom and (projected) volumes."""
    names: set[str] = set()
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        for env in container.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                names.add(ref["name"])
        for source in container.get("envFrom") or []:
            if source.get("secretRef"):
                names.add(source["secretRef"]["name"])
    for volume in pod.get("volumes") or []:
        if "secret" in volume:
            names.add(volume["secret"]["secretName"])
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "secret" in source:
                names.add(source["secret"]["name"])
    return names


def workloads(rendered: RenderResult, render: str) -> list[dict]:
    return [d for d in objects(rendered, render) if d["kind"] in ("Deployment", "StatefulSet")]


@pytest.mark.parametrize("render", RENDERS)
def test_every_workload_names_exactly_the_secrets_it_reads(rendered: RenderResult, render: str) -> None:
    checked = 0
    for workload in workloads(rendered, render):
        annotations = workload["metadata"].get("annotations") or {}
        read = secrets_read(workload["spec"]["template"]["spec"])
        name = workload["metadata"]["name"]
        assert "reloader.stakater.com/auto" not in annotations, f"{name}: explicit names, not auto"
        if not read:
            assert RELOAD not in annotations, f"{name} reads no Secret"
            continue
        assert RELOAD in annotations, f"{render}: {name} reads {sorted(read)} but Reloader never restarts it"
        assert set(annotations[RELOAD].split(",")) == read, f"{render}: {name}"
        checked += 1
    assert checked, f"{render}: no workload reading a Secret"


def _app(path: str) -> dict:
    return yaml.safe_load((REPO / path).read_text())


def test_reloader_is_a_pinned_platform_application_from_a_named_registry() -> None:
    app = _app("bootstrap/platform/reloader.yaml")
    source = app["spec"]["source"]
    assert source["chart"] == "reloader" and source["targetRevision"].count(".") == 2
    values = source["helm"]["valuesObject"]
    image = values["image"]
    assert image["name"] == image["repository"] and "/" in image["name"].split(":")[0]
    assert "." in image["name"].split("/")[0], "a registry host, never the Docker Hub default"
    assert image["tag"].startswith("v") and image["tag"] != "latest"
    assert values["reloader"]["autoReloadAll"] is False
    project = _app("bootstrap/platform/project.yaml")
    assert source["repoURL"] in project["spec"]["sourceRepos"]
    assert {"server": app["spec"]["destination"]["server"], "namespace": "reloader"} in project["spec"][
        "destinations"
    ]
    kustomization = _app("bootstrap/platform/kustomization.yaml")
    assert "reloader.yaml" in kustomization["resources"]


def test_rotation_consumers_are_the_workloads_that_read_each_rotated_secret(rendered: RenderResult) -> None:
    targets_file = REPO / "ops/rotate/targets.yaml"
    users = yaml.safe_load(targets_file.read_text())["users"]
    assert len(users) == 8, "one IAM identity per workload (mlflow, gateway, airflow, backups) and env"
    for user in users:
        for target in load_targets(targets_file, user):
            env = target.context
            doc = yaml.safe_load((REPO / target.file).read_text())
            secret = doc["spec"]["template"]["metadata"].get("name") or doc["metadata"]["name"]
            readers = {
                f"{w['kind'].lower()}/{w['metadata']['name']}"
                for render in RENDERS
                if render.endswith(f"-{env}")
                for w in workloads(rendered, render)
                if secret in secrets_read(w["spec"]["template"]["spec"])
            }
            # the backup user's Secret is read by the Barman Cloud plugin at each archive, by no workload
            assert set(target.consumers) == readers, f"{user}: {target.file}"
            assert readers or user.endswith("-postgres-backup"), f"{user}: no workload reads {secret}"
            assert target.cert.endswith(f"/{env}.pem"), f"{user}: sealed for the {env} cluster"
