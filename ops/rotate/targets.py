"""Which SealedSecrets carry an IAM user's access key, and sealing a new key into them in memory.

The targets file (default ``ops/rotate/targets.yaml``) maps IAM users to SealedSecret files and the
public certificate of the cluster (controller) each file is sealed for::

    users:
      mlops-prod-mlflow:
        - file: apps/envs/prod/secrets/mlflow/mlflow-aws.yaml
          cert: bootstrap/sealed-secrets/certs/prod.pem
          id_key: AWS_ACCESS_KEY_ID            # optional, this default
          secret_key: AWS_SECRET_ACCESS_KEY    # optional, this default
          context: prod                        # kubectl context of that cluster (optional)
          consumers: [deployment/mlflow]       # workloads reading the Secret (restart gate)
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from ops.rotate.aws import NewKey
from ops.rotate.consumers import SecretConsumers, parse_consumer
from ops.rotate.errors import RotateError
from ops.seal.errors import SealError
from ops.seal.io import load_docs, replace_ciphertexts
from ops.seal.keys import load_public_key
from ops.seal.manifest import dump, is_sealed_secret, label_of, validate_key
from ops.seal.scheme import hybrid_encrypt

DEFAULT_TARGETS = "ops/rotate/targets.yaml"


@dataclass(frozen=True)
class Target:
    """One SealedSecret file to receive the new key."""

    file: str
    cert: str
    id_key: str = "AWS_ACCESS_KEY_ID"
    secret_key: str = "AWS_SECRET_ACCESS_KEY"
    context: str = ""
    consumers: tuple[str, ...] = ()


def load_targets(path: Path, user: str) -> list[Target]:
    """The targets of ``user``; errors name the file and entry to fix."""
    if not path.is_file():
        raise RotateError(f"--targets {path}: no such file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        raise RotateError(f"--targets {path}: not valid YAML") from None
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict):
        raise RotateError(f"--targets {path}: expected a mapping 'users: {{<iam user>: [targets]}}'")
    entries = users.get(user)
    if not entries or not isinstance(entries, list):
        raise RotateError(f"--targets {path}: no targets listed for IAM user {user!r}")
    targets: list[Target] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("file") or not entry.get("cert"):
            raise RotateError(f"--targets {path}: users.{user}[{i}] needs 'file' and 'cert'")
        unknown = set(entry) - {"file", "cert", "id_key", "secret_key", "context", "consumers"}
        if unknown:
            raise RotateError(f"--targets {path}: users.{user}[{i}] has unknown field(s) {sorted(unknown)}")
        consumers = entry.get("consumers") or []
        if not isinstance(consumers, list):
            raise RotateError(f"--targets {path}: users.{user}[{i}].consumers must be a list")
        try:
            for consumer in consumers:
                parse_consumer(str(consumer))
        except RotateError as exc:
            raise RotateError(f"--targets {path}: users.{user}[{i}]: {exc}") from None
        plain = {k: str(v) for k, v in entry.items() if k != "consumers"}
        target = Target(**plain, consumers=tuple(str(c) for c in consumers))
        for key in (target.id_key, target.secret_key):
            try:
                validate_key(key)
            except SealError as exc:
                raise RotateError(f"--targets {path}: users.{user}[{i}]: {exc}") from None
        targets.append(target)
    return targets


@dataclass
class Prepared:
    """A target whose file parsed and whose certificate loaded (checked before any IAM change)."""

    target: Target
    path: Path
    text: str
    public_key: rsa.RSAPublicKey


def prepare(root: Path, targets: list[Target]) -> list[Prepared]:
    """Preflight: every file holds exactly one SealedSecret and every certificate loads."""
    prepared: list[Prepared] = []
    for target in targets:
        path = root / target.file
        if not path.is_file():
            raise RotateError(f"target {target.file}: no such file")
        text = path.read_text(encoding="utf-8")
        try:
            sealed = [d for d in load_docs(text, target.file) if is_sealed_secret(d)]
            cert = target.cert if target.cert.startswith(("http://", "https://")) else str(root / target.cert)
            public_key = load_public_key(cert)
        except SealError as exc:
            raise RotateError(f"target {target.file}: {exc}") from None
        if len(sealed) != 1:
            raise RotateError(f"target {target.file}: expected exactly one SealedSecret, found {len(sealed)}")
        prepared.append(Prepared(target, path, text, public_key))
    return prepared


def secret_consumers(item: Prepared) -> SecretConsumers:
    """The Secret the target's SealedSecret creates (namespace/name from the file) and its consumers."""
    doc = next(d for d in load_docs(item.text, item.target.file) if is_sealed_secret(d))
    meta = doc.get("metadata") or {}
    template = ((doc.get("spec") or {}).get("template") or {}).get("metadata") or {}
    namespace = template.get("namespace") or meta.get("namespace")
    name = template.get("name") or meta.get("name")
    if not namespace or not name:
        raise RotateError(f"target {item.target.file}: the SealedSecret needs metadata.name and .namespace")
    return SecretConsumers(
        str(namespace), str(name), item.target.id_key, item.target.consumers, item.target.context
    )


def sealed_text(item: Prepared, key: NewKey) -> str:
    """The file's new text with the key id and secret sealed in (other keys and comments kept)."""
    docs = load_docs(item.text, item.target.file)
    doc: dict[str, Any] = next(d for d in docs if is_sealed_secret(d))
    label = label_of(doc)
    encrypted = doc.setdefault("spec", {}).setdefault("encryptedData", {}) or {}
    doc["spec"]["encryptedData"] = encrypted
    values = {item.target.id_key: key.key_id.encode(), item.target.secret_key: key.secret.encode()}
    new = {k: base64.b64encode(hybrid_encrypt(item.public_key, v, label)).decode() for k, v in values.items()}
    if all(k in encrypted for k in new):
        return replace_ciphertexts(item.text, {str(encrypted[k]): new[k] for k in new}, docs)
    encrypted.update(new)
    return "".join(dump(d) for d in docs)
