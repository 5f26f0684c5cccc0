"""The environment map (``ops/seal/environments.yaml``): controller certificate and paths per cluster."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from ops.seal.errors import SealError

DEFAULT_FILE = "ops/seal/environments.yaml"


@dataclass(frozen=True)
class Environment:
    """One cluster: its controller's certificate and the repo paths whose SealedSecrets it opens."""

    name: str
    cert: str
    paths: tuple[str, ...]
    context: str = ""  # kubeconfig context of the cluster whose controller holds this certificate

    def owns(self, rel: str) -> bool:
        """True when the repo-relative file ``rel`` lies under one of the paths."""
        return any(rel == p or rel.startswith(p.rstrip("/") + "/") for p in self.paths)


def load_environments(root: Path, file: str = DEFAULT_FILE) -> dict[str, Environment]:
    """All environments; errors name the file and entry to fix."""
    path = root / file
    if not path.is_file():
        raise SealError(f"{file}: no such file (needed by --env)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        raise SealError(f"{file}: not valid YAML") from None
    envs = data.get("environments") if isinstance(data, dict) else None
    if not isinstance(envs, dict) or not envs:
        raise SealError(f"{file}: expected 'environments: {{name: {{cert, paths}}}}'")
    out: dict[str, Environment] = {}
    for name, spec in envs.items():
        if not isinstance(spec, dict) or not spec.get("cert") or not isinstance(spec.get("paths"), list):
            raise SealError(f"{file}: environments.{name} needs 'cert' and a list 'paths'")
        paths = tuple(str(p) for p in spec["paths"])
        out[str(name)] = Environment(str(name), str(spec["cert"]), paths, str(spec.get("context") or ""))
    return out
