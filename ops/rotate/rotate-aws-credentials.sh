#!/usr/bin/env bash
# Rotate an IAM user's access key into the repository's SealedSecrets without downtime.
#   ops/rotate/rotate-aws-credentials.sh --user mlops-prod-mlflow [--dry-run] [--commit-branch rotate/aws-$(date +%F)]
#   ops/rotate/rotate-aws-credentials.sh --user mlops-prod-mlflow --resume    # deactivate old once every consumer restarted on new
#   ops/rotate/rotate-aws-credentials.sh --user mlops-prod-mlflow --finalize  # delete the inactive old key
# AWS credentials/endpoint come from the usual AWS environment. See docs/operations.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="${PYTHON:-$repo/.venv/bin/python}"
[[ -x "$py" ]] || py="$(command -v python3)"
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
has_root=0
for arg in "$@"; do [[ "$arg" == --root || "$arg" == --root=* ]] && has_root=1; done
if [[ $has_root == 1 ]]; then exec "$py" -m ops.rotate "$@"; fi
exec "$py" -m ops.rotate --root "$repo" "$@"
