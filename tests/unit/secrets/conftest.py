"""Sealing keys for the secrets tests: generated once per session (2048-bit for speed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from ops.seal import keygen


@dataclass(frozen=True)
class SealingKey:
    """A controller key pair on disk: PEM cert, PEM key and the key-backup YAML."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate
    cert_path: Path
    key_path: Path
    backup_path: Path


def make_key(directory: Path, name: str, bits: int = 2048) -> SealingKey:
    key, cert = keygen.generate(bits=bits)
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path, backup_path = (
        directory / f"{name}.pem",
        directory / f"{name}.key",
        directory / f"{name}.yaml",
    )
    cert_path.write_bytes(keygen.cert_pem(cert))
    key_path.write_bytes(keygen.key_pem(key))
    backup = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [keygen.key_secret(key, cert, name, "kube-system")],
    }
    backup_path.write_text(yaml.safe_dump(backup))
    return SealingKey(key, cert, cert_path, key_path, backup_path)


@pytest.fixture(scope="session")
def old_key(tmp_path_factory: pytest.TempPathFactory) -> SealingKey:
    return make_key(tmp_path_factory.mktemp("keys"), "old")


@pytest.fixture(scope="session")
def new_key(tmp_path_factory: pytest.TempPathFactory) -> SealingKey:
    return make_key(tmp_path_factory.mktemp("keys"), "new")
