"""The Sealed Secrets hybrid encryption scheme, byte for byte as the upstream controller does it.

``HybridEncrypt`` in bitnami-labs/sealed-secrets ``pkg/crypto/crypto.go``: a random 32-byte session key
is encrypted with RSA-OAEP (SHA-256 for both the hash and MGF1) under the scope label; the value is
encrypted with AES-256-GCM under that key with an all-zero 12-byte nonce (safe: the key is used once).
Output: ``uint16 big-endian len(rsa_ct) || rsa_ct || gcm_ct_with_tag``.
"""

from __future__ import annotations

import enum
import os
import struct
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ops.seal.errors import DecryptError, SealError

SESSION_KEY_BYTES = 32
NONCE = bytes(12)
NAMESPACE_WIDE_ANNOTATION = "sealedsecrets.bitnami.com/namespace-wide"
CLUSTER_WIDE_ANNOTATION = "sealedsecrets.bitnami.com/cluster-wide"


class Scope(enum.StrEnum):
    """Where a sealed value may be unsealed (upstream ``SealingScope``)."""

    STRICT = "strict"
    NAMESPACE_WIDE = "namespace-wide"
    CLUSTER_WIDE = "cluster-wide"

    @classmethod
    def parse(cls, text: str) -> Scope:
        """Parse a scope name; the empty string is the upstream default (strict)."""
        if text == "":
            return cls.STRICT
        try:
            return cls(text)
        except ValueError:
            raise SealError(f"scope {text!r}: must be one of strict, namespace-wide, cluster-wide") from None

    @classmethod
    def from_annotations(cls, annotations: dict[str, str] | None) -> Scope:
        """Scope declared by annotations; cluster-wide wins over namespace-wide, as upstream."""
        annotations = annotations or {}
        if annotations.get(CLUSTER_WIDE_ANNOTATION) == "true":
            return cls.CLUSTER_WIDE
        if annotations.get(NAMESPACE_WIDE_ANNOTATION) == "true":
            return cls.NAMESPACE_WIDE
        return cls.STRICT

    def annotations(self) -> dict[str, str]:
        """The scope annotations upstream ``UpdateScopeAnnotations`` sets (none for strict)."""
        if self is Scope.NAMESPACE_WIDE:
            return {NAMESPACE_WIDE_ANNOTATION: "true"}
        if self is Scope.CLUSTER_WIDE:
            return {CLUSTER_WIDE_ANNOTATION: "true"}
        return {}


def encryption_label(namespace: str, name: str, scope: Scope) -> bytes:
    """Upstream ``EncryptionLabel``: ``ns/name`` (strict), ``ns`` (namespace-wide), empty (cluster-wide)."""
    if scope is Scope.CLUSTER_WIDE:
        return b""
    if scope is Scope.NAMESPACE_WIDE:
        return namespace.encode()
    return f"{namespace}/{name}".encode()


def _oaep(label: bytes) -> padding.OAEP:
    # cryptography treats an empty label as "no label", which is the same bytes on the wire.
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label or None)


def hybrid_encrypt(public_key: rsa.RSAPublicKey, plaintext: bytes, label: bytes) -> bytes:
    """Encrypt one value for the controller owning ``public_key``."""
    session_key = os.urandom(SESSION_KEY_BYTES)
    rsa_ct = public_key.encrypt(session_key, _oaep(label))
    return struct.pack(">H", len(rsa_ct)) + rsa_ct + AESGCM(session_key).encrypt(NONCE, plaintext, None)


def _decrypt_one(private_key: rsa.RSAPrivateKey, ciphertext: bytes, label: bytes) -> bytes:
    if len(ciphertext) < 2:
        raise DecryptError("SealedSecret data is too short")
    (rsa_len,) = struct.unpack(">H", ciphertext[:2])
    if len(ciphertext) < rsa_len + 2:
        raise DecryptError("SealedSecret data is too short")
    try:
        session_key = private_key.decrypt(ciphertext[2 : rsa_len + 2], _oaep(label))
        return AESGCM(session_key).decrypt(NONCE, ciphertext[rsa_len + 2 :], None)
    except (ValueError, InvalidTag) as exc:
        raise DecryptError("decryption failed") from exc


def hybrid_decrypt(private_keys: Iterable[rsa.RSAPrivateKey], ciphertext: bytes, label: bytes) -> bytes:
    """Decrypt with the first key that opens the value (upstream tries every key it holds)."""
    for key in private_keys:
        try:
            return _decrypt_one(key, ciphertext, label)
        except DecryptError:
            continue
    raise DecryptError("no key could decrypt secret")
