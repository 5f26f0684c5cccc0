"""Loading the controller's public certificate and backed-up private keys."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ops.seal.errors import SealError

CERT_FETCH_TIMEOUT_S = 15.0
KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"


def fingerprint(public_key: rsa.RSAPublicKey) -> str:
    """Upstream ``PublicKeyFingerprint``: SSH SHA256 fingerprint of the public key."""
    openssh = public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    blob = base64.b64decode(openssh.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _read_source(source: str) -> bytes:
    if source.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(source, timeout=CERT_FETCH_TIMEOUT_S) as resp:
                return resp.read()
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise SealError(f"--cert {source}: cannot fetch ({exc})") from None
    path = Path(source)
    if not path.is_file():
        raise SealError(f"--cert {source}: no such file")
    return path.read_bytes()


def parse_public_key(data: bytes, where: str) -> rsa.RSAPublicKey:
    """RSA public key from a PEM certificate (what the controller serves) or a PEM public key."""
    key: object
    try:
        if b"BEGIN CERTIFICATE" in data:
            cert = x509.load_pem_x509_certificate(data)
            if cert.not_valid_after_utc < dt.datetime.now(dt.UTC):
                # kubeseal refuses too: the controller has certainly moved on to a newer key
                raise SealError(f"{where}: certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}")
            key = cert.public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError:
        raise SealError(f"{where}: not a PEM certificate or public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise SealError(f"{where}: the sealing key must be RSA")
    return key


def load_public_key(source: str) -> rsa.RSAPublicKey:
    """Load the sealing key from a file path or an http(s) URL (e.g. the controller's /v1/cert.pem)."""
    return parse_public_key(_read_source(source), f"--cert {source}")


@dataclass(frozen=True)
class PrivateKey:
    """A private sealing key and where it came from (never printed beyond its fingerprint)."""

    key: rsa.RSAPrivateKey
    origin: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key.public_key())


def _pem_private_key(data: bytes, where: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise SealError(f"{where}: not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SealError(f"{where}: the sealing key must be RSA")
    return key


def _secrets_in(docs: list[object]) -> list[dict]:
    out: list[dict] = []
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") == "List" or doc.get("kind", "").endswith("List"):
            out.extend(_secrets_in(doc.get("items") or []))
        elif doc.get("kind") == "Secret":
            out.append(doc)
    return out


def load_private_keys(path: str) -> list[PrivateKey]:
    """Private keys from a PEM file, or from the controller's key backup.

    The backup is what ``kubectl get secret -n kube-system -l sealedsecrets.bitnami.com/sealed-secrets-key
    -o yaml`` prints: a List of ``kubernetes.io/tls`` Secrets whose ``tls.key`` is the PEM private key.
    """
    file = Path(path)
    if not file.is_file():
        raise SealError(f"--private-key {path}: no such file")
    data = file.read_bytes()
    if b"-----BEGIN" in data and b"PRIVATE KEY-----" in data and b"kind:" not in data:
        return [PrivateKey(_pem_private_key(data, path), path)]
    try:
        docs = [d for d in yaml.safe_load_all(data) if d is not None]
    except yaml.YAMLError:
        raise SealError(f"--private-key {path}: neither a PEM private key nor a YAML key backup") from None
    keys: list[PrivateKey] = []
    for secret in _secrets_in(docs):
        encoded = (secret.get("data") or {}).get("tls.key")
        if not encoded:
            continue
        name = (secret.get("metadata") or {}).get("name", "?")
        try:
            pem = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise SealError(f"--private-key {path}: Secret {name} has invalid base64 in tls.key") from None
        keys.append(PrivateKey(_pem_private_key(pem, f"{path} (Secret {name})"), f"{path}#{name}"))
    if not keys:
        raise SealError(f"--private-key {path}: no Secret with a tls.key found in the key backup")
    return keys
