#!/usr/bin/env bash
# Download the pinned upstream CRDs that ci/validate checks custom resources against, into DIR
# (same layout and sha256 as ../shared/vendor/crds). For CI runners without the shared folder.
#   bash ci/fetch-crds.sh DIR
set -euo pipefail
dir="${1:?usage: fetch-crds.sh DIR}"
gh=https://raw.githubusercontent.com
crds=(
  "argoproj.io/application.yaml|$gh/argoproj/argo-cd/v3.5.1/manifests/crds/application-crd.yaml|5dde0e229249b6b707beb98674c1deae3949d5c319a6c45b9f5a80c99618e40c"
  "argoproj.io/applicationset.yaml|$gh/argoproj/argo-cd/v3.5.1/manifests/crds/applicationset-crd.yaml|7d282054f41ca2b71a22bab04a8caf0000e07e53a62432e6ea292dae5ab4f07d"
  "argoproj.io/appproject.yaml|$gh/argoproj/argo-cd/v3.5.1/manifests/crds/appproject-crd.yaml|ab225266944322750136f1198d93786e4a79a0e43c8d149abfba44da30a3eac8"
  "bitnami.com/sealedsecret.yaml|$gh/bitnami-labs/sealed-secrets/v0.36.6/helm/sealed-secrets/crds/bitnami.com_sealedsecrets.yaml|fb33ba448b89c2c3252480664078b7f4bdf0949426e5280d07ca049c0dbdbfb7"
  "cert-manager.io/certificate.yaml|$gh/cert-manager/cert-manager/v1.21.1/deploy/crds/cert-manager.io_certificates.yaml|7ad91029c00ec959d54215b19d3b1a9b7e0247eaa60f987151c2b70d8661f8af"
  "cert-manager.io/certificaterequest.yaml|$gh/cert-manager/cert-manager/v1.21.1/deploy/crds/cert-manager.io_certificaterequests.yaml|74cf3801ab146a1745498de5f3b619cde6f2dc89ae03755084be08129ce726c3"
  "cert-manager.io/clusterissuer.yaml|$gh/cert-manager/cert-manager/v1.21.1/deploy/crds/cert-manager.io_clusterissuers.yaml|30008001b78aafb8e110af61359561104b5fafc3a4dc6ac0013245d0ee3fe4ca"
  "cert-manager.io/issuer.yaml|$gh/cert-manager/cert-manager/v1.21.1/deploy/crds/cert-manager.io_issuers.yaml|05e37efb02777e0362d24269fa103c2fc11419f9c85e31854ef873e5d9e5c5cc"
  "monitoring.coreos.com/servicemonitor.yaml|$gh/prometheus-operator/prometheus-operator/v0.93.0/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml|a99047972c9dd7679ce2050b9968e8a08773492e671b3e17abd476d42aa78a32"
  "monitoring.coreos.com/podmonitor.yaml|$gh/prometheus-operator/prometheus-operator/v0.93.0/example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml|45a93443daa687d3654f7e9631909ff7edcdf3ec09c5e60251b74aa2722aee5d"
)
for entry in "${crds[@]}"; do
  IFS='|' read -r path url sha <<< "$entry"
  mkdir -p "$dir/$(dirname "$path")"
  curl -fsSL --retry 3 -o "$dir/$path" "$url"
  echo "$sha  $dir/$path" | sha256sum --check --quiet || { echo "fetch-crds: checksum mismatch for $path" >&2; exit 1; }
done
echo "fetch-crds: ${#crds[@]} CRDs in $dir"
