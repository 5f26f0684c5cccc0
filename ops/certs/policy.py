"""Renewal policy of cert-manager ``Certificate`` manifests (and Ingress-shim annotations).

cert-manager's own rules (CRD v1.21): duration defaults to 90 days and must be at least 1 hour;
renewBefore defaults to 1/3 of the lifetime, must be at least 5 minutes, must be shorter than the
duration, and excludes renewBeforePercentage (an integer in (0, 100)).
Our policy on top: leaf certificates live at most ``max_leaf`` and get a renewal window of at least
``min_leaf_window``; CAs get a window of at least ``min_ca_window`` and live at least twice ``max_leaf``
(so leaves are not truncated to the CA's expiry).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ops.certs.durations import format_duration, parse_go_duration

DEFAULT_DURATION = dt.timedelta(days=90)
MIN_DURATION = dt.timedelta(hours=1)
MIN_RENEW_BEFORE = dt.timedelta(minutes=5)
SHIM_ISSUER_ANNOTATIONS = ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer")


@dataclass(frozen=True)
class Policy:
    """Limits an operator can tune on the command line."""

    max_leaf: dt.timedelta = dt.timedelta(days=90)
    min_leaf_window: dt.timedelta = dt.timedelta(days=7)
    min_ca_window: dt.timedelta = dt.timedelta(days=30)


@dataclass
class Finding:
    """The verdict on one certificate: hard violations and advisory warnings."""

    name: str
    duration: dt.timedelta | None = None
    renew_before: dt.timedelta | None = None
    violations: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


def _duration(spec: Mapping[str, Any], key: str, finding: Finding) -> dt.timedelta | None:
    raw = spec.get(key)
    if raw is None:
        return None
    try:
        return parse_go_duration(str(raw))
    except ValueError:
        finding.violations.append(f"{key} {raw!r} is not a Go duration (e.g. 2160h)")
        return None


def check_spec(name: str, spec: Mapping[str, Any], policy: Policy, is_ca: bool | None = None) -> Finding:
    """Check one certificate spec (``duration``, ``renewBefore``/percentage, ``isCA``)."""
    finding = Finding(name)
    is_ca = bool(spec.get("isCA")) if is_ca is None else is_ca
    duration = _duration(spec, "duration", finding)
    if duration is None and "duration" in spec:
        return finding
    duration = duration or DEFAULT_DURATION
    renew = _duration(spec, "renewBefore", finding)
    if finding.violations:
        return finding
    pct = spec.get("renewBeforePercentage")
    if pct is not None and renew is not None:
        finding.violations.append("renewBefore and renewBeforePercentage are mutually exclusive")
        return finding
    if pct is not None:
        if not isinstance(pct, int) or isinstance(pct, bool) or not 0 < pct < 100:
            finding.violations.append(f"renewBeforePercentage {pct!r} must be an integer in (0, 100)")
            return finding
        renew = duration * pct / 100
    renew = renew if renew is not None else duration / 3
    finding.duration, finding.renew_before = duration, renew
    kind = "CA" if is_ca else "leaf"
    fd, fr = format_duration(duration), format_duration(renew)
    if duration < MIN_DURATION:
        finding.violations.append(f"duration {fd} is below cert-manager's minimum of 1h")
    if renew < MIN_RENEW_BEFORE:
        finding.violations.append(f"renewBefore {fr} is below cert-manager's minimum of 5m")
    if renew >= duration:
        finding.violations.append(f"renewBefore {fr} is not shorter than duration {fd} (constant renewal)")
    window = policy.min_ca_window if is_ca else policy.min_leaf_window
    if renew < window:
        finding.violations.append(
            f"{kind} renewal window {fr} is shorter than the policy minimum {format_duration(window)}"
        )
    if not is_ca and duration > policy.max_leaf:
        finding.violations.append(
            f"leaf duration {fd} exceeds the policy maximum {format_duration(policy.max_leaf)}"
        )
    min_ca = 2 * policy.max_leaf
    if is_ca and duration < min_ca:
        finding.violations.append(
            f"CA duration {fd} is shorter than twice the leaf maximum ({format_duration(min_ca)})"
        )
    key = spec.get("privateKey")
    if isinstance(key, dict) and key.get("rotationPolicy") == "Never":
        finding.warnings.append("privateKey.rotationPolicy Never reuses the key on every renewal")
    return finding


def _shim_spec(annotations: Mapping[str, str]) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if "cert-manager.io/duration" in annotations:
        spec["duration"] = annotations["cert-manager.io/duration"]
    if "cert-manager.io/renew-before" in annotations:
        spec["renewBefore"] = annotations["cert-manager.io/renew-before"]
    if "cert-manager.io/renew-before-percentage" in annotations:
        raw = annotations["cert-manager.io/renew-before-percentage"]
        spec["renewBeforePercentage"] = int(raw) if str(raw).isdigit() else raw
    return spec


def check_documents(docs: Iterable[Any], policy: Policy) -> list[Finding]:
    """Findings for every Certificate and every Ingress that asks cert-manager for one."""
    findings: list[Finding] = []
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        meta = doc.get("metadata") or {}
        ident = f"{meta.get('namespace') or '-'}/{meta.get('name') or '?'}"
        api = str(doc.get("apiVersion", ""))
        if doc.get("kind") == "Certificate" and api.startswith("cert-manager.io/"):
            findings.append(check_spec(f"Certificate {ident}", doc.get("spec") or {}, policy))
        elif doc.get("kind") == "Ingress":
            annotations = meta.get("annotations") or {}
            if any(a in annotations for a in SHIM_ISSUER_ANNOTATIONS):
                findings.append(check_spec(f"Ingress {ident}", _shim_spec(annotations), policy, is_ca=False))
    return findings
