"""Issue certificates locally from cert-manager ``Certificate`` specs, the way the CA issuer does.

Used to rehearse the internal CA chain (self-signed root → CA → leaf) without a cluster: the same
subject, key algorithm, lifetime and usages as the manifests, with leaf lifetimes truncated to the
issuer's expiry as cert-manager's CA issuer does.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ops.certs.durations import parse_go_duration
from ops.certs.policy import DEFAULT_DURATION

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
_CURVES = {256: ec.SECP256R1, 384: ec.SECP384R1, 521: ec.SECP521R1}
_EKU = {"server auth": ExtendedKeyUsageOID.SERVER_AUTH, "client auth": ExtendedKeyUsageOID.CLIENT_AUTH}
DEFAULT_LEAF_USAGES = ("digital signature", "key encipherment", "server auth")


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    key: PrivateKey
    cert: x509.Certificate


def generate_key(private_key: Mapping[str, Any] | None) -> PrivateKey:
    """Key per ``spec.privateKey`` (cert-manager default: RSA 2048)."""
    spec = private_key or {}
    algorithm = str(spec.get("algorithm", "RSA"))
    if algorithm == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=int(spec.get("size", 2048)))
    if algorithm == "ECDSA":
        size = int(spec.get("size", 256))
        if size not in _CURVES:
            raise ValueError(f"privateKey.size {size} is not an ECDSA curve size (256, 384, 521)")
        return ec.generate_private_key(_CURVES[size]())
    if algorithm == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"privateKey.algorithm {algorithm!r} is not RSA, ECDSA or Ed25519")


def _subject(spec: Mapping[str, Any]) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, o)
        for o in (spec.get("subject") or {}).get("organizations", [])
    ]
    if spec.get("commonName"):
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, str(spec["commonName"])))
    return x509.Name(attrs)


def _sans(spec: Mapping[str, Any]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in spec.get("dnsNames", [])]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in spec.get("ipAddresses", [])]
    names += [x509.UniformResourceIdentifier(u) for u in spec.get("uris", [])]
    return names


def issue(spec: Mapping[str, Any], issuer: Issued | None = None, now: dt.datetime | None = None) -> Issued:
    """Issue one certificate from a Certificate ``spec``; self-signed when ``issuer`` is None."""
    now = now or dt.datetime.now(dt.UTC)
    key = generate_key(spec.get("privateKey"))
    duration = parse_go_duration(str(spec["duration"])) if spec.get("duration") else DEFAULT_DURATION
    not_after = now + duration
    if issuer is not None:
        not_after = min(not_after, issuer.cert.not_valid_after_utc)
    is_ca = bool(spec.get("isCA"))
    subject = _subject(spec)
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), critical=False
        )
    )
    usages = set(spec.get("usages") or ([] if is_ca else DEFAULT_LEAF_USAGES))
    builder = builder.add_extension(
        x509.KeyUsage(
            digital_signature=is_ca or "digital signature" in usages,
            content_commitment=False,
            key_encipherment="key encipherment" in usages and isinstance(key, rsa.RSAPrivateKey),
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=is_ca,
            crl_sign=is_ca,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )
    ekus = [_EKU[u] for u in sorted(usages) if u in _EKU]
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    sans = _sans(spec)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    algorithm = None if isinstance(signer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return Issued(key, builder.sign(signer_key, algorithm))
