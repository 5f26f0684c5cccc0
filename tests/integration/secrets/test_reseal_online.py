"""The online path of reseal-all: plumbing around ``kubeseal --re-encrypt`` / ``--validate``.

No cluster runs here, so a stand-in ``kubeseal`` on PATH plays the controller (it holds the old and new
keys, like the controller does after a key renewal). This checks our side of the contract (flags, stdin,
YAML output, the validate gate, in-place writes, the table); the real controller's behaviour is not
exercised, and is documented in docs/operations.md.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ops.seal import keygen
from ops.seal.manifest import dump, new_sealed_secret, seal_into, unseal
from ops.seal.scheme import Scope

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "ops" / "seal" / "reseal-all.sh"

STANDIN = '''#!{python}
"""Stand-in for kubeseal talking to a controller that holds STANDIN_KEYS and seals with STANDIN_CERT."""
import os, sys
sys.path.insert(0, {root!r})
from ops.seal.keys import load_private_keys, load_public_key
from ops.seal.manifest import dump, seal_into, unseal
import yaml
args = sys.argv[1:]
if "--context" in args:  # kubeconfig context: this stand-in is the cluster of every context
    i = args.index("--context"); del args[i:i + 2]
ns = args[args.index("--controller-namespace") + 1]
name = args[args.index("--controller-name") + 1]
if (ns, name) != ("sealing", "ctrl"):
    sys.exit("error: cannot get sealed secret service: not found")
if "--fetch-cert" in args:
    sys.stdout.write(open(os.environ["STANDIN_CERT"]).read()); sys.exit(0)
keys = [k.key for k in load_private_keys(os.environ["STANDIN_KEYS"])]
doc = yaml.safe_load(sys.stdin.read())
try:
    values = unseal(doc, keys)
except Exception:
    sys.exit("error: unable to decrypt sealed secret")
if "--validate" in args:
    sys.exit(1 if os.environ.get("STANDIN_FAIL_VALIDATE") else 0)
if "--re-encrypt" in args:
    assert args[args.index("-o") + 1] == "yaml"
    doc["spec"]["encryptedData"] = {{}}
    seal_into(doc, load_public_key(os.environ["STANDIN_CERT"]), values)
    sys.stdout.write(dump(doc)); sys.exit(0)
sys.exit("unexpected arguments")
'''


@pytest.fixture(scope="module")
def controller(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("online")
    old, old_cert = keygen.generate(bits=2048)
    new, new_cert = keygen.generate(bits=2048)
    (tmp / "new.pem").write_bytes(keygen.cert_pem(new_cert))
    items = [
        keygen.key_secret(k, c, f"key{i}", "sealing")
        for i, (k, c) in enumerate([(old, old_cert), (new, new_cert)])
    ]
    (tmp / "keys.yaml").write_text(yaml.safe_dump({"kind": "List", "items": items}))
    bindir = tmp / "bin"
    bindir.mkdir()
    kubeseal = bindir / "kubeseal"
    kubeseal.write_text(STANDIN.format(python=sys.executable, root=str(ROOT)))
    kubeseal.chmod(kubeseal.stat().st_mode | stat.S_IXUSR)
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "STANDIN_CERT": str(tmp / "new.pem"),
        "STANDIN_KEYS": str(tmp / "keys.yaml"),
    }
    return {"old": old, "old_cert": old_cert, "new": new, "env": env}


def _repo(tmp_path: Path, controller: dict) -> Path:
    repo = tmp_path / "repo"
    for i, scope in enumerate(Scope):
        doc = new_sealed_secret("ns", f"s{i}", scope)
        seal_into(doc, controller["old_cert"].public_key(), {"k": f"value-{i}".encode()})
        (repo / "apps").mkdir(parents=True, exist_ok=True)
        (repo / f"apps/s{i}.yaml").write_text(dump(doc))
    return repo


def _run(repo: Path, env: dict, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = ["bash", str(SCRIPT), "--root", str(repo), "--controller-namespace", "sealing"]
    argv += ["--controller-name", "ctrl", *extra]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_auto_mode_goes_online_and_reseals_in_place(tmp_path: Path, controller: dict) -> None:
    repo = _repo(tmp_path, controller)
    proc = _run(repo, controller["env"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mode online" in proc.stdout and proc.stdout.count("resealed 1 key(s)") == 3
    for i, _ in enumerate(Scope):
        doc = yaml.safe_load((repo / f"apps/s{i}.yaml").read_text())
        same = unseal(doc, [controller["new"]]) == {"k": f"value-{i}".encode()}
        assert same, "plaintext mismatch"  # compared, never shown
    assert "value-" not in proc.stdout + proc.stderr


def test_validate_failure_leaves_files_untouched(tmp_path: Path, controller: dict) -> None:
    repo = _repo(tmp_path, controller)
    before = {p.name: p.read_bytes() for p in (repo / "apps").iterdir()}
    proc = _run(repo, {**controller["env"], "STANDIN_FAIL_VALIDATE": "1"}, "--mode", "online")
    assert proc.returncode == 1 and proc.stdout.count("FAILED: kubeseal --validate rejected") == 3
    assert {p.name: p.read_bytes() for p in (repo / "apps").iterdir()} == before


def test_online_mode_without_a_controller_is_bad_input(tmp_path: Path, controller: dict) -> None:
    repo = _repo(tmp_path, controller)
    argv = ["bash", str(SCRIPT), "--root", str(repo), "--mode", "online", "--controller-name", "missing"]
    proc = subprocess.run(
        argv, env=controller["env"], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 2 and "unreachable" in proc.stderr


def _env_repo(tmp_path: Path, controller: dict, prod_cert: bytes) -> Path:
    """A repository with dev (sealed for the old key) and prod environments of ops/seal/environments.yaml."""
    repo = _repo(tmp_path, controller)
    (repo / "certs").mkdir()
    (repo / "certs/dev.pem").write_bytes(keygen.cert_pem(controller["old_cert"]))
    (repo / "certs/prod.pem").write_bytes(prod_cert)
    (repo / "ops/seal").mkdir(parents=True)
    envs = {
        "dev": {"cert": "certs/dev.pem", "paths": ["apps"], "context": "dev"},
        "prod": {"cert": "certs/prod.pem", "paths": ["prod"], "context": "prod"},
    }
    (repo / "ops/seal/environments.yaml").write_text(yaml.safe_dump({"environments": envs}))
    return repo


def test_online_reseal_of_an_env_refuses_the_other_envs_controller(tmp_path: Path, controller: dict) -> None:
    """Issue 13: online reseal ignored --env; dev secrets were re-sealed by whatever controller answered,
    here one that serves the prod certificate."""
    prod_cert = Path(controller["env"]["STANDIN_CERT"]).read_bytes()  # the controller kubeseal reaches
    repo = _env_repo(tmp_path, controller, prod_cert)
    before = {p.name: p.read_bytes() for p in (repo / "apps").iterdir()}
    proc = _run(repo, controller["env"], "--env", "dev", "--mode", "online")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "serves the prod certificate" in proc.stderr and "--context" in proc.stderr
    assert {p.name: p.read_bytes() for p in (repo / "apps").iterdir()} == before


def test_online_reseal_of_an_env_after_key_renewal_updates_its_certificate(
    tmp_path: Path, controller: dict
) -> None:
    _other_key, other_cert = keygen.generate(bits=2048)
    repo = _env_repo(tmp_path, controller, keygen.cert_pem(other_cert))
    proc = _run(repo, controller["env"], "--env", "dev", "--mode", "online")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("resealed 1 key(s)") == 3 and "certs/dev.pem" in proc.stdout
    assert (repo / "certs/dev.pem").read_bytes() == Path(controller["env"]["STANDIN_CERT"]).read_bytes()
    assert (repo / "certs/prod.pem").read_bytes() == keygen.cert_pem(other_cert)
