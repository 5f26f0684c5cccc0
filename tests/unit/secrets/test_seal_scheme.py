"""The hybrid scheme and scope labels, against the upstream format."""

from __future__ import annotations

import struct

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from ops.seal import keygen
from ops.seal.errors import DecryptError
from ops.seal.manifest import new_sealed_secret, seal_into, unseal
from ops.seal.scheme import Scope, encryption_label, hybrid_decrypt, hybrid_encrypt


def test_labels_match_upstream_encryption_label() -> None:
    assert encryption_label("ns", "name", Scope.STRICT) == b"ns/name"
    assert encryption_label("ns", "name", Scope.NAMESPACE_WIDE) == b"ns"
    assert encryption_label("ns", "name", Scope.CLUSTER_WIDE) == b""


def test_scope_from_annotations_cluster_wide_wins() -> None:
    both = {
        "sealedsecrets.bitnami.com/namespace-wide": "true",
        "sealedsecrets.bitnami.com/cluster-wide": "true",
    }
    assert Scope.from_annotations(both) is Scope.CLUSTER_WIDE
    assert (
        Scope.from_annotations({"sealedsecrets.bitnami.com/namespace-wide": "true"}) is Scope.NAMESPACE_WIDE
    )
    assert Scope.from_annotations({"sealedsecrets.bitnami.com/cluster-wide": "false"}) is Scope.STRICT
    assert Scope.from_annotations(None) is Scope.STRICT


def test_wire_layout_with_a_4096_bit_controller_key() -> None:
    key, cert = keygen.generate(bits=4096)
    plaintext = b"s3cr3t-value"
    ciphertext = hybrid_encrypt(cert.public_key(), plaintext, b"ns/name")
    (rsa_len,) = struct.unpack(">H", ciphertext[:2])
    assert rsa_len == 512
    assert len(ciphertext) == 2 + 512 + len(plaintext) + 16
    # The session key is RSA-OAEP(SHA-256) under the label, decrypted here without our code.
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), b"ns/name")
    assert len(key.decrypt(ciphertext[2:514], oaep)) == 32
    assert hybrid_decrypt([key], ciphertext, b"ns/name") == plaintext


@pytest.mark.parametrize("scope", list(Scope))
def test_round_trip_each_scope(scope: Scope, old_key) -> None:
    doc = new_sealed_secret("team-a", "db", scope)
    values = {"password": b"p\x00\xffw", "user": b"admin", "empty": b""}
    seal_into(doc, old_key.cert.public_key(), values)
    same = unseal(doc, [old_key.key]) == values
    assert same, "plaintext mismatch"  # compared, never shown


def _moved(doc: dict, namespace: str, name: str) -> dict:
    return {**doc, "metadata": {**doc["metadata"], "namespace": namespace, "name": name}}


def test_strict_scope_fails_under_another_namespace_or_name(old_key) -> None:
    doc = new_sealed_secret("team-a", "db", Scope.STRICT)
    seal_into(doc, old_key.cert.public_key(), {"password": b"x"})
    with pytest.raises(DecryptError):
        unseal(_moved(doc, "team-b", "db"), [old_key.key])
    with pytest.raises(DecryptError):
        unseal(_moved(doc, "team-a", "other"), [old_key.key])


def test_namespace_wide_allows_rename_but_not_move(old_key) -> None:
    doc = new_sealed_secret("team-a", "db", Scope.NAMESPACE_WIDE)
    seal_into(doc, old_key.cert.public_key(), {"password": b"x"})
    same = unseal(_moved(doc, "team-a", "renamed"), [old_key.key]) == {"password": b"x"}
    assert same, "plaintext mismatch"  # compared, never shown
    with pytest.raises(DecryptError):
        unseal(_moved(doc, "team-b", "db"), [old_key.key])


def test_cluster_wide_opens_anywhere(old_key) -> None:
    doc = new_sealed_secret("team-a", "db", Scope.CLUSTER_WIDE)
    seal_into(doc, old_key.cert.public_key(), {"password": b"x"})
    same = unseal(_moved(doc, "elsewhere", "other"), [old_key.key]) == {"password": b"x"}
    assert same, "plaintext mismatch"  # compared, never shown


def test_wrong_key_tampering_and_truncation_fail(old_key, new_key) -> None:
    ciphertext = hybrid_encrypt(old_key.cert.public_key(), b"value", b"ns")
    with pytest.raises(DecryptError):
        hybrid_decrypt([new_key.key], ciphertext, b"ns")
    tampered = ciphertext[:-1] + bytes([ciphertext[-1] ^ 1])
    with pytest.raises(DecryptError):
        hybrid_decrypt([old_key.key], tampered, b"ns")
    for short in (b"", b"\x01", ciphertext[:100]):
        with pytest.raises(DecryptError):
            hybrid_decrypt([old_key.key], short, b"ns")


def test_any_of_several_keys_opens(old_key, new_key) -> None:
    ciphertext = hybrid_encrypt(new_key.cert.public_key(), b"value", b"")
    assert hybrid_decrypt([old_key.key, new_key.key], ciphertext, b"") == b"value"
