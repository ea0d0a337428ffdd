{{/* Names, labels and the values derived from several others. */}}

{{- define "weir-worker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "weir-worker.fullname" -}}
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

{{- define "weir-worker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "weir-worker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The labels of everything the chart renders but the component. */}}
{{- define "weir-worker.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "weir-worker.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: weir
{{- end }}

{{- define "weir-worker.labels" -}}
{{ include "weir-worker.commonLabels" . }}
app.kubernetes.io/component: worker
{{- end }}

{{- define "weir-worker.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The worker's service account. */}}
{{- define "weir-worker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "weir-worker.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The flow pods' service account, empty when none is configured. */}}
{{- define "weir-worker.jobServiceAccountName" -}}
{{- if .Values.jobServiceAccount.create }}
{{- default (printf "%s-job" (include "weir-worker.fullname" .) | trunc 63 | trimSuffix "-") .Values.jobServiceAccount.name }}
{{- else }}
{{- .Values.jobServiceAccount.name }}
{{- end }}
{{- end }}

{{/* The job namespaces as a JSON list: jobNamespaces without repeats, or the release namespace. */}}
{{- define "weir-worker.jobNamespaces" -}}
{{- if .Values.jobNamespaces }}
{{- .Values.jobNamespaces | uniq | toJson }}
{{- else }}
{{- list .Release.Namespace | toJson }}
{{- end }}
{{- end }}

{{/* The RBAC rules of the worker: the file mirrors weir_kube::preflight::role_rules_yaml(). */}}
{{- define "weir-worker.rules" -}}
{{ .Files.Get "files/role-rules.yaml" }}
{{- end }}

{{/* Whether the chart writes a base job template ConfigMap. */}}
{{- define "weir-worker.ownsTemplate" -}}
{{- if and .Values.baseJobTemplate.reconcile (not .Values.baseJobTemplate.existingConfigMap.name) }}true{{ end }}
{{- end }}

{{/* The base job template: inline, or Weir's Kubernetes template with the chart's defaults. */}}
{{- define "weir-worker.baseJobTemplate" -}}
{{- $template := dict }}
{{- if .Values.baseJobTemplate.inline }}
{{- $template = .Values.baseJobTemplate.inline }}
{{- else }}
{{- $template = .Files.Get "files/kubernetes-default.json" | fromJson }}
{{- $properties := $template.variables.properties }}
{{- $namespaces := include "weir-worker.jobNamespaces" . | fromJsonArray }}
{{- $_ := set (index $properties "namespace") "default" (first $namespaces) }}
{{- $jobServiceAccount := include "weir-worker.jobServiceAccountName" . }}
{{- if $jobServiceAccount }}
{{- $_ := set (index $properties "service_account_name") "default" $jobServiceAccount }}
{{- end }}
{{- range $variable, $default := .Values.baseJobTemplate.defaults }}
{{- $_ := set (index $properties $variable) "default" $default }}
{{- end }}
{{- end }}
{{- toPrettyJson $template }}
{{- end }}

{{/* Refuses combinations of values that the schema cannot express, naming the values. */}}
{{- define "weir-worker.validate" -}}
{{- if and .Values.api.apiKeySecret .Values.api.authStringSecret }}
{{- fail "api.apiKeySecret and api.authStringSecret are both set: the worker sends one credential, set only one of them" }}
{{- end }}
{{- if and .Values.worker.name (gt (int .Values.replicaCount) 1) }}
{{- fail (printf "worker.name %q is fixed while replicaCount is %d: replicas need unique names, leave worker.name empty to use each pod's name" .Values.worker.name (int .Values.replicaCount)) }}
{{- end }}
{{- $sources := 0 }}
{{- if .Values.baseJobTemplate.inline }}{{ $sources = add1 $sources }}{{ end }}
{{- if .Values.baseJobTemplate.existingConfigMap.name }}{{ $sources = add1 $sources }}{{ end }}
{{- if gt $sources 1 }}
{{- fail "baseJobTemplate.inline and baseJobTemplate.existingConfigMap.name are both set: choose one template" }}
{{- end }}
{{- if and .Values.baseJobTemplate.defaults (gt $sources 0) }}
{{- fail "baseJobTemplate.defaults applies to the chart's own template only: put the defaults in baseJobTemplate.inline or the existing ConfigMap instead" }}
{{- end }}
{{- end }}
