"""Rendering with the real binaries: helm lint + helm template for every chart x environment, the
official Airflow chart with our values, and kubectl kustomize for apps/ and bootstrap/."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import yaml

from ci.validate import appset
from ci.validate.findings import Finding, SetupError
from ci.validate.manifests import Manifest, parse_documents
from ci.validate.settings import AIRFLOW_CHART_REPO, AIRFLOW_CHART_VERSION, Settings

# Kustomizations CI renders offline; bootstrap/argocd pulls the pinned upstream install (network).
OFFLINE_KUSTOMIZATIONS = (
    "apps",
    "bootstrap/platform",
    "bootstrap/cert-manager",
    "bootstrap/argocd-secrets",
    "bootstrap/argocd-route",
    "bootstrap/gateway",
    "bootstrap/metallb",
    "bootstrap/optional/nfs-provisioner",
    "bootstrap/dashboards",
)
REMOTE_KUSTOMIZATIONS = ("bootstrap/argocd",)
_PINNED_URL = re.compile(r"/v?\d+\.\d+\.\d+/")
# Helm parameters (--set name=value), as an Application passes them.
Parameters = tuple[tuple[str, str], ...]


@dataclass
class RenderResult:
    """Everything rendered, where it was written, and what failed."""

    manifests: list[Manifest] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def environments(repo: Path) -> list[dict]:
    """apps/envs/<env>/env.yaml of every environment, sorted by name."""
    out = []
    for path in sorted((repo / "apps" / "envs").glob("*/env.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise SetupError(f"{path}: not valid YAML: {str(error).splitlines()[0]}") from None
        if not isinstance(data, dict) or data.get("env") != path.parent.name:
            raise SetupError(f"{path}: needs `env: {path.parent.name}`")
        out.append(data)
    if not out:
        raise SetupError(f"no environments in {repo / 'apps' / 'envs'}")
    return out


def our_charts(repo: Path) -> list[str]:
    """Names of the charts in charts/ that have a Chart.yaml (not the values-only airflow folder)."""
    return sorted(p.parent.name for p in (repo / "charts").glob("*/Chart.yaml"))


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise SetupError(f"{cmd[0]} not found: run 'bash ci/install-tools.sh'") from None


def _value_args(values: list[Path], sets: Parameters = ()) -> list[str]:
    return [arg for v in values for arg in ("-f", str(v))] + [
        arg for name, value in sets for arg in ("--set", f"{name}={value}")
    ]


def _error_text(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
    return (
        " | ".join(ln for ln in lines if not ln.startswith("Use --debug"))[:2000] or f"exit {proc.returncode}"
    )


def helm_lint(
    s: Settings, chart: Path, values: list[Path], source: str, strict: bool = True, sets: Parameters = ()
) -> list[Finding]:
    """`helm lint` findings (values.schema.json, template errors, with --strict also warnings)."""
    cmd = [s.helm, "lint", str(chart), *_value_args(values, sets)]
    if strict:
        cmd.append("--strict")
    proc = _run(cmd, s.repo)
    if proc.returncode == 0:
        return []
    msgs = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip().startswith(("[ERROR]", "[WARNING]"))]
    return [Finding(source, "helm-lint", m) for m in msgs] or [
        Finding(source, "helm-lint", _error_text(proc))
    ]


def helm_template(
    s: Settings,
    release: str,
    chart: Path,
    namespace: str,
    values: list[Path],
    source: str,
    sets: Parameters = (),
    api_versions: tuple[str, ...] = (),
) -> tuple[str | None, list[Finding]]:
    """`helm template` output (with `api_versions` as the cluster's extra APIs), or the finding that
    says why the chart did not render."""
    cmd = [s.helm, "template", release, str(chart), "--namespace", namespace, "--kube-version", s.k8s_version]
    cmd += _value_args(values, sets) + [arg for api in api_versions for arg in ("--api-versions", api)]
    proc = _run(cmd, s.repo)
    if proc.returncode != 0:
        return None, [Finding(source, "helm-template", _error_text(proc))]
    return proc.stdout, []


def kustomize(
    s: Settings, directory: Path, source: str, extra: tuple[str, ...] = ()
) -> tuple[str | None, list[Finding]]:
    """`kubectl kustomize` output, or the finding that says why it failed."""
    proc = _run([s.kubectl, "kustomize", str(directory), *extra], s.repo)
    if proc.returncode != 0:
        return None, [Finding(source, "kustomize", _error_text(proc))]
    return proc.stdout, []


def airflow_chart(s: Settings) -> Path:
    """The official Airflow chart: AIRFLOW_CHART_DIR / the vendored copy, else `helm pull` of the pin."""
    if s.airflow_chart_dir is not None:
        return s.airflow_chart_dir
    target = s.build / "charts"
    chart = target / "airflow"
    if not (chart / "Chart.yaml").is_file():
        target.mkdir(parents=True, exist_ok=True)
        proc = _run(
            [
                *(s.helm, "pull", "airflow", "--repo", AIRFLOW_CHART_REPO),
                *("--version", AIRFLOW_CHART_VERSION, "--untar", "--untardir", str(target)),
            ],
            s.repo,
        )
        if proc.returncode != 0:
            raise SetupError(f"no AIRFLOW_CHART_DIR and helm pull failed: {_error_text(proc)}")
    return chart


def _remote_pin_findings(s: Settings, directory: str) -> list[Finding]:
    data = yaml.safe_load((s.repo / directory / "kustomization.yaml").read_text(encoding="utf-8"))
    out = []
    for res in data.get("resources") or []:
        if "://" in str(res) and not _PINNED_URL.search(str(res)):
            out.append(
                Finding(f"{directory}/kustomization.yaml", "pinned", f"remote resource {res} is not pinned")
            )
    return out


def _offline_argocd(s: Settings, directory: str) -> tuple[str | None, list[Finding]]:
    """Our part of a kustomization with a remote base: its local resources and patch files as objects."""
    data = yaml.safe_load((s.repo / directory / "kustomization.yaml").read_text(encoding="utf-8"))
    local = [r for r in data.get("resources") or [] if "://" not in str(r)]
    patches = [p["path"] for p in data.get("patches") or [] if isinstance(p, dict) and "path" in p]
    work = s.build / "kustomize-offline" / directory.replace("/", "_")
    work.mkdir(parents=True, exist_ok=True)
    src = s.repo / directory
    offline = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": data.get("namespace"),
        "resources": [str(src / r) for r in local + patches],
    }
    (work / "kustomization.yaml").write_text(yaml.safe_dump(offline, sort_keys=False), encoding="utf-8")
    return kustomize(
        s,
        work,
        f"{directory} (offline: local resources + patches)",
        ("--load-restrictor=LoadRestrictionsNone",),
    )


def _keep(result: RenderResult, s: Settings, name: str, text: str | None, findings: list[Finding]) -> None:
    result.findings.extend(findings)
    if text is None:
        return
    path = s.build / "rendered" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    result.files.append(path)
    try:
        result.manifests.extend(parse_documents(text, f"rendered/{name}.yaml"))
    except ValueError as error:
        result.findings.append(Finding(f"rendered/{name}.yaml", "yaml", str(error)))


def _chart_job(
    s: Settings,
    release: str,
    chart: Path,
    env: dict,
    values: list[Path],
    strict: bool,
    source: str,
    sets: Parameters = (),
):
    def job() -> tuple[str | None, list[Finding]]:
        lint = helm_lint(s, chart, values, source, strict=strict, sets=sets)
        text, findings = helm_template(s, release, chart, env["namespace"], values, source, sets)
        return text, lint + findings

    return job


def airflow_parameters(repo: Path, env: str) -> Parameters:
    """The helm parameters Argo CD passes to the official Airflow chart for `env`: those of the chart source
    of the Application the ApplicationSets generate (none when they do not expand; validation reports why)."""
    try:
        expanded = appset.expand_repo(repo)
    except appset.ExpansionError:
        return ()
    for apps in expanded.values():
        for app in apps:
            labels = app["metadata"].get("labels") or {}
            if labels.get("mlops/app") != "airflow" or labels.get("mlops/env") != env:
                continue
            for source in app["spec"].get("sources") or []:
                if source.get("chart") == "airflow":
                    parameters = (source.get("helm") or {}).get("parameters") or []
                    return tuple((str(p["name"]), str(p["value"])) for p in parameters)
    return ()


def render_all(s: Settings) -> RenderResult:
    """Lint and render every chart x environment and every kustomization into build/rendered/.

    The helm and kubectl processes run in parallel; results are collected in a fixed order.
    """
    envs = environments(s.repo)
    upstream = airflow_chart(s)
    jobs: list[tuple[str, Callable[[], tuple[str | None, list[Finding]]]]] = []
    for chart in our_charts(s.repo):
        chart_dir = s.repo / "charts" / chart
        for env in envs:
            values = [chart_dir / "values" / "base.yaml", chart_dir / "values" / f"{env['env']}.yaml"]
            source = f"charts/{chart} ({env['env']})"
            jobs.append((f"{chart}-{env['env']}", _chart_job(s, chart, chart_dir, env, values, True, source)))
    for env in envs:
        values = [
            s.repo / "charts/airflow/values/base.yaml",
            s.repo / f"charts/airflow/values/{env['env']}.yaml",
        ]
        source = f"charts/airflow ({env['env']}, official chart {upstream})"
        sets = airflow_parameters(s.repo, env["env"])
        job = _chart_job(s, "airflow", upstream, env, values, False, source, sets)
        jobs.append((f"airflow-{env['env']}", job))
    for directory in OFFLINE_KUSTOMIZATIONS:
        jobs.append(
            ("kustomize-" + directory.replace("/", "_"), partial(kustomize, s, s.repo / directory, directory))
        )
    pin_findings: list[Finding] = []
    for directory in REMOTE_KUSTOMIZATIONS:
        pin_findings += _remote_pin_findings(s, directory)
        if s.remote_kustomize:
            job = partial(kustomize, s, s.repo / directory, directory)
        else:
            job = partial(_offline_argocd, s, directory)
        jobs.append(("kustomize-" + directory.replace("/", "_"), job))
    result = RenderResult(findings=pin_findings)
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = [(name, pool.submit(job)) for name, job in jobs]
        for name, future in futures:
            text, findings = future.result()
            _keep(result, s, name, text, findings)
    return result
