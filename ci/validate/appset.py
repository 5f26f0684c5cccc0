"""Offline ApplicationSet expansion: the generators and Go-template fields we use, with Argo CD's semantics.

Supported: `list`, `git` (files), `matrix` of two of those; `goTemplate: true` with
`goTemplateOptions: ["missingkey=error"]`; template strings made of `{{.a.b}}` references. Anything
else is refused with a message rather than guessed.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

Params = dict[str, Any]
_ACTION = re.compile(r"{{-?\s*(.*?)\s*-?}}")
_REF = re.compile(r"^\.[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class ExpansionError(ValueError):
    """The ApplicationSet cannot be expanded (missing key, unsupported generator or template syntax)."""


def _lookup(params: Params, ref: str, missing_error: bool) -> Any:
    node: Any = params
    for part in ref.lstrip(".").split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif missing_error:
            raise ExpansionError(f"map has no entry for key {part!r} (in {{{{{ref}}}}})")
        else:
            return "<no value>"
    return node


def render_string(template: str, params: Params, missing_error: bool = True) -> str:
    """Go text/template subset: `{{.a.b}}` references (with `{{-`/`-}}` trimming refused)."""

    def sub(match: re.Match[str]) -> str:
        expr = match.group(1)
        if match.group(0).startswith("{{-") or match.group(0).endswith("-}}"):
            raise ExpansionError(f"whitespace trimming is not supported: {match.group(0)}")
        if not _REF.match(expr):
            raise ExpansionError(
                f"unsupported template action {{{{{expr}}}}}: only {{{{.field.path}}}} is expanded"
            )
        value = _lookup(params, expr, missing_error)
        if isinstance(value, (dict, list)):
            raise ExpansionError(f"{{{{{expr}}}}} is not a scalar")
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return _ACTION.sub(sub, template)


def render_template(node: Any, params: Params, missing_error: bool = True) -> Any:
    """Every string (keys and values) of a template tree, rendered."""
    if isinstance(node, str):
        return render_string(node, params, missing_error)
    if isinstance(node, dict):
        return {
            render_string(k, params, missing_error): render_template(v, params, missing_error)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [render_template(v, params, missing_error) for v in node]
    return copy.deepcopy(node)


def _path_params(path: PurePosixPath) -> Params:
    """The `path` parameters of a git files generator (goTemplate mode)."""
    parent = path.parent

    def normalize(name: str) -> str:
        return re.sub(r"[^a-zA-Z0-9-]", "-", name).lower()

    return {
        "path": {
            "path": str(parent),
            "basename": parent.name,
            "filename": path.name,
            "basenameNormalized": normalize(parent.name),
            "filenameNormalized": normalize(path.name),
            "segments": list(parent.parts),
        }
    }


def _git_files(gen: dict, repo: Path) -> list[Params]:
    unsupported = set(gen) - {"repoURL", "revision", "files", "requeueAfterSeconds"}
    if unsupported:
        raise ExpansionError(f"git generator: unsupported fields {sorted(unsupported)}")
    if "files" not in gen:
        raise ExpansionError("git generator: only `files` is supported")
    out = []
    for entry in gen["files"]:
        pattern = entry["path"]
        excluded = entry.get("exclude", False)
        if excluded:
            raise ExpansionError("git files generator: `exclude` is not supported")
        for file in sorted(repo.glob(pattern)):
            try:
                data = yaml.safe_load(file.read_text(encoding="utf-8"))
            except yaml.YAMLError as error:
                raise ExpansionError(f"{file}: not valid YAML: {str(error).splitlines()[0]}") from None
            if not isinstance(data, dict):
                raise ExpansionError(f"{file}: a git files generator file must hold a mapping")
            params = copy.deepcopy(data)
            params.update(_path_params(PurePosixPath(file.relative_to(repo).as_posix())))
            out.append(params)
    return out


def _merge(a: Params, b: Params) -> Params:
    out = copy.deepcopy(a)
    for key, value in b.items():
        if key in out and out[key] != value:
            raise ExpansionError(f"matrix: both generators set {key!r} differently")
        out[key] = copy.deepcopy(value)
    return out


def generate(gen: dict, repo: Path) -> list[Params]:
    """Parameter sets of one generator, in Argo CD's order."""
    if len(gen) != 1 and not ({"selector"} & set(gen)):
        raise ExpansionError(f"a generator has exactly one type, got {sorted(gen)}")
    if "selector" in gen:
        raise ExpansionError("generator selectors are not supported")
    kind, body = next(iter(gen.items()))
    if kind == "list":
        if "elementsYaml" in body or "template" in body:
            raise ExpansionError("list generator: only `elements` is supported")
        return [copy.deepcopy(e) for e in body.get("elements") or []]
    if kind == "git":
        return _git_files(body, repo)
    if kind == "matrix":
        children = body.get("generators") or []
        if len(children) != 2 or "template" in body:
            raise ExpansionError("matrix generator: exactly two child generators and no template")
        first, second = (generate(child, repo) for child in children)
        return [_merge(a, b) for a in first for b in second]
    raise ExpansionError(f"unsupported generator {kind!r}")


