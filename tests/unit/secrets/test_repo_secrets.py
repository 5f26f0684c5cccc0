"""The repository's own SealedSecrets: each belongs to one environment, is well formed and was sealed for
a key of that environment's size; the rotation targets point at them with the right certificate."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import yaml

from ops.rotate.targets import load_targets, prepare
from ops.seal.environments import load_environments
from ops.seal.keys import load_public_key
from ops.seal.manifest import encrypted_items, is_sealed_secret
from ops.seal.reseal import find_files

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def environments():
    return load_environments(ROOT)


@pytest.fixture(scope="module")
def sealed_files() -> list[str]:
    files = [p.relative_to(ROOT).as_posix() for p in find_files(ROOT)]
    if not files:
        pytest.skip("no SealedSecret committed yet")
    return files


def test_every_sealed_secret_belongs_to_exactly_one_environment(environments, sealed_files) -> None:
    for rel in sealed_files:
        owners = [env.name for env in environments.values() if env.owns(rel)]
        assert len(owners) == 1, f"{rel}: owned by {owners or 'no environment'} in ops/seal/environments.yaml"


def test_environment_certificates_load_and_differ(environments) -> None:
    keys = {name: load_public_key(str(ROOT / env.cert)) for name, env in environments.items()}
    numbers = {k.public_numbers().n for k in keys.values()}
    assert len(numbers) == len(keys), "two environments share a sealing key"


def test_sealed_secrets_are_well_formed_for_their_controller(environments, sealed_files) -> None:
    for rel in sealed_files:
        env = next(e for e in environments.values() if e.owns(rel))
        key_bytes = load_public_key(str(ROOT / env.cert)).key_size // 8
        docs = [d for d in yaml.safe_load_all((ROOT / rel).read_text()) if is_sealed_secret(d)]
        assert docs, rel
        for doc in docs:
            meta, tmeta = doc["metadata"], doc["spec"]["template"]["metadata"]
            assert meta.get("namespace") and meta.get("name"), rel
            assert (tmeta.get("name"), tmeta.get("namespace")) == (meta["name"], meta["namespace"]), rel
            items = encrypted_items(doc)
            assert items, f"{rel}: no encryptedData"
            for key, ciphertext in items.items():
                (rsa_len,) = struct.unpack(">H", ciphertext[:2])
                assert rsa_len == key_bytes, (
                    f"{rel} {key}: sealed for a {rsa_len * 8}-bit key, not {env.cert}"
                )
                assert len(ciphertext) >= 2 + rsa_len + 16, f"{rel} {key}: truncated"


def test_rotation_targets_use_the_certificate_of_their_environment(environments) -> None:
    data = yaml.safe_load((ROOT / "ops/rotate/targets.yaml").read_text())
    for user in data["users"]:
        targets = load_targets(ROOT / "ops/rotate/targets.yaml", user)
        prepared = prepare(ROOT, targets)
        for item in prepared:
            env = next(e for e in environments.values() if e.owns(item.target.file))
            assert item.target.cert == env.cert, f"{item.target.file}: cert {item.target.cert} != {env.cert}"
            doc = next(d for d in yaml.safe_load_all(item.text) if is_sealed_secret(d))
            assert {item.target.id_key, item.target.secret_key} <= set(doc["spec"]["encryptedData"])
