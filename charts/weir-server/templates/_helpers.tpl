{{/* Names, labels and the checks the schema cannot express. */}}

{{- define "weir-server.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "weir-server.fullname" -}}
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

{{- define "weir-server.selectorLabels" -}}
app.kubernetes.io/name: {{ include "weir-server.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "weir-server.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "weir-server.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: server
app.kubernetes.io/part-of: weir
{{- end }}

{{- define "weir-server.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "weir-server.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The SQLite claim's name. */}}
{{- define "weir-server.claimName" -}}
{{- default (printf "%s-data" (include "weir-server.fullname" .)) .Values.database.sqlite.persistence.existingClaim }}
{{- end }}

{{- define "weir-server.validate" -}}
{{- if and (eq .Values.database.type "sqlite") (gt (int .Values.replicaCount) 1) }}
{{- fail (printf "replicaCount is %d but database.type is sqlite: SQLite lives on one volume and allows 1 replica; use database.type postgresql for several" (int .Values.replicaCount)) }}
{{- end }}
{{- if and (eq .Values.database.type "postgresql") (not .Values.database.postgresql.existingSecret.name) }}
{{- fail "database.postgresql.existingSecret.name is empty: with database.type postgresql, name the Secret holding the postgresql:// URL" }}
{{- end }}
{{- end }}
