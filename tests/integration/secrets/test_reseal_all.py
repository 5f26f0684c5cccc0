"""``ops/seal/reseal-all.sh`` offline over a fixture git repository with several SealedSecrets."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from ops.seal import keygen
from ops.seal.manifest import dump, is_sealed_secret, new_sealed_secret, seal_into, unseal
from ops.seal.scheme import Scope

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "ops" / "seal" / "reseal-all.sh"
PLAINTEXT_MARK = "PLAINTEXT-MARK-"


class Keys:
    """Old and new controller keys (2048-bit for speed) and the backup files an operator would have."""

    def __init__(self, directory: Path) -> None:
        self.old, self.old_cert = keygen.generate(bits=2048)
        self.new, self.new_cert = keygen.generate(bits=2048)
        self.other, self.other_cert = keygen.generate(bits=2048)
        directory.mkdir(parents=True, exist_ok=True)
        self.new_cert_path = directory / "new.pem"
        self.new_cert_path.write_bytes(keygen.cert_pem(self.new_cert))
        self.backup = directory / "backup.yaml"
        items = [
            keygen.key_secret(self.old, self.old_cert, "sealed-secrets-keyold", "kube-system"),
            keygen.key_secret(self.new, self.new_cert, "sealed-secrets-keynew", "kube-system"),
        ]
        self.backup.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(tmp_path_factory.mktemp("reseal-keys"))


def _sealed(keys_pub, namespace: str, name: str, scope: Scope, values: dict[str, bytes]) -> dict:
    doc = new_sealed_secret(namespace, name, scope)
    seal_into(doc, keys_pub, values)
    return doc


def _values(tag: str) -> dict[str, bytes]:
    return {"user": f"{PLAINTEXT_MARK}{tag}-user".encode(), "password": f"{PLAINTEXT_MARK}{tag}-pw".encode()}


def _make_repo(path: Path, keys: Keys) -> dict[str, dict[str, dict[str, bytes]]]:
    """Write the fixture repo; return file → secret id → plaintexts."""
    pub = keys.old_cert.public_key()
    expected: dict[str, dict[str, dict[str, bytes]]] = {}
    layout = {
        "apps/dev/mlflow-db.yaml": [("mlops-dev", "mlflow-db", Scope.STRICT)],
        "apps/prod/aws.yaml": [("mlops-prod", "aws", Scope.NAMESPACE_WIDE)],
        "bootstrap/slack.yaml": [("argocd", "slack", Scope.CLUSTER_WIDE)],
        "charts/serving/secrets.yaml": [
            ("mlops-prod", "api-key", Scope.STRICT),
            ("mlops-prod", "s3", Scope.STRICT),
        ],
    }
    for rel, secrets in layout.items():
        file = path / rel
        file.parent.mkdir(parents=True, exist_ok=True)
        parts = ["# managed by ops/seal; do not edit ciphertexts by hand\n"]
        expected[rel] = {}
        for ns, name, scope in secrets:
            values = _values(f"{ns}-{name}")
            parts.append(dump(_sealed(pub, ns, name, scope, values)))
            expected[rel][f"{ns}/{name}"] = values
            if rel.startswith("charts/"):
                parts.append(dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}))
        file.write_text("".join(parts))
    # A corrupted ciphertext (one byte flipped) and a secret sealed for another cluster's controller.
    corrupt = _sealed(pub, "mlops-dev", "broken", Scope.STRICT, _values("broken"))
    raw = bytearray(base64.b64decode(corrupt["spec"]["encryptedData"]["password"]))
    raw[-5] ^= 0x01
    corrupt["spec"]["encryptedData"]["password"] = base64.b64encode(bytes(raw)).decode()
    (path / "apps/dev/broken.yaml").write_text(dump(corrupt))
    foreign = _sealed(keys.other_cert.public_key(), "mlops-dev", "foreign", Scope.STRICT, _values("foreign"))
    (path / "apps/dev/foreign.yaml").write_text(dump(foreign))
    (path / "tests").mkdir()
    (path / "tests/fixture.yaml").write_text(dump(foreign))
    (path / "README.md").write_text("kind: SealedSecret in prose is not a manifest\n")
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    return expected


def _run(repo: Path, keys: Keys, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = ["bash", str(SCRIPT), "--root", str(repo), "--mode", "offline"]
    argv += ["--cert", str(keys.new_cert_path), "--private-key", str(keys.backup), *extra]
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=300, check=False, env=dict(os.environ)
    )
    assert PLAINTEXT_MARK not in proc.stdout + proc.stderr, "reseal-all printed a plaintext"
    return proc


def _rows(stdout: str) -> dict[tuple[str, str], str]:
    rows = {}
    for line in stdout.splitlines()[1:]:
        parts = line.split(None, 2)
        if len(parts) == 3 and "/" in parts[0]:
            rows[(parts[0], parts[1])] = parts[2]
    return rows


def _snapshot(repo: Path) -> dict[str, bytes]:
    return {
        p.relative_to(repo).as_posix(): p.read_bytes() for p in repo.rglob("*.yaml") if ".git" not in p.parts
    }


def test_reseal_all_updates_every_secret_and_reports_the_bad_ones(tmp_path: Path, keys: Keys) -> None:
    repo = tmp_path / "repo"
    expected = _make_repo(repo, keys)
    before = _snapshot(repo)

    dry = _run(repo, keys, "--dry-run")
    assert dry.returncode == 1, dry.stdout
    assert _snapshot(repo) == before, "dry run wrote files"
    assert _rows(dry.stdout)[("apps/prod/aws.yaml", "mlops-prod/aws")] == "would reseal 2 key(s)"

    proc = _run(repo, keys)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = _rows(proc.stdout)
    assert rows[("apps/dev/broken.yaml", "mlops-dev/broken")].startswith("FAILED")
    assert rows[("apps/dev/foreign.yaml", "mlops-dev/foreign")].startswith("FAILED")
    assert not any(file.startswith("tests/") for file, _ in rows), "test fixtures are excluded by default"
    for rel, secrets in expected.items():
        for sid in secrets:
            assert rows[(rel, sid)] == "resealed 2 key(s)", (rel, sid, rows.get((rel, sid)))

    after = _snapshot(repo)
    for untouched in ("apps/dev/broken.yaml", "apps/dev/foreign.yaml", "tests/fixture.yaml"):
        assert after[untouched] == before[untouched], f"{untouched} was modified"
    for rel, secrets in expected.items():
        text = (repo / rel).read_text()
        assert text.startswith("# managed by ops/seal"), "comment lost"
        docs = [d for d in yaml.safe_load_all(text) if d]
        if rel.startswith("charts/"):
            assert [d["kind"] for d in docs] == ["SealedSecret", "ConfigMap", "SealedSecret", "ConfigMap"]
        for doc in filter(is_sealed_secret, docs):
            sid = f"{doc['metadata']['namespace']}/{doc['metadata']['name']}"
            same = unseal(doc, [keys.new]) == secrets[sid]
            assert same, f"{rel} {sid}: wrong plaintext"  # compared, never shown

    again = _run(repo, keys)
    assert again.returncode == 1
    assert _snapshot(repo) == after, "second run changed files"
    again_rows = _rows(again.stdout)
    assert again_rows[("apps/prod/aws.yaml", "mlops-prod/aws")] == "up to date (2 key(s))"

    clean = _run(repo, keys, "apps/prod", "charts", "bootstrap")
    assert clean.returncode == 0, clean.stdout
    assert {file for file, _ in _rows(clean.stdout)} == {
        "apps/prod/aws.yaml",
        "charts/serving/secrets.yaml",
        "bootstrap/slack.yaml",
    }


def test_missing_new_key_in_backup_is_bad_input(tmp_path: Path, keys: Keys) -> None:
    repo = tmp_path / "repo"
    _make_repo(repo, keys)
    only_old = tmp_path / "old.yaml"
    only_old.write_text(
        yaml.safe_dump(
            {"kind": "List", "items": [keygen.key_secret(keys.old, keys.old_cert, "k", "kube-system")]}
        )
    )
    before = _snapshot(repo)
    argv = ["bash", str(SCRIPT), "--root", str(repo), "--mode", "offline", "--cert", str(keys.new_cert_path)]
    proc = subprocess.run(
        [*argv, "--private-key", str(only_old)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert "private key of the new certificate" in proc.stderr and proc.stderr.count("\n") == 1
    assert _snapshot(repo) == before


def test_env_selects_the_certificate_and_paths(tmp_path: Path, keys: Keys) -> None:
    repo = tmp_path / "repo"
    _make_repo(repo, keys)
    (repo / "certs").mkdir()
    (repo / "certs/prod.pem").write_bytes(keys.new_cert_path.read_bytes())
    (repo / "ops/seal").mkdir(parents=True)
    envs = {"environments": {"prod": {"cert": "certs/prod.pem", "paths": ["apps/prod", "bootstrap"]}}}
    (repo / "ops/seal/environments.yaml").write_text(yaml.safe_dump(envs))
    argv = ["bash", str(SCRIPT), "--root", str(repo), "--env", "prod", "--private-key", str(keys.backup)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {file for file, _ in _rows(proc.stdout)} == {"apps/prod/aws.yaml", "bootstrap/slack.yaml"}
    unknown = subprocess.run([*argv[:5], "staging"], capture_output=True, text=True, timeout=300, check=False)
    assert unknown.returncode == 2 and "not one of prod" in unknown.stderr
