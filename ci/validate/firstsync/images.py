"""The images CI builds (the `images` job of .github/workflows/ci.yml) and the tag it gives them."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

WORKFLOW = ".github/workflows/ci.yml"
SHA_TAG = re.compile(r"^[0-9a-f]{40}$")


def built_images(repo: Path, owner: str) -> set[str]:
    """`ghcr.io/<owner>/<image>` of every image the workflow's `images` matrix pushes."""
    data = yaml.safe_load((repo / WORKFLOW).read_text(encoding="utf-8"))
    job = (data.get("jobs") or {}).get("images") or {}
    include = ((job.get("strategy") or {}).get("matrix") or {}).get("include") or []
    return {f"ghcr.io/{owner}/{entry['image']}" for entry in include if "image" in entry}


def owner_of(repo_url: str) -> str:
    """The GitHub owner of a repository URL (the registry namespace CI pushes to)."""
    match = re.search(r"github\.com[/:]([^/]+)/", repo_url)
    return match.group(1).lower() if match else ""


def image_problem(image: str, owner: str, built: set[str]) -> str | None:
    """Why `image` of our registry is not one CI produces, or None (third-party images are not ours)."""
    if not image.startswith(f"ghcr.io/{owner}/"):
        return None
    name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
    if name not in built:
        return f"image {image}: CI builds no {name} (images in {WORKFLOW}: {sorted(built)})"
    if not SHA_TAG.match(tag):
        return f"image {image}: CI tags images only with the commit SHA, not {tag or '(no tag)'!r}"
    return None
