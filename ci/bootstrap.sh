#!/usr/bin/env bash
# Create .venv and install the pinned Python dependencies (requirements.lock) plus this project.
# Idempotent: make calls it only when pyproject.toml or requirements.lock changed.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION="0.13.9"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/uv --version 2>/dev/null | grep -q "$UV_VERSION"; then
  echo "==> installing uv $UV_VERSION into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
echo "==> installing pinned dependencies (requirements.lock)"
.venv/bin/uv pip install --quiet --python .venv/bin/python -r requirements.lock
.venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps -e .
.venv/bin/uv pip check --python .venv/bin/python
touch .venv/.installed
