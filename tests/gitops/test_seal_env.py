"""bootstrap/sealed-secrets/seal-env.sh produces the committed set of SealedSecrets, openable by the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ci.validate.settings import REPO


def _keys(root: Path, env: str) -> dict[str, tuple[str, set[str]]]:
    files = sorted((root / "apps/envs" / env / "secrets").glob("*/*.yaml"))
    if env == "prod":
        files += [root / "bootstrap/argocd-secrets/argocd-notifications-secret.yaml"]
    out = {}
    for path in files:
        doc = yaml.safe_load(path.read_text())
        out[str(path.relative_to(root))] = (doc["metadata"]["namespace"], set(doc["spec"]["encryptedData"]))
    return out


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_seal_env_recreates_the_committed_secrets_for_a_new_key(tmp_path: Path, env: str) -> None:
    run = {"cwd": REPO, "capture_output": True, "text": True, "check": False}
    key, cert = tmp_path / "key.yaml", tmp_path / "cert.pem"
    keygen = [sys.executable, "-m", "ops.seal", "keygen", "--key-out", str(key), "--cert-out", str(cert)]
    assert subprocess.run(keygen, **run).returncode == 0
    out = tmp_path / "out"
    env_vars = {**os.environ, "OUT_ROOT": str(out), "PYTHON": sys.executable}
    proc = subprocess.run(
        ["bash", "bootstrap/sealed-secrets/seal-env.sh", env, str(cert)], env=env_vars, **run
    )
    assert proc.returncode == 0, proc.stderr
    assert _keys(out, env) == _keys(REPO, env)
    files = [str(out / name) for name in _keys(out, env)]
    verify = subprocess.run(
        [sys.executable, "-m", "ops.seal", "verify", "--private-key", str(key), *files], **run
    )
    assert verify.returncode == 0, verify.stdout
    assert verify.stdout.count(": ok (") == len(files)
    assert "hooks.slack.com" not in proc.stdout + proc.stderr  # values are never printed
