"""Where each image tag of an environment lives, and reading/writing one without losing comments."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml


class TagError(ValueError):
    """A values file lacks a tag field, or a tag is not one CI produces."""


@dataclass(frozen=True)
class TagField:
    """One tag: a values file (with `{env}`) and a dotted mapping path, or `env:NAME` for an env var."""

    file: str
    path: str

    def where(self, env: str) -> str:
        return f"{self.file.format(env=env)}:{self.path}"


# Every custom image an environment runs (the `images` job of .github/workflows/ci.yml builds them).
FIELDS = (
    TagField("charts/serving/values/{env}.yaml", "image.tag"),
    TagField("charts/mlflow/values/{env}.yaml", "image.tag"),
    TagField("charts/commit-trigger/values/{env}.yaml", "image.tag"),
    TagField("charts/control/values/{env}.yaml", "image.tag"),
    TagField("charts/airflow/values/{env}.yaml", "images.airflow.tag"),
    # the trainer and trainer-gpu images of the KubernetesPodOperator pods (mlops_dags: TRAINER_IMAGE_TAG)
    TagField("charts/airflow/values/{env}.yaml", "env:TRAINER_IMAGE_TAG"),
)
SHA = re.compile(r"^[0-9a-f]{40}$")


def _env_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(- name: {re.escape(name)}\n\s+value: )(\S.*)")


def read(text: str, path: str) -> str:
    """The tag at `path` of a values document."""
    data = yaml.safe_load(text) or {}
    if path.startswith("env:"):
        name = path.removeprefix("env:")
        for item in data.get("env") or []:
            if item.get("name") == name:
                return str(item.get("value"))
        raise TagError(f"no env entry {name}")
    node = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise TagError(f"no {path}")
        node = node[part]
    return str(node)


def write(text: str, path: str, tag: str) -> str:
    """`text` with the tag at `path` replaced in place (comments and layout kept)."""
    if path.startswith("env:"):
        new, count = _env_pattern(path.removeprefix("env:")).subn(rf'\g<1>"{tag}"', text)
    else:
        new, count = _replace_mapping(text, path.split("."), tag)
    if count != 1 or read(new, path) != tag:
        raise TagError(f"no single {path} to set")
    return new


def _replace_mapping(text: str, keys: list[str], tag: str) -> tuple[str, int]:
    lines = text.split("\n")
    stack: list[tuple[int, str]] = []
    count = 0
    for i, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z0-9_.-]+):(\s*)(.*)$", line)
        if not match or line.lstrip().startswith("#"):
            continue
        indent, key, _, rest = len(match.group(1)), match.group(2), match.group(3), match.group(4)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        if [k for _, k in stack] == keys and rest:
            lines[i] = f'{match.group(1)}{key}: "{tag}"'
            count += 1
    return "\n".join(lines), count


def tags(repo: Path, env: str) -> dict[str, str]:
    """`file:path` -> tag of every image of `env`."""
    out = {}
    for field in FIELDS:
        path = repo / field.file.format(env=env)
        try:
            out[field.where(env)] = read(path.read_text(encoding="utf-8"), field.path)
        except (OSError, TagError) as error:
            raise TagError(f"{field.where(env)}: {error}") from None
    return out


def set_tags(repo: Path, env: str, tag: str) -> list[str]:
    """Set every image tag of `env` to `tag` (a commit SHA CI built); the files changed."""
    if not SHA.match(tag):
        raise TagError(f"{tag!r} is not a commit SHA: CI tags images only with the full 40-hex SHA")
    changed = []
    for field in FIELDS:
        path = repo / field.file.format(env=env)
        text = path.read_text(encoding="utf-8")
        try:
            new = write(text, field.path, tag)
        except TagError as error:
            raise TagError(f"{field.where(env)}: {error}") from None
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(str(path.relative_to(repo)))
    return sorted(set(changed))


def promote(repo: Path, source: str, target: str) -> tuple[str, list[str]]:
    """Copy `source`'s tag to `target` (every image of an environment runs one build)."""
    found = set(tags(repo, source).values())
    if len(found) != 1:
        raise TagError(f"{source} runs images of several builds {sorted(found)}: set one with `set` first")
    tag = found.pop()
    return tag, set_tags(repo, target, tag)
