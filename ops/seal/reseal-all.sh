#!/usr/bin/env bash
# Re-encrypt every SealedSecret in the repository for the controller's current certificate.
#   online:  ops/seal/reseal-all.sh                      (kubeseal --re-encrypt, cluster reachable)
#   offline: ops/seal/reseal-all.sh --cert new.pem --private-key keys-backup.yaml [--dry-run] [PATH...]
# Prints a table (file, secret, result); exits 1 if any SealedSecret failed, 2 on bad input.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="${PYTHON:-$repo/.venv/bin/python}"
[[ -x "$py" ]] || py="$(command -v python3)"
cd "$repo"
exec "$py" -m ops.seal reseal-all "$@"
