#!/usr/bin/env bash
# (Re)create every SealedSecret of one environment with `python -m ops.seal`.
#   bootstrap/sealed-secrets/seal-env.sh ENV [CERT]          ENV: dev | prod
# Values come from $SECRETS_DIR/<secret-name>.env (KEY=VALUE lines, kept outside git) when that file
# exists, else random ones are generated (placeholders for a demo cluster). Plaintext lives only in a
# private temporary folder that is removed on exit. Output: apps/envs/ENV/secrets/<app>/<name>.yaml
# and, for prod (the cluster that runs Argo CD), bootstrap/argocd-secrets/argocd-notifications-secret.yaml.
# OUT_ROOT (default: the repository) is the folder those paths are written under.
set -euo pipefail
cd "$(dirname "$0")/../.."

env="${1:?usage: seal-env.sh dev|prod [CERT]}"
case "$env" in dev|prod) ;; *) echo "seal-env: ENV must be dev or prod, not '$env'" >&2; exit 2 ;; esac
cert="${2:-bootstrap/sealed-secrets/certs/$env.pem}"
[ -f "$cert" ] || { echo "seal-env: certificate $cert not found" >&2; exit 2; }
ns="mlops-$env"
root="${OUT_ROOT:-.}"
out="$root/apps/envs/$env/secrets"
PY="${PYTHON:-$PWD/.venv/bin/python}"

umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rand() { "$PY" -c "import secrets; print(secrets.token_urlsafe($1))"; }
akid() { "$PY" -c "import secrets, string; print('AKIA' + ''.join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16)))"; }

# seal NAMESPACE NAME OUTFILE  (values: $SECRETS_DIR/NAME.env, else the env-file on stdin)
seal() {
  local namespace=$1 name=$2 file=$3 src="$tmp/$2.env"
  if [ -n "${SECRETS_DIR:-}" ] && [ -f "$SECRETS_DIR/$name.env" ]; then cp "$SECRETS_DIR/$name.env" "$src"; else cat > "$src"; fi
  mkdir -p "$(dirname "$file")"
  "$PY" -m ops.seal seal --cert "$cert" --namespace "$namespace" --name "$name" --from-env-file "$src" -o "$file"
}

api_key=$(rand 32); slack="https://hooks.slack.com/services/T00000000/B00000000/$(rand 18)"
# One IAM identity per workload (IAM users mlops-$env-mlflow, -gateway, -airflow of ops/rotate/targets.yaml).
aws_pair() { printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' "$(akid)" "$(rand 30)"; }

# No database credentials here: CloudNativePG generates them (Secret <cluster>-app of charts/postgres's
# Clusters, read by MLflow, Airflow, the gateway and the control API).
aws_pair | seal "$ns" mlflow-aws "$out/mlflow/mlflow-aws.yaml"

printf 'INTERNAL_API_KEY=%s\nSLACK_WEBHOOK_URL=%s\n' "$api_key" "$slack" \
  | seal "$ns" serving-app "$out/serving/serving-app.yaml"
aws_pair | seal "$ns" serving-aws "$out/serving/serving-aws.yaml"

printf 'fernet-key=%s\n' "$("$PY" -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')" \
  | seal "$ns" airflow-fernet-key "$out/airflow/airflow-fernet-key.yaml"
printf 'api-secret-key=%s\n' "$(rand 32)" | seal "$ns" airflow-api-secret-key "$out/airflow/airflow-api-secret-key.yaml"
printf 'jwt-secret=%s\n' "$(rand 32)" | seal "$ns" airflow-jwt-secret "$out/airflow/airflow-jwt-secret.yaml"
# Airflow users (created by the chart's create-user Job): Admin for people, MLOpsTrigger for CI. The
# commit trigger (PostSync hook, charts/commit-trigger) logs in with airflow-ci-user itself: one password.
printf 'username=admin\npassword=%s\nemail=mlops-admin@%s.mlops.internal\n' "$(rand 24)" "$env" \
  | seal "$ns" airflow-admin-user "$out/airflow/airflow-admin-user.yaml"
printf 'username=mlops-ci\npassword=%s\n' "$(rand 32)" | seal "$ns" airflow-ci-user "$out/airflow/airflow-ci-user.yaml"
{
  printf 'AIRFLOW_CONN_MLFLOW_DEFAULT={"conn_type": "http", "host": "mlflow.%s.svc.cluster.local", "port": 5000, "schema": "http"}\n' "$ns"
  printf 'AIRFLOW_CONN_SERVING_ADMIN={"conn_type": "http", "host": "serving.%s.svc.cluster.local", "port": 80, "schema": "http", "password": "%s"}\n' "$ns" "$api_key"
  printf 'AIRFLOW_CONN_SLACK_DEFAULT={"conn_type": "slackwebhook", "password": "%s"}\n' "$slack"
  # No keys in the connection: boto3 reads AWS_* from the trainer-aws Secret (extraEnvFrom), which
  # ops/rotate re-seals, so a key rotation reaches remote logging too.
  printf 'AIRFLOW_CONN_AWS_LOGS={"conn_type": "aws", "extra": {"region_name": "us-east-1"}}\n'
} | seal "$ns" airflow-connections "$out/airflow/airflow-connections.yaml"
aws_pair | seal "$ns" trainer-aws "$out/airflow/trainer-aws.yaml"
# The commit trigger posts its result to the same Slack channel (its login: airflow-ci-user above).
printf 'SLACK_WEBHOOK_URL=%s\n' "$slack" | seal "$ns" commit-trigger "$out/airflow/commit-trigger.yaml"

# The control API: its callers' keys (name:key pairs; a read-only one for dashboards) and the secret
# that signs its callbacks. It reads the gateway's admin key from serving-app and the CI/API user's
# password from commit-trigger (charts/control values.secrets), so those stay in one place.
printf 'CONTROL_API_KEYS=backend:%s\nCONTROL_READ_API_KEYS=dashboard:%s\nCALLBACK_SIGNING_SECRETS=%s\n' \
  "$(rand 32)" "$(rand 32)" "$(rand 32)" | seal "$ns" control-app "$out/control/control-app.yaml"

# PostgreSQL backups (charts/postgres ObjectStore): their own S3 identity, only the bucket's postgres/ prefix.
printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' "$(akid)" "$(rand 30)" \
  | seal "$ns" postgres-backup-aws "$out/postgres/postgres-backup-aws.yaml"

if [ "$env" = prod ]; then
  printf 'slack-token=xoxb-%s\n' "$(rand 36)" \
    | seal argocd argocd-notifications-secret "$root/bootstrap/argocd-secrets/argocd-notifications-secret.yaml"
fi
