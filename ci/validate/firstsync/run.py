"""The first-sync dry run over one validation run's renders: plan, walk, known blockers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ci.validate.findings import Finding
from ci.validate.firstsync import check, plan
from ci.validate.firstsync.bootstrap_steps import (
    SEAL_SCRIPT,
    resealed_namespaces,
    sealed_service_hosts,
)
from ci.validate.firstsync.closed_network import allowed_registries, platform_findings
from ci.validate.firstsync.images import built_images, owner_of
from ci.validate.manifests import Manifest, load_file

KNOWN_BLOCKERS = Path(__file__).with_name("known_blockers.yaml")
_KPO_SOURCE = re.compile(r"^rendered/airflow-(?P<env>[a-z0-9-]+)\.yaml#kpo/")


@dataclass
class DryRun:
    """What the dry run found: failures, blockers still listed in known_blockers.yaml, the order."""

    findings: list[Finding] = field(default_factory=list)
    known: list[Finding] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    known_summary: list[str] = field(default_factory=list)


def known_blockers(path: Path = KNOWN_BLOCKERS) -> list[dict]:
    """The listed blockers that issue 13 still has to remove: {rule, match, why}.

    A finding is known when its rule is `rule` and its text contains `match`; an entry that matches
    nothing is itself a finding, so the list can only shrink.
    """
    if not path.is_file():
        return []
    return list(yaml.safe_load(path.read_text(encoding="utf-8")) or [])


def _by_source(manifests: list[Manifest], runtime: list[Manifest]) -> dict[str, list[Manifest]]:
    out: dict[str, list[Manifest]] = {}
    for m in manifests:
        out.setdefault(m.source, []).append(m)
    for m in runtime:  # trainer pods start at DAG run time, after the Airflow app synced
        if match := _KPO_SOURCE.match(m.source):
            out.setdefault(f"runtime/airflow-{match.group('env')}", []).append(m)
    return out


def sealed_url_findings(repo: Path, steps: list[plan.Step]) -> list[Finding]:
    """Services the sealed connection URLs name (seal-env.sh) that nothing in the first sync creates."""
    everything = check.everything(steps)
    out = []
    for env, namespaces in sorted(resealed_namespaces(repo).items()):
        for svc in sorted(sealed_service_hosts(repo)):
            ns = f"mlops-{env}"
            if ns in namespaces and f"Service/{ns}/{svc}" not in everything:
                out.append(
                    Finding(
                        SEAL_SCRIPT,
                        "first-sync:service",
                        f"seal-env.sh {env} writes URLs with host {svc}.{ns}.svc into the Secrets of {ns}: "
                        f"needs Service/{ns}/{svc}: nothing in the first sync creates it",
                    )
                )
    return out


def dry_run(
    repo: Path,
    manifests: list[Manifest],
    generated: list[dict],
    runtime: list[Manifest] = (),
    known: list[dict] | None = None,
    repo_url: str = "",
) -> DryRun:
    """The first sync from bootstrap/README.md through the root app, checked object by object."""
    root = load_file(repo / "bootstrap" / "root-app.yaml", repo)[0].doc
    steps, problems = plan.build(repo, _by_source(manifests, list(runtime)), generated, root)
    owner = owner_of(repo_url or root["spec"]["source"]["repoURL"])
    registries = allowed_registries(repo)
    outcome = check.walk(steps, owner, built_images(repo, owner), registries)
    outcome.findings += platform_findings(manifests, registries)
    result = DryRun(order=outcome.order)
    result.findings = [Finding("bootstrap/README.md", "first-sync:bootstrap", p) for p in problems]
    outcome.findings += sealed_url_findings(repo, steps)
    listed = known if known is not None else known_blockers()
    used: set[int] = set()
    for finding in dict.fromkeys(outcome.findings):
        hit = next(
            (i for i, k in enumerate(listed) if k["rule"] == finding.rule and k["match"] in str(finding)),
            None,
        )
        if hit is None:
            result.findings.append(finding)
        else:
            used.add(hit)
            result.known.append(finding)
    for i, entry in enumerate(listed):
        hits = [f for f in result.known if f.rule == entry["rule"] and entry["match"] in str(f)]
        if hits:
            result.known_summary.append(f"{entry['why']} ({len(hits)} objects; first: {hits[0]})")
        if i not in used:
            result.findings.append(
                Finding(
                    str(KNOWN_BLOCKERS.relative_to(repo)) if KNOWN_BLOCKERS.is_relative_to(repo) else "known",
                    "first-sync:known-blocker",
                    f"{entry['rule']} {entry['match']!r} no longer blocks: remove it from the list",
                )
            )
    return result
