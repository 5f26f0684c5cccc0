"""Our sealing against independent implementations of the Sealed Secrets scheme, both directions.

- npm ``@linode/kubeseal-encrypt`` (Node WebCrypto) encrypts → our decryptor opens it (namespace label,
  the only label that package produces).
- PyPI ``aes-gcm-rsa-oaep`` decrypts what we seal, and we open what it encrypts, for every scope.
- Node's own WebCrypto (a separate crypto stack from Python's ``cryptography``) decrypts what we seal.
No test prints a secret: mismatches are reported by assertion messages without values.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
from cryptography.hazmat.primitives import serialization

from ops.seal import keygen
from ops.seal.errors import DecryptError
from ops.seal.manifest import encrypted_items, label_of, new_sealed_secret, seal_into, unseal
from ops.seal.scheme import Scope

SCOPES = list(Scope)


@pytest.fixture(scope="module")
def controller():
    """A 4096-bit key pair like the controller's default."""
    return keygen.generate(bits=4096)


def _spki_pem(cert) -> str:
    return (
        cert.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _node(script: str, payload: dict, cwd: Path) -> str:
    proc = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, "node failed: " + proc.stderr[-500:]
    return proc.stdout.strip()


NPM_ENCRYPT = """
import { readFileSync } from 'node:fs';
const { encryptSecretItem } = await import('%s');
const input = JSON.parse(readFileSync(0, 'utf8'));
const out = [];
for (const value of input.values) out.push(await encryptSecretItem(input.pem, input.namespace, value));
process.stdout.write(JSON.stringify(out));
"""


def test_npm_kubeseal_encrypt_to_our_decryptor(kubeseal_encrypt_js: Path, controller, tmp_path: Path) -> None:
    key, cert = controller
    values = [secrets.token_urlsafe(24), "ünïcødé ✓", "multi\nline\n", secrets.token_hex(2000)]
    out = _node(
        NPM_ENCRYPT % kubeseal_encrypt_js.as_posix(),
        {"pem": _spki_pem(cert), "namespace": "mlops-prod", "values": values},
        tmp_path,
    )
    ciphertexts = json.loads(out)
    doc = new_sealed_secret("mlops-prod", "any-name", Scope.NAMESPACE_WIDE)
    doc["spec"]["encryptedData"] = {f"k{i}": c for i, c in enumerate(ciphertexts)}
    opened = unseal(doc, [key])
    same = [opened[f"k{i}"] for i in range(len(values))] == [v.encode() for v in values]
    assert same, "plaintext mismatch"  # compared, never shown
    # Their label is the namespace: the same ciphertext must not open as strict or in another namespace.
    for scope, namespace in ((Scope.STRICT, "mlops-prod"), (Scope.NAMESPACE_WIDE, "mlops-dev")):
        other = new_sealed_secret(namespace, "any-name", scope)
        other["spec"]["encryptedData"] = {"k0": ciphertexts[0]}
        with pytest.raises(DecryptError):
            unseal(other, [key])


@pytest.mark.parametrize("scope", SCOPES)
def test_ours_to_pypi_decrypt(aes_gcm_rsa_oaep: ModuleType, controller, scope: Scope) -> None:
    key, cert = controller
    values = {"a": secrets.token_bytes(64), "b": b"", "c": secrets.token_urlsafe(300).encode()}
    doc = new_sealed_secret("team-a", "db-creds", scope)
    seal_into(doc, cert.public_key(), values)
    label = label_of(doc) or None
    for name, ciphertext in encrypted_items(doc).items():
        same = aes_gcm_rsa_oaep.decrypt(ciphertext, key, label) == values[name]
        assert same, f"{name}: mismatch"  # compared, never shown


@pytest.mark.parametrize("scope", SCOPES)
def test_pypi_encrypt_to_ours(aes_gcm_rsa_oaep: ModuleType, controller, scope: Scope) -> None:
    key, cert = controller
    doc = new_sealed_secret("team-a", "db-creds", scope)
    values = {"a": secrets.token_bytes(100), "b": b"x"}
    label = label_of(doc) or None
    doc["spec"]["encryptedData"] = {
        k: base64.b64encode(aes_gcm_rsa_oaep.encrypt(v, cert.public_key(), label)).decode()
        for k, v in values.items()
    }
    same = unseal(doc, [key]) == values
    assert same, "plaintext mismatch"  # compared, never shown


WEBCRYPTO_DECRYPT = """
import { readFileSync } from 'node:fs';
const { subtle } = globalThis.crypto;
const input = JSON.parse(readFileSync(0, 'utf8'));
const der = Buffer.from(input.pkcs8, 'base64');
const priv = await subtle.importKey('pkcs8', der, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['decrypt']);
const out = {};
for (const [name, b64] of Object.entries(input.items)) {
  const ct = Buffer.from(b64, 'base64');
  const n = ct.readUInt16BE(0);
  const sessionKey = await subtle.decrypt(
    { name: 'RSA-OAEP', label: Buffer.from(input.label, 'utf8') }, priv, ct.subarray(2, 2 + n));
  const aes = await subtle.importKey('raw', sessionKey, 'AES-GCM', false, ['decrypt']);
  const pt = await subtle.decrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, aes, ct.subarray(2 + n));
  out[name] = Buffer.from(pt).toString('base64');
}
process.stdout.write(JSON.stringify(out));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed: WebCrypto cross-check skipped")
@pytest.mark.parametrize("scope", SCOPES)
def test_ours_to_node_webcrypto(controller, scope: Scope, tmp_path: Path) -> None:
    key, cert = controller
    values = {"a": secrets.token_bytes(48), "b": "ünïcødé".encode()}
    doc = new_sealed_secret("team-a", "db-creds", scope)
    seal_into(doc, cert.public_key(), values)
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    payload = {
        "pkcs8": base64.b64encode(pkcs8).decode(),
        "label": label_of(doc).decode(),
        "items": doc["spec"]["encryptedData"],
    }
    opened = json.loads(_node(WEBCRYPTO_DECRYPT, payload, tmp_path))
    same = {k: base64.b64decode(v) for k, v in opened.items()} == values
    assert same, "plaintext mismatch"  # compared, never shown
