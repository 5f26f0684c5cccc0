{{/* Chart name, truncated to 63 characters (DNS label). */}}
{{- define "control.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name, truncated to 63 characters. */}}
{{- define "control.fullname" -}}
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

{{- define "control.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels. */}}
{{- define "control.labels" -}}
helm.sh/chart: {{ include "control.chart" . }}
{{ include "control.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gitops-mlops
app.kubernetes.io/component: control-api
{{- end }}

{{- define "control.selectorLabels" -}}
app.kubernetes.io/name: {{ include "control.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "control.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "control.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "control.image" -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag }}
{{- end }}

{{/* Several replicas need a shared database: SQLite on a pod's emptyDir is per pod. */}}
{{- define "control.checkDatabase" -}}
{{- if and (gt (int .Values.replicaCount) 1) (hasPrefix "sqlite" .Values.database.url) }}
{{- fail "control: replicaCount > 1 needs a shared database (set database.url to PostgreSQL or database.existingSecret)" }}
{{- end }}
{{- if and (not .Values.database.url) (not .Values.database.existingSecret) }}
{{- fail "control: set database.url or database.existingSecret" }}
{{- end }}
{{- end }}

{{/* The Secrets the pods read (comma-separated): Reloader restarts the Deployment when one changes. */}}
{{- define "control.reloadSecrets" -}}
{{- $names := list .Values.secrets.app.name .Values.secrets.gateway.name .Values.secrets.airflow.name }}
{{- if not .Values.database.url }}
{{- $names = append $names .Values.database.existingSecret }}
{{- end }}
{{- $names | uniq | join "," }}
{{- end }}
