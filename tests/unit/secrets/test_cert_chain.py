"""Rehearse the internal CA chain locally: self-signed root → the repo's internal CA spec → leaf."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import DNSName
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from ops.certs.chain import issue

ROOT = Path(__file__).resolve().parents[3]
CA_MANIFEST = ROOT / "bootstrap" / "cert-manager" / "internal-ca-certificate.yaml"
LEAF_SPEC = {
    "commonName": "serving.mlops.internal",
    "dnsNames": ["serving.mlops.internal", "serving.mlops-prod.svc.cluster.local"],
    "duration": "2160h",
    "privateKey": {"algorithm": "ECDSA", "size": 256},
}
ROOT_SPEC = {
    "isCA": True,
    "commonName": "test root",
    "duration": "175200h",
    "privateKey": {"algorithm": "RSA"},
}


def _internal_ca_spec() -> dict:
    if not CA_MANIFEST.is_file():
        pytest.skip(f"{CA_MANIFEST.relative_to(ROOT)} not in this checkout")
    return yaml.safe_load(CA_MANIFEST.read_text())["spec"]


@pytest.fixture(scope="module")
def chain():
    root = issue(ROOT_SPEC)
    ca = issue(_internal_ca_spec(), issuer=root)
    leaf = issue(LEAF_SPEC, issuer=ca)
    return root, ca, leaf


def _verifier(root, when: dt.datetime | None = None):
    builder = PolicyBuilder().store(Store([root.cert]))
    if when is not None:
        builder = builder.time(when)
    return builder.build_server_verifier(DNSName("serving.mlops.internal"))


def test_chain_follows_the_manifest(chain) -> None:
    _, ca, leaf = chain
    spec = _internal_ca_spec()
    assert (
        isinstance(ca.key, ec.EllipticCurvePrivateKey) and ca.key.curve.key_size == spec["privateKey"]["size"]
    )
    assert ca.cert.subject.rfc4514_string().startswith(f"CN={spec['commonName']}")
    assert leaf.cert.issuer == ca.cert.subject
    lifetime = ca.cert.not_valid_after_utc - ca.cert.not_valid_before_utc
    assert abs(lifetime - dt.timedelta(hours=87600)) < dt.timedelta(minutes=2)


def test_leaf_verifies_against_the_ca(chain) -> None:
    root, ca, leaf = chain
    built = _verifier(root).verify(leaf.cert, [ca.cert])
    assert built[0] == leaf.cert and built[-1] == root.cert and len(built) == 3


def test_wrong_ca_wrong_name_and_expiry_fail(chain) -> None:
    root, ca, leaf = chain
    with pytest.raises(VerificationError):
        _verifier(issue(ROOT_SPEC)).verify(leaf.cert, [ca.cert])
    with pytest.raises(VerificationError):
        PolicyBuilder().store(Store([root.cert])).build_server_verifier(DNSName("evil.example")).verify(
            leaf.cert, [ca.cert]
        )
    with pytest.raises(VerificationError):
        _verifier(root, leaf.cert.not_valid_after_utc + dt.timedelta(days=1)).verify(leaf.cert, [ca.cert])
    with pytest.raises(VerificationError):
        _verifier(root).verify(leaf.cert, [])  # the intermediate is needed


def test_leaf_lifetime_is_truncated_to_the_issuer() -> None:
    short_ca = issue({"isCA": True, "commonName": "short", "duration": "240h"})
    leaf = issue(LEAF_SPEC, issuer=short_ca)
    assert leaf.cert.not_valid_after_utc == short_ca.cert.not_valid_after_utc


@pytest.mark.skipif(
    shutil.which("openssl") is None, reason="openssl not installed: independent check skipped"
)
def test_openssl_verifies_the_chain(chain, tmp_path: Path) -> None:
    root, ca, leaf = chain
    pem = serialization.Encoding.PEM
    (tmp_path / "root.pem").write_bytes(root.cert.public_bytes(pem))
    (tmp_path / "ca.pem").write_bytes(ca.cert.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(leaf.cert.public_bytes(pem))
    argv = [
        "openssl",
        "verify",
        "-x509_strict",
        "-purpose",
        "sslserver",
        "-verify_hostname",
        "serving.mlops.internal",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "ca.pem",
        "leaf.pem",
    ]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (tmp_path / "other.pem").write_bytes(issue(ROOT_SPEC).cert.public_bytes(pem))
    other = [a if a != "root.pem" else "other.pem" for a in argv]
    wrong = subprocess.run(other, cwd=tmp_path, capture_output=True, check=False, timeout=60)
    assert wrong.returncode != 0
