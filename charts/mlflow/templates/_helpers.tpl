{{/* Chart name, truncated to 63 characters (DNS label). */}}
{{- define "mlflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name, truncated to 63 characters. */}}
{{- define "mlflow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mlflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels. */}}
{{- define "mlflow.labels" -}}
helm.sh/chart: {{ include "mlflow.chart" . }}
{{ include "mlflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gitops-mlops
app.kubernetes.io/component: tracking-server
{{- end }}

{{- define "mlflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mlflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mlflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mlflow.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "mlflow.image" -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag }}
{{- end }}

{{/* The Secrets the pods read (comma-separated): Reloader restarts the Deployment when one changes. */}}
{{- define "mlflow.reloadSecrets" -}}
{{- list .Values.secrets.backend.name .Values.secrets.aws.name | uniq | join "," }}
{{- end }}

{{/* Env of every MLflow container that opens the backend store: the server and the db-upgrade hook. */}}
{{- define "mlflow.backendEnv" -}}
- name: MLFLOW_BACKEND_STORE_URI
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.backend.name }}
      key: {{ .Values.secrets.backend.uriKey }}
- name: HOME
  value: /tmp
- name: MLFLOW_TMP_DIR
  value: /tmp
{{- end }}

{{/* Labels of the db-upgrade hook Job and its pod (outside the server's selector). */}}
{{- define "mlflow.dbUpgradeLabels" -}}
helm.sh/chart: {{ include "mlflow.chart" . }}
app.kubernetes.io/name: {{ include "mlflow.name" . }}-db-upgrade
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gitops-mlops
app.kubernetes.io/component: db-upgrade
{{- end }}
