"""Re-encrypt every SealedSecret of a repository for the controller's current certificate.

A file is written only after its new text has been parsed back and every value unsealed with the new
key to the same bytes (offline), or validated by the controller (online). A failure leaves the file
untouched and is reported; other files still proceed. No plaintext is ever printed.
"""

from __future__ import annotations

import base64
import fnmatch
import os
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from ops.seal import kubeseal
from ops.seal.errors import DecryptError, SealError
from ops.seal.io import load_docs, replace_ciphertexts, write_atomic
from ops.seal.keys import PrivateKey, fingerprint
from ops.seal.manifest import dump, encrypted_items, is_sealed_secret, label_of
from ops.seal.scheme import hybrid_decrypt, hybrid_encrypt

SKIP_DIRS = {".git", ".venv", "node_modules", ".stack", ".tools", "build", "__pycache__", ".pytest_cache"}
YAML_SUFFIXES = (".yaml", ".yml")
DEFAULT_EXCLUDES = ("tests/*",)


@dataclass
class Row:
    """One line of the report: a SealedSecret (or a whole file when it could not be read)."""

    file: str
    secret: str
    result: str
    ok: bool = True


@dataclass
class FileOutcome:
    """What happened to one file."""

    rows: list[Row] = field(default_factory=list)
    new_text: str | None = None


