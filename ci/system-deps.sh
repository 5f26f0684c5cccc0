#!/usr/bin/env bash
# Install the Debian packages the local stack, tests and benchmarks need, only when missing.
# Usage: ci/system-deps.sh [postgresql] [wrk] [python3.11] [prometheus]   (no argument: postgresql and wrk)
# prometheus: Debian's package, for promtool (make lint checks and unit-tests the alert rules with it).
set -euo pipefail

wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(postgresql wrk)

missing=()
for pkg in "${wanted[@]}"; do
  case "$pkg" in
    postgresql) ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql) ;;
    wrk) command -v wrk >/dev/null 2>&1 || missing+=(wrk) ;;
    python3.11) [ -x /usr/bin/python3.11 ] || missing+=(python3.11) ;;
    prometheus) command -v promtool >/dev/null 2>&1 || missing+=(prometheus) ;;
    *) echo "system-deps: unknown package '$pkg'" >&2; exit 2 ;;
  esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "==> apt-get install ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
