"""Commit files onto a new branch without touching the checkout, the index or HEAD (git plumbing)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from ops.rotate.errors import RotateError, StepFailed


def _git(root: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", "-C", str(root), *args],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        raise StepFailed(f"git {args[0]} failed: {proc.stderr.decode(errors='replace').strip()[:300]}")
    return proc.stdout.decode().strip()


def check_branch(root: Path, branch: str) -> None:
    """Preflight: ``root`` is a git work tree and ``branch`` is a new, valid branch name."""
    try:
        _git(root, "rev-parse", "--verify", "HEAD")
        _git(root, "check-ref-format", "--branch", branch)
    except StepFailed as exc:
        raise RotateError(f"--commit-branch {branch}: {exc}") from None
    exists = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
        capture_output=True,
        check=False,
    )
    if exists.returncode == 0:
        raise RotateError(f"--commit-branch {branch}: branch already exists")


def commit_files(root: Path, branch: str, files: dict[str, str], message: str) -> str:
    """Create ``branch`` at HEAD plus one commit replacing ``files`` (repo-relative path → text)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _git(root, "read-tree", "HEAD", env=env)
        for rel, text in files.items():
            blob = _git(root, "hash-object", "-w", "--stdin", stdin=text.encode())
            _git(root, "update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}", env=env)
        tree = _git(root, "write-tree", env=env)
    commit = _git(root, "commit-tree", tree, "-p", "HEAD", "-m", message)
    _git(root, "update-ref", f"refs/heads/{branch}", commit, "0" * 40)
    return commit


def delete_branch(root: Path, branch: str) -> None:
    """Remove ``branch`` if it exists (a rolled-back rotation leaves no commit carrying its key)."""
    exists = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
        capture_output=True,
        check=False,
    )
    if exists.returncode == 0:
        _git(root, "update-ref", "-d", f"refs/heads/{branch}")
