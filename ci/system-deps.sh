#!/usr/bin/env bash
# Install the Debian packages the local stack, tests and benchmarks need, only when missing.
# Usage: ci/system-deps.sh [postgresql] [prometheus] [alertmanager] [wrk] [python3.11]
#        (no argument: postgresql and wrk)
# prometheus: Debian's package: promtool (make lint checks and unit-tests the alert rules with it) and the
# full local stack's Prometheus; alertmanager: prometheus-alertmanager, the full local stack's Alertmanager.
set -euo pipefail

wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(postgresql wrk)

missing=()
for pkg in "${wanted[@]}"; do
  case "$pkg" in
    postgresql) ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql) ;;
    prometheus) { command -v prometheus && command -v promtool; } >/dev/null 2>&1 || missing+=(prometheus) ;;
    alertmanager) command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager) ;;
    wrk) command -v wrk >/dev/null 2>&1 || missing+=(wrk) ;;
    python3.11) [ -x /usr/bin/python3.11 ] || missing+=(python3.11) ;;
    *) echo "system-deps: unknown package '$pkg'" >&2; exit 2 ;;
  esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "==> apt-get install ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# The full local stack runs its own Prometheus and Alertmanager on loopback: on a host with systemd the
# packages' services (just installed, listening on *:9090 and *:9093) would take the stack's ports.
if [ -d /run/systemd/system ]; then
  for unit in prometheus prometheus-alertmanager; do
    if [[ " ${missing[*]} " == *" $unit "* ]]; then
      echo "==> systemctl disable --now $unit (the local stack starts its own)"
      $SUDO systemctl disable --now "$unit" >/dev/null 2>&1 || true
    fi
  done
fi
