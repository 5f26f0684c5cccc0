{{/* Chart name, truncated to 63 characters (DNS label). */}}
{{- define "network-policies.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified name (prefix of every policy), truncated to 63 characters. */}}
{{- define "network-policies.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- include "network-policies.name" . }}
{{- end }}
{{- end }}

{{/* Standard labels. */}}
{{- define "network-policies.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "network-policies.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gitops-mlops
{{- end }}

{{/* The NetworkPolicy peers of a named peer (dict "peer" <peer values> "name" <name>): pods of this
namespace, pods/namespaces elsewhere, or address blocks. */}}
{{- define "network-policies.peers" -}}
{{- $p := .peer }}
{{- if $p.cidrs }}
{{- range $p.cidrs }}
- ipBlock:
    cidr: {{ . }}
{{- end }}
{{- else if $p.namespaces }}
{{- range $p.namespaces }}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ . }}
  {{- with $p.pods }}
  podSelector:
    matchLabels:
      {{- toYaml . | nindent 6 }}
  {{- end }}
{{- end }}
{{- else if $p.pods }}
- podSelector:
    matchLabels:
      {{- toYaml $p.pods | nindent 6 }}
{{- else }}
{{- fail (printf "peer %s needs pods, namespaces or cidrs" .name) }}
{{- end }}
{{- end }}

{{/* The ports of a flow. */}}
{{- define "network-policies.ports" -}}
{{- $protocol := .protocol | default "TCP" }}
{{- range .ports }}
- protocol: {{ $protocol }}
  port: {{ . }}
{{- end }}
{{- end }}
