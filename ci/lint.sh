#!/usr/bin/env bash
# Lint everything: Python (ruff) first; charts and manifests follow in the GitOps work.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check .
