{{/* Chart name, truncated to 63 characters (DNS label). */}}
{{- define "commit-trigger.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name, truncated to 63 characters. */}}
{{- define "commit-trigger.fullname" -}}
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

{{- define "commit-trigger.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels. */}}
{{- define "commit-trigger.labels" -}}
helm.sh/chart: {{ include "commit-trigger.chart" . }}
{{ include "commit-trigger.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gitops-mlops
app.kubernetes.io/component: commit-trigger
{{- end }}

{{- define "commit-trigger.selectorLabels" -}}
app.kubernetes.io/name: {{ include "commit-trigger.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The commit to trigger for: the synced revision, else the cloned branch's tip. */}}
{{- define "commit-trigger.commit" -}}
{{- default "HEAD" .Values.commit }}
{{- end }}
