"""Reading manifests: YAML documents from files and rendered text, and the repository's plain manifests."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Folders whose *.yaml are Kubernetes manifests applied by Argo CD (kustomization.yaml files excluded).
MANIFEST_ROOTS = ("apps", "bootstrap")


@dataclass(frozen=True)
class Manifest:
    """One Kubernetes object and where it came from (a file or a render)."""

    source: str
    doc: dict


def parse_documents(text: str, source: str) -> list[Manifest]:
    """All non-empty YAML documents of `text` that are objects with apiVersion and kind."""
    try:
        docs = list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError as error:
        raise ValueError(f"{source}: not valid YAML: {str(error).splitlines()[0]}") from None
    out = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
            raise ValueError(f"{source}: a document is not a Kubernetes object (needs apiVersion and kind)")
        out.append(Manifest(source, doc))
    return out


def load_file(path: Path, repo: Path | None = None) -> list[Manifest]:
    """Objects of one manifest file; the source is the path relative to `repo` when given."""
    source = str(path.relative_to(repo)) if repo and path.is_relative_to(repo) else str(path)
    return parse_documents(path.read_text(encoding="utf-8"), source)


def tracked_yaml_files(repo: Path) -> list[Path]:
    """YAML files tracked by git (or, outside a git checkout, found on disk), sorted."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "*.yaml", "*.yml"],
            cwd=repo,
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        files = [repo / name for name in out.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        # Not a git checkout: every YAML file outside the git-ignored folders (.venv, .tools, .cache, ...).
        skip = {".venv", ".venv-trainer", ".tools", ".cache", ".stack", "build"}
        files = [p for p in repo.rglob("*.y*ml") if not skip & set(p.relative_to(repo).parts)]
    return sorted(p for p in files if p.is_file())


def plain_manifest_files(repo: Path) -> Iterator[Path]:
    """The repository's plain manifests: *.yaml under apps/ and bootstrap/, except kustomizations."""
    for root in MANIFEST_ROOTS:
        for path in sorted((repo / root).rglob("*.yaml")):
            if path.name != "kustomization.yaml" and path.name != "env.yaml":
                yield path
