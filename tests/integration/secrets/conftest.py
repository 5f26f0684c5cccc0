"""Fixtures for the secrets integration tests: sealing keys and the independent implementations.

The independent implementations are fetched at pinned versions with pinned hashes into the git-ignored
``build/xcheck/`` folder, once per machine (guarded by a file lock against concurrent test runs):
- npm ``@linode/kubeseal-encrypt@1.0.1`` (WebCrypto, TypeScript; encrypts only, namespace label),
- PyPI ``aes-gcm-rsa-oaep==0.1.0`` (encrypt and decrypt). It pins ``cryptography<38`` which conflicts with
  the project's ``cryptography>=43``, so it cannot be a locked dependency; it is installed ``--no-deps``
  into its own folder and runs on the project's ``cryptography`` (its API use is unchanged since 37).
"""

from __future__ import annotations

import fcntl
import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]
XCHECK = ROOT / "build" / "xcheck"
NPM_PACKAGE = "@linode/kubeseal-encrypt"
NPM_VERSION = "1.0.1"
NPM_INTEGRITY = (
    "sha512-NTiPFA8jAcfotB6dezE4i/kd3TEt75IsI1AqpGOWWPDCUiu4pjWwznDcGq5z8jnyx27UW/SKH5UUJM5JN4uxqw=="
)
PYPI_REQUIREMENT = "aes-gcm-rsa-oaep==0.1.0"
PYPI_SHA256 = "845ff2e6a347cf66b4e4b77161fd637e41b76af02c7a0e4b7fe24679a7ec6ec7"


@contextmanager
def _locked(name: str) -> Iterator[None]:
    XCHECK.mkdir(parents=True, exist_ok=True)
    with open(XCHECK / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def kubeseal_encrypt_js() -> Path:
    """The ESM entry of the npm package, installed at the pinned version and integrity."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("npm/node not installed: cannot run the independent @linode/kubeseal-encrypt cross-check")
    prefix = XCHECK / "npm"
    entry = prefix / "node_modules" / "@linode" / "kubeseal-encrypt" / "dist" / "index.js"
    with _locked("npm"):
        lock_file = prefix / "package-lock.json"
        installed = lock_file.is_file() and entry.is_file()
        if not installed:
            prefix.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [
                    npm,
                    "install",
                    "--prefix",
                    str(prefix),
                    "--no-audit",
                    "--no-fund",
                    "--ignore-scripts",
                    "--save-exact",
                    f"{NPM_PACKAGE}@{NPM_VERSION}",
                ],
                check=True,
                capture_output=True,
                timeout=300,
            )
        meta = json.loads(lock_file.read_text())["packages"][f"node_modules/{NPM_PACKAGE}"]
    assert meta["version"] == NPM_VERSION and meta["integrity"] == NPM_INTEGRITY, "npm package not as pinned"
    return entry


@pytest.fixture(scope="session")
def aes_gcm_rsa_oaep() -> ModuleType:
    """The PyPI package, installed without dependencies at the pinned version and hash."""
    target = XCHECK / "pypi"
    uv = Path(sys.executable).with_name("uv")
    with _locked("pypi"):
        if not (target / "aes_gcm_rsa_oaep" / "__init__.py").is_file():
            requirements = XCHECK / "pypi-requirements.txt"
            requirements.write_text(f"{PYPI_REQUIREMENT} --hash=sha256:{PYPI_SHA256}\n")
            installer = (
                [str(uv), "pip", "install", "--python", sys.executable]
                if uv.exists()
                else [sys.executable, "-m", "pip", "install", "--quiet"]
            )
            pinned = ["--no-deps", "--require-hashes", "--target", str(target), "-r", str(requirements)]
            subprocess.run(
                [*installer, *pinned],
                check=True,
                capture_output=True,
                timeout=300,
            )
    sys.path.insert(0, str(target))
    try:
        return importlib.import_module("aes_gcm_rsa_oaep")
    finally:
        sys.path.remove(str(target))
