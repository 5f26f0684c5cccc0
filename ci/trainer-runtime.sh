#!/usr/bin/env bash
# The local runtime's trainer environment, .venv-trainer: what the trainer image installs (this project
# with only its `trainer` extra, not editable, pinned by requirements.lock), on a Python that the pod's
# user (UID 10001, the image's user) can run. DAG pod tasks with MLOPS_RUNTIME=local run the trainer from
# here (DagSettings.local_python), as that user when Airflow runs as root. Reinstalls the project on every
# call so that it carries the current trainer code (make calls it when trainer/ changes).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-trainer
UV=.venv/bin/uv
[ -x "$UV" ] || { echo "trainer-runtime: run ci/bootstrap.sh first (.venv/bin/uv is missing)" >&2; exit 2; }

# Exit 0 when users other than root can execute the interpreter and read its standard library.
others_can_run() {
  .venv/bin/python - "$1" <<'EOF'
import os, stat, subprocess, sys

def reachable(path: str, readable: bool) -> bool:
    path = os.path.realpath(path)
    parent = os.path.dirname(path)
    while parent != os.path.dirname(parent):
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
        parent = os.path.dirname(parent)
    mode = os.stat(path).st_mode
    return bool(mode & stat.S_IXOTH) and (not readable or bool(mode & stat.S_IROTH))

exe = sys.argv[1]
base = subprocess.check_output([exe, "-c", "import sys; print(sys.base_prefix)"], text=True).strip()
sys.exit(0 if reachable(exe, True) and reachable(os.path.join(base, "lib"), True) else 1)
EOF
}

pick_python() {
  local candidate path
  for candidate in "${PYTHON:-python3.11}" python3.11 /usr/bin/python3.11 /usr/local/bin/python3.11; do
    path=$(command -v "$candidate" 2>/dev/null) || continue
    "$path" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || continue
    if [ "$(id -u)" != 0 ] || others_can_run "$path"; then
      echo "$path"
      return 0
    fi
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  # As root, a Python in a private home (pyenv under /root) is out of UID 10001's reach: Debian's will do.
  pick_python >/dev/null || [ "$(id -u)" != 0 ] || bash ci/system-deps.sh python3.11
  python=$(pick_python) || {
    echo "trainer-runtime: no Python 3.11 that UID 10001 can run (as root, the local runtime runs the" \
      "trainer as the pod's user): install one outside a private home, e.g. apt-get install python3.11" >&2
    exit 2
  }
  echo "==> creating $VENV (the trainer image's environment) with $python"
  "$UV" venv --quiet --python "$python" "$VENV"
fi
"$UV" pip install --quiet --python "$VENV/bin/python" --constraint requirements.lock \
  --reinstall-package gitops-mlops ".[trainer]"
rm -rf build/lib build/bdist.*  # setuptools' leftovers of building the wheel (build/ also holds renders)
touch "$VENV/.installed"
