"""The online path: the ``kubeseal`` binary talking to a reachable controller."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from ops.seal.errors import SealError

KUBESEAL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Controller:
    """Where the sealed-secrets controller runs (kubeseal's --controller-namespace/--controller-name)."""

    namespace: str = "kube-system"
    name: str = "sealed-secrets-controller"
    context: str = ""  # kubeconfig context (kubeseal --context); "" is the current context

    def args(self) -> list[str]:
        context = ["--context", self.context] if self.context else []
        return [*context, "--controller-namespace", self.namespace, "--controller-name", self.name]


def _run(argv: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, input=stdin, capture_output=True, timeout=KUBESEAL_TIMEOUT_S, check=False)


def fetch_cert(controller: Controller) -> bytes | None:
    """The controller's current certificate via ``kubeseal --fetch-cert``; None when unreachable."""
    binary = shutil.which("kubeseal")
    if binary is None:
        return None
    try:
        proc = _run([binary, "--fetch-cert", *controller.args()])
    except (subprocess.TimeoutExpired, OSError):
        return None
    return proc.stdout if proc.returncode == 0 and b"BEGIN" in proc.stdout else None


def online_available(controller: Controller) -> bool:
    """True when kubeseal is installed and the controller answers."""
    return fetch_cert(controller) is not None


def re_encrypt(manifest: bytes, controller: Controller) -> bytes:
    """``kubeseal --re-encrypt``: the controller re-seals with its newest key (no plaintext leaves it)."""
    binary = shutil.which("kubeseal")
    if binary is None:
        raise SealError("kubeseal is not installed (use --mode offline with --private-key and --cert)")
    proc = _run([binary, "--re-encrypt", "-o", "yaml", *controller.args()], manifest)
    if proc.returncode != 0:
        raise SealError(f"kubeseal --re-encrypt failed: {proc.stderr.decode(errors='replace').strip()[:300]}")
    return proc.stdout


def validate(manifest: bytes, controller: Controller) -> bool:
    """``kubeseal --validate``: the controller confirms it can unseal the manifest."""
    binary = shutil.which("kubeseal")
    if binary is None:
        return False
    proc = _run([binary, "--validate", *controller.args()], manifest)
    return proc.returncode == 0
