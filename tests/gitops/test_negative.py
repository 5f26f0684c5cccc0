"""Deliberately broken inputs: each one makes the checks fail, with the message that names the problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from ci.validate import kpo_pods, pipeline, podrules, podsecurity, policy, render, schemas
from ci.validate.manifests import load_file, parse_documents
from ci.validate.settings import REPO, Settings
from tests.gitops.helpers import FIXTURES, find

NEGATIVE = FIXTURES / "negative"
SERVING = REPO / "charts" / "serving"


def _render_serving(settings: Settings, fixture: str) -> tuple[str | None, list[str]]:
    values = [SERVING / "values/base.yaml", SERVING / "values/dev.yaml", NEGATIVE / fixture]
    text, findings = render.helm_template(settings, "serving", SERVING, "mlops-dev", values, fixture)
    return text, [str(f) for f in findings]


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("values-bad-type.yaml", "at '/replicaCount': got string, want integer"),
        ("values-unknown-key.yaml", "additional properties 'replicas' not allowed"),
    ],
)
def test_bad_values_fail_the_chart_schema(settings: Settings, fixture: str, expected: str) -> None:
    text, findings = _render_serving(settings, fixture)
    assert text is None
    assert len(findings) == 1
    assert "[helm-template]" in findings[0]
    assert expected in findings[0]
    lint = render.helm_lint(settings, SERVING, [SERVING / "values/base.yaml", NEGATIVE / fixture], fixture)
    assert any(expected in str(f) for f in lint)


def test_latest_tag_renders_but_fails_the_policy(settings: Settings) -> None:
    text, findings = _render_serving(settings, "values-latest-tag.yaml")
    assert text is not None
    assert findings == []
    problems = [str(f) for f in policy.check_all(parse_documents(text, "rendered/serving-dev.yaml"))]
    assert problems == [
        "rendered/serving-dev.yaml: Deployment/serving: [image-tag] container gateway: image "
        "'ghcr.io/gitops-mlops/serving:latest' uses the mutable tag latest: pin a version or the git SHA"
    ]


def test_gateway_loader_rejects_a_config_the_chart_schema_accepts(settings: Settings) -> None:
    config_module = pytest.importorskip(
        "serving.config", reason="serving.config (the gateway loader) not written yet"
    )
    text, findings = _render_serving(settings, "values-bad-serving-config.yaml")
    assert text is not None and findings == []
    config_map = find([m.doc for m in parse_documents(text, "serving")], "ConfigMap", "serving-config")
    with pytest.raises(config_module.ConfigError, match="weights of the non-shadow variants must sum to 100"):
        config_module.parse_config(yaml.safe_load(config_map["data"]["serving.yaml"]))


@pytest.mark.parametrize(
    ("fixture", "rule", "expected"),
    [
        (
            "plaintext-secret.yaml",
            "plaintext-secret",
            "plaintext Secret carries data (INTERNAL_API_KEY): commit a SealedSecret instead",
        ),
        (
            "missing-resources.yaml",
            "resources",
            "container app has no resources requests.cpu, requests.memory",
        ),
        ("target-revision-head.yaml", "target-revision", "spec.source.targetRevision: HEAD is not allowed"),
    ],
)
def test_policy_fixtures(fixture: str, rule: str, expected: str) -> None:
    findings = policy.check_all(load_file(NEGATIVE / fixture))
    assert [f.rule for f in findings] == [rule]
    assert expected in findings[0].message


POD_RULE_FIXTURES = {
    "pod-duplicate-volume.yaml": ("pod-volume-names", "volume name 'xcom' is used more than once"),
    "pod-duplicate-container.yaml": ("pod-container-names", "container name 'base' is used more than once"),
    "pod-duplicate-mount-path.yaml": (
        "pod-mount-paths",
        "container base mounts /airflow/xcom more than once",
    ),
    "pod-mount-unknown-volume.yaml": (
        "pod-mount-volume",
        "mounts volume 'kpo-pod-template'; the pod has no such",
    ),
    "pod-mount-inside-configmap.yaml": (
        "pod-mount-in-readonly-volume",
        "at /opt/airflow/pod_templates/pod_template_file.yaml, inside /opt/airflow/pod_templates where",
    ),
    "pod-request-above-limit.yaml": ("pod-resources", "requests.memory 4Gi is more than limits.memory 2Gi"),
    "pod-bad-name.yaml": ("pod-names", "container name 'trainer_base' is not a DNS-1123 label"),
    "pod-bad-label-value.yaml": ("pod-labels", "label mlops/run='manual__2026-11-30T13:00:00+00:00'"),
    "pod-duplicate-env.yaml": ("pod-env-names", "container base sets env MLFLOW_TRACKING_URI more than once"),
    "pod-toleration-exists-with-value.yaml": (
        "pod-tolerations",
        "toleration 0 (dedicated): operator Exists takes no value (got 'ml')",
    ),
}


@pytest.mark.parametrize("fixture", sorted(POD_RULE_FIXTURES))
def test_pod_rule_fixtures_pass_the_schema_but_break_one_api_server_rule(
    settings: Settings, fixture: str
) -> None:
    """What the API server rejects (or the kubelet cannot start) although the JSON schema accepts it."""
    rule, expected = POD_RULE_FIXTURES[fixture]
    manifests = load_file(NEGATIVE / fixture)
    assert schemas.validate_all(manifests, settings.crd_dir, settings.k8s_version) == []
    assert policy.check_all(manifests) == []
    findings = podrules.check_all(manifests)
    assert [f.rule for f in findings] == [rule]
    assert expected in findings[0].message
    assert pipeline.check_objects(manifests, settings) == findings


def test_pod_security_fixture_passes_every_other_check_but_restricted_admission_refuses_it(
    settings: Settings,
) -> None:
    """Pod Security `restricted` refuses pods that the schema, the policies and the pod rules pass."""
    manifests = load_file(NEGATIVE / "pod-security-init-escalation.yaml")
    assert schemas.validate_all(manifests, settings.crd_dir, settings.k8s_version) == []
    assert policy.check_all(manifests) == [] and podrules.check_all(manifests) == []
    findings = podsecurity.check_all(manifests)
    assert [(f.rule, f.message) for f in findings] == [
        (
            "pod-security",
            "container base: seccompProfile is not set; set seccompProfile.type: RuntimeDefault "
            "(pod or container securityContext)",
        ),
        ("pod-security", "container init: set securityContext.allowPrivilegeEscalation: false"),
    ]
    assert pipeline.check_objects(manifests, settings) == findings


def test_trainer_pods_need_the_template_mounted_in_the_workers(settings: Settings) -> None:
    chart = render.airflow_chart(settings)
    values = [
        REPO / "charts/airflow/values/base.yaml",
        REPO / "charts/airflow/values/dev.yaml",
        NEGATIVE / "values-kpo-template-not-mounted.yaml",
    ]
    text, findings = render.helm_template(settings, "airflow", chart, "mlops-dev", values, "airflow-dev")
    assert text is not None, findings
    pods, problems = kpo_pods.trainer_pod_manifests(parse_documents(text, "airflow"), "airflow", REPO)
    assert pods == []
    assert [str(p) for p in problems] == [
        "airflow: [kpo-pods] KPO_POD_TEMPLATE_FILE=/opt/airflow/kpo-pod-template/kpo_pod_template.yaml "
        "is not a file of a ConfigMap mounted in the worker pods"
    ]


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "application-unknown-field.yaml",
            "spec: Additional properties are not allowed ('destinaton' was unexpected)",
        ),
        ("certificate-bad-duration.yaml", "spec.duration: 87600 is not of type 'string'"),
        ("service-bad-port.yaml", "spec.ports.0.port: 'eighty' is not of type 'integer'"),
    ],
)
def test_schema_fixtures(settings: Settings, fixture: str, expected: str) -> None:
    findings = schemas.validate_all(load_file(NEGATIVE / fixture), settings.crd_dir, settings.k8s_version)
    assert findings
    assert {f.rule for f in findings} == {"schema"}
    assert any(expected in f.message for f in findings), [str(f) for f in findings]


def test_every_negative_fixture_is_exercised() -> None:
    used = {
        "values-bad-type.yaml",
        "values-unknown-key.yaml",
        "values-latest-tag.yaml",
        "values-bad-serving-config.yaml",
        "plaintext-secret.yaml",
        "missing-resources.yaml",
        "target-revision-head.yaml",
        "application-unknown-field.yaml",
        "certificate-bad-duration.yaml",
        "service-bad-port.yaml",
        "values-kpo-template-not-mounted.yaml",
        "pod-security-init-escalation.yaml",
        # exercised by tests/gitops/test_first_sync.py
        "first-sync-missing-secret.yaml",
        "first-sync-crd-later-wave.yaml",
        "first-sync-hook-before-secret.yaml",
        "first-sync-root-pod.yaml",
        "first-sync-database-not-produced.yaml",
        "first-sync-cnpg-dangling.yaml",
        "values-log-volume-nfs-client.yaml",
        "values-release-tag.yaml",
        "first-sync-docker-hub-image.yaml",
        "first-sync-acme-issuer.yaml",
        "first-sync-route-missing-backend.yaml",
        "first-sync-route-unknown-listener.yaml",
        "first-sync-route-before-its-gateway.yaml",
        *POD_RULE_FIXTURES,
    }
    assert {p.name for p in NEGATIVE.glob("*.yaml")} == used


def test_secret_scan_finds_a_plaintext_secret_anywhere(tmp_path: Path) -> None:
    (tmp_path / "deep" / "er").mkdir(parents=True)
    shutil.copy(NEGATIVE / "plaintext-secret.yaml", tmp_path / "deep" / "er" / "leak.yaml")
    (tmp_path / "template.yaml").write_text("kind: Secret\ndata:\n  key: {{ .Values.key | b64enc }}\n")
    findings = pipeline.secret_scan(tmp_path)
    assert [(f.source, f.rule) for f in findings] == [
        ("deep/er/leak.yaml", "plaintext-secret"),
        ("template.yaml", "plaintext-secret"),
    ]


def test_the_repository_itself_has_no_plaintext_secret() -> None:
    assert pipeline.secret_scan(REPO) == []
