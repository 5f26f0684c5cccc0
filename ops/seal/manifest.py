"""SealedSecret manifests (``bitnami.com/v1alpha1``): build, merge into, open and (de)serialise."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from ops.seal.errors import DecryptError, SealError
from ops.seal.scheme import Scope, encryption_label, hybrid_decrypt, hybrid_encrypt

API_VERSION = "bitnami.com/v1alpha1"
KIND = "SealedSecret"
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def validate_name(kind: str, value: str) -> None:
    """Kubernetes names: DNS-1123 subdomain, at most 253 characters (namespaces 63)."""
    limit = 63 if kind == "namespace" else 253
    if not value or len(value) > limit or not _DNS1123.match(value):
        raise SealError(
            f"--{kind} {value!r}: must be a lowercase DNS-1123 name of at most {limit} characters"
        )


def validate_key(key: str) -> None:
    """Secret data keys: ``[-._a-zA-Z0-9]+``."""
    if not _KEY.match(key) or key in (".", ".."):
        raise SealError(f"secret key {key!r}: must consist of alphanumerics, '-', '_' or '.'")


def is_sealed_secret(doc: object) -> bool:
    """True for a parsed YAML document that is a SealedSecret."""
    return isinstance(doc, dict) and doc.get("kind") == KIND and str(doc.get("apiVersion", "")) == API_VERSION


def scope_of(doc: Mapping[str, Any]) -> Scope:
    """The scope the controller uses to unseal: the SealedSecret's own metadata annotations (``labelFor``)."""
    return Scope.from_annotations((doc.get("metadata") or {}).get("annotations"))


def label_of(doc: Mapping[str, Any]) -> bytes:
    """The OAEP label the controller will use for this SealedSecret."""
    meta = doc.get("metadata") or {}
    return encryption_label(str(meta.get("namespace") or ""), str(meta.get("name") or ""), scope_of(doc))


def new_sealed_secret(
    namespace: str,
    name: str,
    scope: Scope,
    secret_type: str = "Opaque",
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An empty SealedSecret shaped like ``kubeseal`` output (scope annotations on both metadata levels)."""
    if scope is not Scope.CLUSTER_WIDE or namespace:
        validate_name("namespace", namespace)
    validate_name("name", name)
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    template_meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if scope.annotations():
        meta["annotations"] = scope.annotations()
        template_meta["annotations"] = scope.annotations()
    if labels:
        template_meta["labels"] = dict(labels)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": meta,
        "spec": {"encryptedData": {}, "template": {"metadata": template_meta, "type": secret_type}},
    }


def seal_into(doc: dict[str, Any], public_key: rsa.RSAPublicKey, values: Mapping[str, bytes]) -> None:
    """Encrypt ``values`` into ``doc``'s encryptedData (adding or replacing keys; others kept)."""
    if not values:
        raise SealError("no secret values given (use --from-file, --from-env-file or an env-file on stdin)")
    label = label_of(doc)
    encrypted = doc.setdefault("spec", {}).setdefault("encryptedData", {})
    for key in sorted(values):
        validate_key(key)
        encrypted[key] = base64.b64encode(hybrid_encrypt(public_key, values[key], label)).decode()


def encrypted_items(doc: Mapping[str, Any]) -> dict[str, bytes]:
    """The raw ciphertexts of ``spec.encryptedData``; refuses the deprecated ``spec.data`` form."""
    spec = doc.get("spec") or {}
    if spec.get("data") and not spec.get("encryptedData"):
        raise SealError("uses the deprecated spec.data field; re-create it with encryptedData")
    out: dict[str, bytes] = {}
    for key, value in (spec.get("encryptedData") or {}).items():
        try:
            out[str(key)] = base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise SealError(f"encryptedData.{key}: not valid base64") from None
    return out


def unseal(doc: Mapping[str, Any], private_keys: Iterable[rsa.RSAPrivateKey]) -> dict[str, bytes]:
    """Decrypt every value the way the controller does; raises DecryptError naming the first bad key."""
    keys = list(private_keys)
    label = label_of(doc)
    out: dict[str, bytes] = {}
    for key, ciphertext in encrypted_items(doc).items():
        try:
            out[key] = hybrid_decrypt(keys, ciphertext, label)
        except DecryptError as exc:
            raise DecryptError(f"encryptedData.{key}: {exc}") from None
    return out


class _Dumper(yaml.SafeDumper):
    """Block-style YAML without line wrapping (ciphertexts stay on one line, like kubeseal output)."""


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def dump(doc: Mapping[str, Any]) -> str:
    """Serialise one manifest as a YAML document beginning with ``---``."""
    body = yaml.dump(dict(doc), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1 << 30)
    return "---\n" + body


def secret_manifest(doc: Mapping[str, Any], values: Mapping[str, bytes]) -> dict[str, Any]:
    """The plain ``v1/Secret`` the controller would create (for ``unseal -o FILE``; never print it)."""
    meta = doc.get("metadata") or {}
    template = (doc.get("spec") or {}).get("template") or {}
    tmeta = dict(template.get("metadata") or {})
    tmeta.update({"name": meta.get("name"), "namespace": meta.get("namespace")})
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": tmeta,
        "type": template.get("type", "Opaque"),
        "data": {k: base64.b64encode(v).decode() for k, v in sorted(values.items())},
    }
