"""``python -m ops.seal`` as an operator runs it: values only from files/stdin, never echoed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import yaml

from ops.seal.manifest import unseal
from ops.seal.sources import parse_env_file

ROOT = Path(__file__).resolve().parents[3]
SECRET_A = "hunter2-very-secret"
SECRET_B = "line1\nline2"


def run(*args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "ops.seal", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        check=False,
        timeout=120,
    )


def assert_no_plaintext(proc: subprocess.CompletedProcess[str]) -> None:
    for secret in (SECRET_A, "hunter2"):
        assert secret not in proc.stdout and secret not in proc.stderr, "a secret value was printed"


def test_seal_from_stdin_env_file_is_a_complete_manifest(tmp_path: Path, old_key) -> None:
    out = tmp_path / "s.yaml"
    proc = run(
        "seal",
        "--cert",
        str(old_key.cert_path),
        "--namespace",
        "mlops",
        "--name",
        "aws",
        "--scope",
        "namespace-wide",
        "-o",
        str(out),
        stdin=f"# aws\nAWS_KEY={SECRET_A}\n",
    )
    assert proc.returncode == 0, proc.stderr
    assert_no_plaintext(proc)
    assert SECRET_A not in out.read_text()
    doc = yaml.safe_load(out.read_text())
    assert doc["apiVersion"] == "bitnami.com/v1alpha1" and doc["kind"] == "SealedSecret"
    assert doc["metadata"] == {
        "name": "aws",
        "namespace": "mlops",
        "annotations": {"sealedsecrets.bitnami.com/namespace-wide": "true"},
    }
    assert doc["spec"]["template"]["metadata"]["annotations"] == doc["metadata"]["annotations"]
    assert doc["spec"]["template"]["type"] == "Opaque"
    same = unseal(doc, [old_key.key]) == {"AWS_KEY": SECRET_A.encode()}
    assert same, "plaintext mismatch"  # compared, never shown


def test_seal_from_files_keeps_bytes_and_merge_into_keeps_other_keys(tmp_path: Path, old_key) -> None:
    (tmp_path / "b.txt").write_text(SECRET_B)
    (tmp_path / "env").write_text(f"A={SECRET_A}\n")
    out = tmp_path / "s.yaml"
    base = ["seal", "--cert", str(old_key.cert_path), "--namespace", "ns", "--name", "n"]
    assert run(*base, "--from-file", f"B={tmp_path / 'b.txt'}", "-o", str(out)).returncode == 0
    merged = run(
        "seal",
        "--cert",
        str(old_key.cert_path),
        "--merge-into",
        str(out),
        "--from-env-file",
        str(tmp_path / "env"),
    )
    assert merged.returncode == 0, merged.stderr
    doc = yaml.safe_load(out.read_text())
    assert "annotations" not in doc["metadata"]
    same = unseal(doc, [old_key.key]) == {"A": SECRET_A.encode(), "B": SECRET_B.encode()}
    assert same, "plaintext mismatch"  # compared, never shown


def test_cert_served_over_http(tmp_path: Path, old_key) -> None:
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(old_key.cert_path.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{old_key.cert_path.name}"
        proc = run("seal", "--cert", url, "--namespace", "ns", "--name", "n", "-o", "-", stdin="K=v\n")
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 0, proc.stderr
    same = unseal(yaml.safe_load(proc.stdout), [old_key.key]) == {"K": b"v"}
    assert same, "plaintext mismatch"  # compared, never shown


def test_bad_input_exits_2_with_one_line(tmp_path: Path, old_key) -> None:
    cert = str(old_key.cert_path)
    cases = [
        ["seal", "--cert", str(tmp_path / "missing.pem"), "--namespace", "ns", "--name", "n"],
        ["seal", "--cert", cert, "--namespace", "Bad_NS", "--name", "n"],
        ["seal", "--cert", cert, "--name", "n"],
        ["seal", "--cert", str(old_key.key_path), "--namespace", "ns", "--name", "n"],
    ]
    for argv in cases:
        proc = run(*argv, stdin="K=v\n")
        assert proc.returncode == 2, argv
        assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
        assert "Traceback" not in proc.stderr
    empty = run("seal", "--cert", cert, "--namespace", "ns", "--name", "n", stdin="# nothing\n")
    assert empty.returncode == 2 and "no secret values" in empty.stderr
    bad_key = run("seal", "--cert", cert, "--namespace", "ns", "--name", "n", stdin=f"bad key={SECRET_A}\n")
    assert bad_key.returncode == 2
    assert_no_plaintext(bad_key)


def test_verify_and_unseal_never_print_values(tmp_path: Path, old_key, new_key) -> None:
    sealed = tmp_path / "s.yaml"
    run(
        "seal",
        "--cert",
        str(old_key.cert_path),
        "--namespace",
        "ns",
        "--name",
        "n",
        "-o",
        str(sealed),
        stdin=f"A={SECRET_A}\n",
    )
    ok = run("verify", "--private-key", str(old_key.backup_path), str(sealed))
    assert ok.returncode == 0 and "ok (A)" in ok.stdout
    assert_no_plaintext(ok)
    wrong = run("verify", "--private-key", str(new_key.key_path), str(sealed))
    assert wrong.returncode == 1 and "FAILED" in wrong.stdout
    refused = run("unseal", "--private-key", str(old_key.key_path), "-o", "-", str(sealed))
    assert refused.returncode == 2
    assert_no_plaintext(refused)
    plain = tmp_path / "plain.yaml"
    done = run("unseal", "--private-key", str(old_key.key_path), "-o", str(plain), str(sealed))
    assert done.returncode == 0
    assert_no_plaintext(done)
    assert stat.S_IMODE(plain.stat().st_mode) == 0o600
    secret = yaml.safe_load(plain.read_text())
    assert (
        secret["kind"] == "Secret"
        and secret["metadata"]["namespace"] == "ns"
        and set(secret["data"]) == {"A"}
    )


def test_keygen_writes_a_usable_key_backup(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.yaml", tmp_path / "cert.pem"
    proc = run("keygen", "--bits", "2048", "--key-out", str(key), "--cert-out", str(cert))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    sealed = tmp_path / "s.yaml"
    run("seal", "--cert", str(cert), "--namespace", "ns", "--name", "n", "-o", str(sealed), stdin="A=1\n")
    assert run("verify", "--private-key", str(key), str(sealed)).returncode == 0


def test_env_file_semantics_match_kubectl() -> None:
    text = "# comment\n\n  A=1\nB='quoted'\nC=with=equals\nD=\nFROM_ENV\n"
    values = parse_env_file(text, "t", environ={"FROM_ENV": "e"})
    assert values == {"A": b"1", "B": b"'quoted'", "C": b"with=equals", "D": b"", "FROM_ENV": b"e"}


def test_expired_certificate_is_refused_like_kubeseal(tmp_path: Path, old_key) -> None:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    from ops.seal import keygen

    now = dt.datetime.now(dt.UTC)
    expired = (
        x509.CertificateBuilder()
        .subject_name(old_key.cert.subject)
        .issuer_name(old_key.cert.subject)
        .public_key(old_key.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=2))
        .not_valid_after(now - dt.timedelta(days=1))
        .sign(old_key.key, hashes.SHA256())
    )
    (tmp_path / "old.pem").write_bytes(keygen.cert_pem(expired))
    proc = run("seal", "--cert", str(tmp_path / "old.pem"), "--namespace", "ns", "--name", "n", stdin="A=1\n")
    assert proc.returncode == 2 and "expired" in proc.stderr


def test_json_key_backup_is_accepted(tmp_path: Path, old_key) -> None:
    import json

    backup = tmp_path / "backup.json"
    backup.write_text(json.dumps(yaml.safe_load(old_key.backup_path.read_text())))
    sealed = tmp_path / "s.yaml"
    run(
        "seal",
        "--cert",
        str(old_key.cert_path),
        "--namespace",
        "ns",
        "--name",
        "n",
        "-o",
        str(sealed),
        stdin="A=1\n",
    )
    assert run("verify", "--private-key", str(backup), str(sealed)).returncode == 0
