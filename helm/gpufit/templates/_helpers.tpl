{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "gpufit.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: RELEASE-gpufit, or RELEASE when it already contains the chart name. */}}
{{- define "gpufit.fullname" -}}
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

{{/* Name of the second scheduler's resources. */}}
{{- define "gpufit.schedulerFullname" -}}
{{- printf "%s-scheduler" (include "gpufit.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gpufit.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every resource. */}}
{{- define "gpufit.labels" -}}
helm.sh/chart: {{ include "gpufit.chart" . }}
{{ include "gpufit.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gpufit
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of gpufitd's pods (immutable on upgrade: keep them few). */}}
{{- define "gpufit.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gpufit.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{/* Labels and selector labels of the second scheduler. */}}
{{- define "gpufit.schedulerSelectorLabels" -}}
app.kubernetes.io/name: {{ include "gpufit.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: scheduler
{{- end }}

{{- define "gpufit.schedulerLabels" -}}
helm.sh/chart: {{ include "gpufit.chart" . }}
{{ include "gpufit.schedulerSelectorLabels" . }}
app.kubernetes.io/version: {{ .Values.scheduler.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gpufit
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "gpufit.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gpufit.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* gpufitd's image reference: repository@digest or repository:tag (default appVersion). */}}
{{- define "gpufit.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* gpufitd's --config file: the non-empty fields of .Values.config. */}}
{{- define "gpufit.configFile" -}}
{{- $c := dict }}
{{- range $k := list "version" "prices" "accelerators" "presets" "policy" "workloads" }}
{{- $v := index $.Values.config $k }}
{{- if $v }}
{{- $_ := set $c $k $v }}
{{- end }}
{{- end }}
{{- if $c }}
{{- toYaml $c }}
{{- else }}
{}
{{- end }}
{{- end }}

{{/* "grpc" or "http": how the kubelet probes gpufitd. */}}
{{- define "gpufit.probeMode" -}}
{{- if eq .Values.probes.mode "auto" }}
{{- if .Values.tls.enabled }}http{{ else }}grpc{{ end }}
{{- else }}
{{- .Values.probes.mode }}
{{- end }}
{{- end }}

{{/* In-cluster URL of gpufitd's HTTP port, the scheduler extender's urlPrefix. */}}
{{- define "gpufit.extenderURL" -}}
{{- printf "http://%s.%s.svc:%d" (include "gpufit.fullname" .) .Release.Namespace (int .Values.service.httpPort) }}
{{- end }}

{{/* Checks that fail the render with a message instead of producing a broken release. */}}
{{- define "gpufit.validate" -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (add (int .Values.shutdownGraceSeconds) (int .Values.preStopSleepSeconds) | int) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed shutdownGraceSeconds + preStopSleepSeconds (%d): the kubelet would kill gpufitd before its drain ends" (int .Values.terminationGracePeriodSeconds) (add (int .Values.shutdownGraceSeconds) (int .Values.preStopSleepSeconds) | int)) }}
{{- end }}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) }}
{{- fail "tls.enabled needs tls.secretName (a kubernetes.io/tls Secret)" }}
{{- end }}
{{- if and .Values.tls.clientCA.enabled (not .Values.tls.enabled) }}
{{- fail "tls.clientCA.enabled needs tls.enabled" }}
{{- end }}
{{- if and (eq .Values.probes.mode "grpc") .Values.tls.enabled }}
{{- fail "probes.mode grpc cannot be used with tls.enabled: kubelet gRPC probes do not speak TLS; use auto or http" }}
{{- end }}
{{- if and .Values.scheduler.enabled (gt (int .Values.scheduler.replicaCount) 1) (not .Values.scheduler.leaderElection.enabled) }}
{{- fail "scheduler.replicaCount > 1 needs scheduler.leaderElection.enabled" }}
{{- end }}
{{- range .Values.config.workloads }}
{{- if not .name }}
{{- fail "config.workloads: every workload needs a name (it labels the workload's metrics)" }}
{{- end }}
{{- end }}
{{- end }}
