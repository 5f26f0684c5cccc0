"""cert-manager renewal policy: Go durations, cert-manager's own limits, our policy, the repo's manifests."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from ops.certs.durations import parse_go_duration
from ops.certs.policy import Policy, check_documents, check_spec

ROOT = Path(__file__).resolve().parents[3]
H = dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2160h", 2160 * H),
        ("1h30m", 1.5 * H),
        ("90m", 1.5 * H),
        ("0", dt.timedelta(0)),
        ("1.5h", 1.5 * H),
        ("300ms", dt.timedelta(milliseconds=300)),
        ("1h0m0s", H),
    ],
)
def test_go_durations(text: str, expected: dt.timedelta) -> None:
    assert parse_go_duration(text) == expected


@pytest.mark.parametrize("text", ["", "90d", "1y", "h", "10", "1h 30m", "abc"])
def test_invalid_go_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_go_duration(text)


def _violations(spec: dict, **policy) -> list[str]:
    return check_spec("c", spec, Policy(**policy)).violations


def test_defaults_are_cert_managers() -> None:
    finding = check_spec("c", {}, Policy())
    assert finding.ok and finding.duration == 2160 * H and finding.renew_before == 720 * H


def test_cert_manager_hard_limits() -> None:
    assert any("minimum of 1h" in v for v in _violations({"duration": "30m", "renewBefore": "10m"}))
    assert any(
        "not shorter than duration" in v for v in _violations({"duration": "720h", "renewBefore": "720h"})
    )
    assert any("minimum of 5m" in v for v in _violations({"duration": "2h", "renewBefore": "1m"}))
    both = {"duration": "720h", "renewBefore": "240h", "renewBeforePercentage": 30}
    assert any("mutually exclusive" in v for v in _violations(both))
    assert any("(0, 100)" in v for v in _violations({"renewBeforePercentage": 100}))
    assert any("Go duration" in v for v in _violations({"duration": "90d"}))


def test_policy_limits_and_percentage() -> None:
    assert any("exceeds the policy maximum" in v for v in _violations({"duration": "8760h"}))
    assert any("renewal window" in v for v in _violations({"duration": "2160h", "renewBefore": "24h"}))
    assert _violations({"duration": "2160h", "renewBeforePercentage": 10}) == []  # 216h window
    assert any("renewal window" in v for v in _violations({"duration": "720h", "renewBeforePercentage": 10}))
    ca = {"isCA": True, "duration": "2160h", "renewBefore": "720h"}
    assert any("twice the leaf maximum" in v for v in _violations(ca))
    assert any(
        "CA renewal window" in v for v in _violations({**ca, "duration": "87600h", "renewBefore": "168h"})
    )
    assert _violations({"duration": "2160h"}, max_leaf=90 * 24 * H) == []


def test_ingress_shim_annotations() -> None:
    docs = [
        {
            "kind": "Ingress",
            "metadata": {"name": "a", "annotations": {"cert-manager.io/cluster-issuer": "ca"}},
        },
        {
            "kind": "Ingress",
            "metadata": {
                "name": "b",
                "annotations": {"cert-manager.io/cluster-issuer": "ca", "cert-manager.io/duration": "8760h"},
            },
        },
        {"kind": "Ingress", "metadata": {"name": "plain"}},
        {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "c"}, "spec": {}},
    ]
    findings = {f.name: f for f in check_documents(docs, Policy())}
    assert set(findings) == {"Ingress -/a", "Ingress -/b", "Certificate -/c"}
    assert findings["Ingress -/a"].ok and not findings["Ingress -/b"].ok


def _check(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.certs", "check", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_repository_certificates_are_within_policy() -> None:
    proc = _check(".")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Certificate cert-manager/internal-ca" in proc.stdout


def test_cli_reports_violations_from_stdin() -> None:
    manifest = (
        "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: web, namespace: x}\n"
        "spec: {duration: 2160h, renewBefore: 2h, secretName: web}\n"
    )
    proc = _check("-", stdin=manifest)
    assert proc.returncode == 1 and "VIOLATION" in proc.stdout and "x/web" in proc.stdout
    relaxed = _check("-", "--min-leaf-renew-before", "1h", stdin=manifest)
    assert relaxed.returncode == 0, relaxed.stdout
    bad = _check("-", "--max-leaf-duration", "90d", stdin=manifest)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