def expand(appset: dict, repo: Path) -> list[dict]:
    """The Applications an ApplicationSet produces from the files in `repo`."""
    spec = appset.get("spec") or {}
    if spec.get("goTemplate") is not True:
        raise ExpansionError("only goTemplate: true ApplicationSets are supported")
    if "templatePatch" in spec:
        raise ExpansionError("templatePatch is not supported")
    missing_error = "missingkey=error" in (spec.get("goTemplateOptions") or [])
    template = spec.get("template") or {}
    apps = []
    for gen in spec.get("generators") or []:
        for params in generate(gen, repo):
            rendered = render_template(template, params, missing_error)
            meta = rendered.get("metadata") or {}
            meta.setdefault("namespace", (appset.get("metadata") or {}).get("namespace"))
            apps.append(
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Application",
                    "metadata": meta,
                    "spec": rendered["spec"],
                }
            )
    names = [a["metadata"].get("name") for a in apps]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ExpansionError(f"duplicate Application names: {dupes}")
    return apps


def expand_repo(repo: Path) -> dict[str, list[dict]]:
    """ApplicationSet file (relative path) -> its Applications, for every ApplicationSet under apps/."""
    out = {}
    for path in sorted((repo / "apps" / "ApplicationSet").glob("*.yaml")):
        try:
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except yaml.YAMLError as error:
            raise ExpansionError(
                f"{path.relative_to(repo)}: not valid YAML: {str(error).splitlines()[0]}"
            ) from None
        for doc in docs:
            if doc and doc.get("kind") == "ApplicationSet":
                out[f"{path.relative_to(repo)}#{doc['metadata']['name']}"] = expand(doc, repo)
    return out


def _sources(spec: dict) -> list[dict]:
    return list(spec.get("sources") or []) + ([spec["source"]] if spec.get("source") else [])


def check_applications(
    apps: list[dict], projects: dict[str, dict], repo: Path, repo_urls: set[str]
) -> list[str]:
    """What Argo CD would refuse or fail on: unknown project, destination or source repo outside the
    project, a path or value file of our repository that does not exist."""
    problems = []
    for app in apps:
        name, spec = app["metadata"]["name"], app["spec"]
        project = projects.get(spec.get("project", ""))
        if project is None:
            problems.append(
                f"{name}: project {spec.get('project')!r} is not defined "
                "(AppProjects live in apps/AppProject and bootstrap/platform)"
            )
            continue
        pspec = project.get("spec") or {}
        dest = spec.get("destination") or {}
        if not any(
            d.get("server") in (dest.get("server"), "*")
            and d.get("namespace") in (dest.get("namespace"), "*")
            for d in pspec.get("destinations") or []
        ):
            problems.append(f"{name}: destination {dest} is not allowed by AppProject {spec['project']}")
        refs = {s["ref"]: s for s in _sources(spec) if s.get("ref")}
        for src in _sources(spec):
            if src.get("repoURL") not in (pspec.get("sourceRepos") or []) and "*" not in (
                pspec.get("sourceRepos") or []
            ):
                problems.append(
                    f"{name}: source repo {src.get('repoURL')} is not in AppProject {spec['project']}"
                )
            ours = src.get("repoURL") in repo_urls
            if ours and src.get("path") and not (repo / src["path"]).is_dir():
                problems.append(f"{name}: path {src['path']} does not exist in the repository")
            for vf in ((src.get("helm") or {}).get("valueFiles")) or []:
                if vf.startswith("$"):
                    ref, _, rel = vf[1:].partition("/")
                    if ref not in refs:
                        problems.append(f"{name}: value file {vf} names no source with ref {ref!r}")
                    elif refs[ref].get("repoURL") in repo_urls and not (repo / rel).is_file():
                        problems.append(f"{name}: value file {vf} does not exist in the repository")
                elif ours and src.get("path") and not (repo / src["path"] / vf).is_file():
                    problems.append(f"{name}: value file {src['path']}/{vf} does not exist in the repository")
    return problems
