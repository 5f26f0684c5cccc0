"""Sealing key pairs shaped like the controller's own (upstream ``GeneratePrivateKeyAndCert``).

Used to bring your own sealing key (install it as a ``kubernetes.io/tls`` Secret labelled
``sealedsecrets.bitnami.com/sealed-secrets-key=active`` in the controller's namespace) and by tests.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ops.seal.keys import KEY_LABEL

DEFAULT_BITS = 4096
DEFAULT_VALIDITY = dt.timedelta(days=3650)
DEFAULT_CN = "sealed-secret"


def generate(
    bits: int = DEFAULT_BITS, validity: dt.timedelta = DEFAULT_VALIDITY, cn: str = DEFAULT_CN
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A fresh RSA key and its self-signed certificate (CA:true, like the controller's)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def key_pem(key: rsa.RSAPrivateKey) -> bytes:
    """PKCS#1 PEM, as the controller stores ``tls.key``."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    """PEM certificate, as ``kubeseal --fetch-cert`` prints it."""
    return cert.public_bytes(serialization.Encoding.PEM)


def key_secret(key: rsa.RSAPrivateKey, cert: x509.Certificate, name: str, namespace: str) -> dict[str, Any]:
    """The controller's key Secret (what the key backup contains, and what BYO-key installs)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": {KEY_LABEL: "active"}},
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64.b64encode(cert_pem(cert)).decode(),
            "tls.key": base64.b64encode(key_pem(key)).decode(),
        },
    }
