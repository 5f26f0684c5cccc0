"""The repository's real layout end to end: ``seal-env.sh`` seals dev and prod, the prod controller renews
its key, and ``reseal-all --env prod`` (offline, from a key backup) reseals exactly prod's SealedSecrets."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ops.seal import keygen
from ops.seal.environments import load_environments
from ops.seal.manifest import is_sealed_secret, unseal
from ops.seal.reseal import find_files

ROOT = Path(__file__).resolve().parents[3]
SEAL_ENV = ROOT / "bootstrap" / "sealed-secrets" / "seal-env.sh"


def _backup(path: Path, pairs: list[tuple]) -> None:
    items = [
        keygen.key_secret(k, c, f"sealed-secrets-key{i}", "kube-system") for i, (k, c) in enumerate(pairs)
    ]
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))


@pytest.mark.skipif(
    not SEAL_ENV.is_file(), reason="bootstrap/sealed-secrets/seal-env.sh not in this checkout"
)
def test_seal_env_then_reseal_prod_after_key_renewal(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "bootstrap/sealed-secrets/certs").mkdir(parents=True)
    shutil.copy(SEAL_ENV, repo / "bootstrap/sealed-secrets/seal-env.sh")
    (repo / "ops/seal").mkdir(parents=True)
    shutil.copy(ROOT / "ops/seal/environments.yaml", repo / "ops/seal/environments.yaml")
    keys = {env: keygen.generate(bits=2048) for env in ("dev", "prod")}
    for env, (_, cert) in keys.items():
        (repo / f"bootstrap/sealed-secrets/certs/{env}.pem").write_bytes(keygen.cert_pem(cert))
    env_vars = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT)}
    env_vars.pop("SECRETS_DIR", None)
    for env in ("dev", "prod"):
        proc = subprocess.run(
            ["bash", "bootstrap/sealed-secrets/seal-env.sh", env],
            cwd=repo,
            env=env_vars,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)

    envs = load_environments(repo)
    files = {p.relative_to(repo).as_posix() for p in find_files(repo)}
    prod_files = {f for f in files if envs["prod"].owns(f)}
    dev_files = {f for f in files if envs["dev"].owns(f)}
    assert prod_files and dev_files and prod_files | dev_files == files and not prod_files & dev_files
    before = {f: (repo / f).read_bytes() for f in files}

    # The prod controller renews its key: new certificate committed, backup holds both keys.
    renewed = keygen.generate(bits=2048)
    (repo / "bootstrap/sealed-secrets/certs/prod.pem").write_bytes(keygen.cert_pem(renewed[1]))
    _backup(tmp_path / "prod-keys.yaml", [keys["prod"], renewed])
    argv = [
        "bash",
        str(ROOT / "ops/seal/reseal-all.sh"),
        "--root",
        str(repo),
        "--env",
        "prod",
        "--mode",
        "offline",
    ]
    proc = subprocess.run(
        [*argv, "--private-key", str(tmp_path / "prod-keys.yaml")],
        env=env_vars,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("resealed") == len(prod_files), proc.stdout

    for rel in files:
        text = (repo / rel).read_text()
        if rel in dev_files:
            assert (repo / rel).read_bytes() == before[rel], f"{rel}: dev file touched"
            continue
        for doc in filter(is_sealed_secret, yaml.safe_load_all(text)):
            old_doc = next(d for d in yaml.safe_load_all(before[rel]) if is_sealed_secret(d))
            same = unseal(doc, [renewed[0]]) == unseal(old_doc, [keys["prod"][0]])
            assert same, f"{rel}: values changed"  # compared, never shown

    _backup(tmp_path / "dev-keys.yaml", [keys["dev"]])
    dev = subprocess.run(
        [
            "bash",
            str(ROOT / "ops/seal/reseal-all.sh"),
            "--root",
            str(repo),
            "--env",
            "dev",
            "--mode",
            "offline",
            "--private-key",
            str(tmp_path / "dev-keys.yaml"),
        ],
        env=env_vars,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert dev.returncode == 0 and dev.stdout.count("up to date") == len(dev_files), dev.stdout
