#!/usr/bin/env bash
# Pinned helm/kubectl and other CLI tools into .tools/ (filled in by the GitOps work).
set -euo pipefail
