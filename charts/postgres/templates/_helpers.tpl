{{/* Standard labels of every object of this chart. */}}
{{- define "postgres.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gitops-mlops
app.kubernetes.io/component: database
{{- end }}

{{/* The Barman Cloud plugin's name, as Clusters and ScheduledBackups refer to it. */}}
{{- define "postgres.plugin" -}}
barman-cloud.cloudnative-pg.io
{{- end }}
