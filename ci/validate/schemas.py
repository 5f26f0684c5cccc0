"""Schema validation: core kinds with kubernetes-validate's strict schemas (pinned Kubernetes version),
custom resources with the openAPIV3Schema of the vendored CRDs (made strict: unknown fields fail)."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path

import jsonschema
import yaml
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

from ci.validate.findings import Finding, SetupError, obj_name
from ci.validate.manifests import Manifest

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
# CRDs of charts the platform installs that ../shared/vendor/crds lacks, kept in this repository
# (upstream files, unmodified; ci/crds/README.md names their tags and sha256).
REPO_CRDS = Path(__file__).resolve().parents[1] / "crds"
# Kinds that only tools read, never the API server.
_TOOL_KINDS = {("kustomize.config.k8s.io", "Kustomization"), ("kustomize.config.k8s.io", "Component")}


def _split(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _strict(schema: object) -> object:
    """Copy of a CRD schema where every object with `properties` rejects unknown fields."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def crd_index(crd_dir: Path) -> dict[tuple[str, str, str], dict]:
    """(group, version, kind) -> strict openAPIV3Schema of every CRD under `crd_dir`."""
    index: dict[tuple[str, str, str], dict] = {}
    for path in sorted(crd_dir.rglob("*.yaml")):
        for crd in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_Loader):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                schema = version.get("schema", {}).get("openAPIV3Schema")
                if schema:
                    index[(spec["group"], version["name"], spec["names"]["kind"])] = _strict(
                        copy.deepcopy(schema)
                    )
    if not index:
        raise SetupError(f"no CustomResourceDefinitions found in {crd_dir}")
    return index


@cache
def _cr_validator(
    crd_dir: Path, group: str, version: str, kind: str
) -> jsonschema.Draft202012Validator | None:
    schema = crd_index(crd_dir).get((group, version, kind))
    return jsonschema.Draft202012Validator(schema) if schema else None


@cache
def _core_schema_dir(k8s_version: str) -> str:
    name = f"v{k8s_version}-local-strict"
    try:
        kv.schema_contents(f"kubernetes-json-schema/{name}/_definitions.json", k8s_version)
    except (kv.VersionNotSupportedError, FileNotFoundError):
        raise SetupError(
            f"kubernetes-validate {kv.__version__} has no schemas for Kubernetes {k8s_version} (K8S_VERSION)"
        ) from None
    return name


@cache
def _definitions(schema_dir: str, k8s_version: str) -> Registry:
    defs = kv.schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json", k8s_version)
    return Resource.from_contents(defs) @ Registry()


@cache
def _core_validator(k8s_version: str, api_version: str, kind: str) -> jsonschema.Draft202012Validator | None:
    schema_dir = _core_schema_dir(k8s_version)
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kv.schema_contents(
            f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{api}.json", k8s_version
        )
    except FileNotFoundError:
        return None
    registry = Resource.from_contents(schema) @ _definitions(schema_dir, k8s_version)
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _errors(validator: jsonschema.Draft202012Validator, doc: dict) -> list[str]:
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    out = []
    for error in errors:
        # For anyOf/oneOf failures the most specific sub-error says more than "is not valid under any".
        best = jsonschema.exceptions.best_match([error]) if error.context else error
        path = ".".join(str(p) for p in best.absolute_path) or "(root)"
        out.append(f"{path}: {best.message}")
    return out


def validate_manifest(m: Manifest, crd_dir: Path | None, k8s_version: str) -> list[Finding]:
    """Schema findings of one object (empty when it validates)."""
    doc = m.doc
    api_version, kind = str(doc.get("apiVersion")), str(doc.get("kind"))
    group, version = _split(api_version)
    if (group, kind) in _TOOL_KINDS:
        return []
    name = obj_name(doc)
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        return [Finding(m.source, "schema", "metadata.name is required", name)]
    if not _DNS_NAME.match(str(meta["name"])):
        return [Finding(m.source, "schema", f"metadata.name {meta['name']!r} is not a DNS-1123 name", name)]
    validator = None
    if crd_dir is not None:
        validator = _cr_validator(crd_dir, group, version, kind)
    if validator is None:
        validator = _cr_validator(REPO_CRDS, group, version, kind)
    if validator is None:
        validator = _core_validator(k8s_version, api_version, kind)
    if validator is None:
        where = f"CRD_DIR={crd_dir}" if crd_dir else "no CRD_DIR"
        return [
            Finding(
                m.source,
                "schema",
                f"no schema for {kind} {api_version} (Kubernetes {k8s_version}, {where})",
                name,
            )
        ]
    return [Finding(m.source, "schema", message, name) for message in _errors(validator, doc)]


def validate_all(manifests: list[Manifest], crd_dir: Path | None, k8s_version: str) -> list[Finding]:
    """Schema findings of many objects."""
    out: list[Finding] = []
    for m in manifests:
        out.extend(validate_manifest(m, crd_dir, k8s_version))
    return out


def dump_json(doc: dict) -> str:
    """Stable JSON of a document (for messages and caching)."""
    return json.dumps(doc, sort_keys=True, default=str)
