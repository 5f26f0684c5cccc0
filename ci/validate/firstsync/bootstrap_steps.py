"""The manual steps of bootstrap/README.md, in the order a new cluster follows them.

The dry run reads the shell block of the README (the only place that says what an operator does before
Argo CD takes over) and turns each recognised command into what it gives the cluster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

README = "bootstrap/README.md"
SEAL_SCRIPT = "bootstrap/sealed-secrets/seal-env.sh"
# The upstream install also creates the server Service the Argo CD HTTPRoute points at.
ARGOCD_SERVICES = ("Service/argocd/argocd-server",)
ARGOCD_CRDS = ("crd:argoproj.io/Application", "crd:argoproj.io/ApplicationSet", "crd:argoproj.io/AppProject")
_BLOCK = re.compile(r"```(?:sh|bash)\n(.*?)```", re.S)


@dataclass
class ManualStep:
    """One command of the README and what it provides (keys as in `needs`)."""

    line: int
    command: str
    kind: str  # sealing-key | argocd | reseal | root-app
    provides: set[str] = field(default_factory=set)
    env: str = ""


def resealed_namespaces(repo: Path) -> dict[str, set[str]]:
    """env -> namespaces whose SealedSecrets `seal-env.sh <env>` writes (its `seal <namespace>` calls)."""
    text = (repo / SEAL_SCRIPT).read_text(encoding="utf-8")
    envs = re.search(r'case "\$env" in ([a-z|]+)\)', text)
    names = envs.group(1).split("|") if envs else []
    out = {env: set() for env in names}
    only: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if m := re.match(r'if \[ "\$env" = ([a-z]+) \]', stripped):
            only = m.group(1)
        elif stripped == "fi":
            only = None
        m = re.search(r'\|\s*seal\s+("\$ns"|[a-z0-9-]+)\s', line)
        m = m or re.match(r"\s*seal\s+([a-z0-9-]+)\s", line)
        if m:
            for env in names if only is None else [only]:
                out[env].add(f"mlops-{env}" if m.group(1) == '"$ns"' else m.group(1))
    return out


_SEALED_HOST = re.compile(r"\b([a-z0-9-]+)\.(?:\$ns|%s)\.svc\b")


def sealed_service_hosts(repo: Path) -> set[str]:
    """Service names that seal-env.sh writes into an environment's Secrets as `<svc>.<ns>.svc` hosts."""
    return set(_SEALED_HOST.findall((repo / SEAL_SCRIPT).read_text(encoding="utf-8")))


def manual_steps(repo: Path) -> list[ManualStep]:
    """The recognised commands of the README's shell blocks, in order."""
    text = (repo / README).read_text(encoding="utf-8")
    resealed = resealed_namespaces(repo)
    steps: list[ManualStep] = []
    for block in _BLOCK.finditer(text):
        first_line = text[: block.start(1)].count("\n") + 1
        for offset, raw in enumerate(block.group(1).splitlines()):
            cmd = raw.split("#", 1)[0].strip()
            line = first_line + offset
            if re.search(r"kubectl apply -f \S*key\S*\.yaml", cmd):
                steps.append(ManualStep(line, cmd, "sealing-key", {"sealing-key"}))
            elif re.search(r"kubectl apply (--server-side )?-k bootstrap/argocd\b", cmd):
                argocd = {*ARGOCD_CRDS, *ARGOCD_SERVICES, "Namespace/argocd"}
                steps.append(ManualStep(line, cmd, "argocd", argocd))
            elif m := re.search(r"seal-env\.sh ([a-z]+)", cmd):
                env = m.group(1)
                sealed = {f"resealed:{ns}" for ns in resealed.get(env, set())}
                steps.append(ManualStep(line, cmd, "reseal", sealed, env))
            elif "kubectl apply -f bootstrap/root-app.yaml" in cmd:
                steps.append(ManualStep(line, cmd, "root-app"))
    return steps