def _secret_id(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    return f"{meta.get('namespace') or '-'}/{meta.get('name') or '?'}"


def _git_files(root: Path) -> list[Path] | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return [root / p for p in proc.stdout.decode().split("\0") if p]


def _walk_files(root: Path) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        out.extend(Path(dirpath) / f for f in sorted(filenames))
    return out


def find_files(
    root: Path, paths: Sequence[str] = (), excludes: Sequence[str] = DEFAULT_EXCLUDES
) -> list[Path]:
    """Files under ``root`` (git-tracked or not ignored, when a git repository) holding a SealedSecret."""
    root = root.resolve()
    candidates = _git_files(root) if (root / ".git").exists() else None
    if candidates is None:
        candidates = _walk_files(root)
    selected = [(root / p).resolve() for p in paths]
    out: list[Path] = []
    for path in sorted(set(candidates)):
        rel = path.relative_to(root).as_posix()
        if path.suffix not in YAML_SUFFIXES or any(fnmatch.fnmatch(rel, pat) for pat in excludes):
            continue
        if selected and not any(path == s or s in path.parents for s in selected):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if "kind: SealedSecret" in text or '"kind": "SealedSecret"' in text:
            out.append(path)
    return out


class OfflineResealer:
    """Decrypt with the backed-up keys, encrypt for the new certificate, verify with the new key."""

    def __init__(self, new_public: rsa.RSAPublicKey, private_keys: Sequence[PrivateKey]) -> None:
        new_fp = fingerprint(new_public)
        current = [k.key for k in private_keys if k.fingerprint == new_fp]
        if not current:
            raise SealError(
                f"the private key of the new certificate ({new_fp}) is not among --private-key; "
                "back up the controller's keys after the renewal and pass that backup"
            )
        self.new_public = new_public
        self.current = current
        self.all_keys = [k.key for k in private_keys]

    def reseal_doc(self, doc: dict[str, Any]) -> tuple[dict[str, str], dict[str, bytes], int]:
        """Replacements old-b64 → new-b64, the plaintexts (kept in memory only) and the count up to date."""
        label = label_of(doc)
        spec_values = (doc.get("spec") or {}).get("encryptedData") or {}
        replacements: dict[str, str] = {}
        plaintexts: dict[str, bytes] = {}
        current = 0
        for key, ciphertext in encrypted_items(doc).items():
            try:
                plaintexts[key] = hybrid_decrypt(self.current, ciphertext, label)
                current += 1
                continue
            except DecryptError:
                pass
            try:
                plain = hybrid_decrypt(self.all_keys, ciphertext, label)
            except DecryptError:
                raise DecryptError(f"encryptedData.{key}: no given key can decrypt it") from None
            plaintexts[key] = plain
            replacements[str(spec_values[key])] = base64.b64encode(
                hybrid_encrypt(self.new_public, plain, label)
            ).decode()
        return replacements, plaintexts, current

    def verify(self, doc: dict[str, Any], plaintexts: dict[str, bytes]) -> None:
        """Every value of ``doc`` opens with the new key alone and equals the original plaintext."""
        label = label_of(doc)
        items = encrypted_items(doc)
        if set(items) != set(plaintexts):
            raise DecryptError("round trip: the set of keys changed")
        for key, ciphertext in items.items():
            if hybrid_decrypt(self.current, ciphertext, label) != plaintexts[key]:
                raise DecryptError(f"round trip: encryptedData.{key} differs after re-encryption")


def reseal_file_offline(path: Path, rel: str, resealer: OfflineResealer) -> FileOutcome:
    """Reseal all SealedSecrets of one file in memory; ``new_text`` is set only when all round-trip."""
    outcome = FileOutcome()
    try:
        text = path.read_text(encoding="utf-8")
        docs = load_docs(text, rel)
    except (SealError, OSError, UnicodeDecodeError) as exc:
        outcome.rows.append(Row(rel, "-", f"FAILED: {exc}", ok=False))
        return outcome
    sealed = [d for d in docs if is_sealed_secret(d)]
    if not sealed:
        outcome.rows.append(Row(rel, "-", "FAILED: no SealedSecret parsed (templated file?)", ok=False))
        return outcome
    replacements: dict[str, str] = {}
    expected: dict[str, dict[str, bytes]] = {}
    for doc in sealed:
        sid = _secret_id(doc)
        try:
            repl, plain, current = resealer.reseal_doc(doc)
        except (DecryptError, SealError) as exc:
            outcome.rows.append(Row(rel, sid, f"FAILED: {exc}", ok=False))
            continue
        replacements.update(repl)
        expected[sid] = plain
        n = len(repl)
        outcome.rows.append(Row(rel, sid, f"resealed {n} key(s)" if n else f"up to date ({current} key(s))"))
    if not all(r.ok for r in outcome.rows) or not replacements:
        return outcome
    try:
        new_text = replace_ciphertexts(text, replacements, docs)
        for doc in (d for d in load_docs(new_text, rel) if is_sealed_secret(d)):
            resealer.verify(doc, expected[_secret_id(doc)])
    except (DecryptError, SealError, KeyError) as exc:
        for row in outcome.rows:
            row.result, row.ok = f"FAILED: {exc}", False
        return outcome
    outcome.new_text = new_text
    return outcome


def reseal_file_online(path: Path, rel: str, controller: kubeseal.Controller) -> FileOutcome:
    """Reseal through ``kubeseal --re-encrypt``; each result is checked with ``kubeseal --validate``."""
    outcome = FileOutcome()
    try:
        text = path.read_text(encoding="utf-8")
        docs = load_docs(text, rel)
    except (SealError, OSError, UnicodeDecodeError) as exc:
        outcome.rows.append(Row(rel, "-", f"FAILED: {exc}", ok=False))
        return outcome
    replacements: dict[str, str] = {}
    for doc in (d for d in docs if is_sealed_secret(d)):
        sid = _secret_id(doc)
        try:
            returned = kubeseal.re_encrypt(dump(doc).encode(), controller).decode()
            new = next(d for d in load_docs(returned, sid) if is_sealed_secret(d))
            if set(encrypted_items(new)) != set(encrypted_items(doc)):
                raise SealError("kubeseal --re-encrypt changed the set of keys")
            if not kubeseal.validate(dump(new).encode(), controller):
                raise SealError("kubeseal --validate rejected the re-encrypted manifest")
        except (SealError, StopIteration) as exc:
            outcome.rows.append(Row(rel, sid, f"FAILED: {exc or 'no SealedSecret returned'}", ok=False))
            continue
        old_enc, new_enc = doc["spec"]["encryptedData"], new["spec"]["encryptedData"]
        replacements.update({str(old_enc[k]): str(new_enc[k]) for k in old_enc})
        outcome.rows.append(Row(rel, sid, f"resealed {len(old_enc)} key(s)"))
    if outcome.rows and all(r.ok for r in outcome.rows) and replacements:
        try:
            outcome.new_text = replace_ciphertexts(text, replacements, docs)
        except SealError as exc:
            for row in outcome.rows:
                row.result, row.ok = f"FAILED: {exc}", False
    return outcome


def reseal_all(
    root: Path,
    files: Iterable[Path],
    reseal_one: Callable[[Path, str], FileOutcome],
    dry_run: bool = False,
) -> list[Row]:
    """Run ``reseal_one`` over every file and write those that round-tripped (unless ``dry_run``)."""
    rows: list[Row] = []
    for path in files:
        rel = path.resolve().relative_to(root.resolve()).as_posix()
        outcome = reseal_one(path, rel)
        if outcome.new_text is not None:
            if dry_run:
                for row in outcome.rows:
                    row.result = row.result.replace("resealed", "would reseal")
            else:
                try:
                    write_atomic(path, outcome.new_text, mode=path.stat().st_mode & 0o777)
                except OSError as exc:
                    for row in outcome.rows:
                        row.result, row.ok = f"FAILED: cannot write ({exc.strerror})", False
        rows.extend(outcome.rows)
    return rows


def format_table(rows: Sequence[Row]) -> str:
    """A plain-text table: FILE, SECRET, RESULT."""
    header = Row("FILE", "SECRET", "RESULT")
    all_rows = [header, *rows]
    w_file = max(len(r.file) for r in all_rows)
    w_secret = max(len(r.secret) for r in all_rows)
    return "\n".join(f"{r.file:<{w_file}}  {r.secret:<{w_secret}}  {r.result}" for r in all_rows)
