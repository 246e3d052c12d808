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
{{- with (.Values.config.prometheus | default dict).servers }}
{{- $_ := set $c "prometheus" (dict "servers" .) }}
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
{{- printf "%s://%s.%s.svc:%d" (ternary "https" "http" .Values.http.tls.enabled) (include "gpufit.fullname" .) .Release.Namespace (int .Values.service.httpPort) }}
{{- end }}

{{/* The Secret with the HTTP port's serving certificate (default: the gRPC port's). */}}
{{- define "gpufit.httpTlsSecret" -}}
{{- .Values.http.tls.secretName | default .Values.tls.secretName }}
{{- end }}

{{/* "plain", "https" or "health": where and how the kubelet's HTTP probes go. */}}
{{- define "gpufit.httpProbeTarget" -}}
{{- if and .Values.http.tls.enabled .Values.http.tls.clientCA.enabled }}health
{{- else if .Values.http.tls.enabled }}https
{{- else }}plain
{{- end }}
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
{{- if and .Values.http.tls.enabled (not (include "gpufit.httpTlsSecret" .)) }}
{{- fail "http.tls.enabled needs http.tls.secretName or tls.secretName (a kubernetes.io/tls Secret)" }}
{{- end }}
{{- if and .Values.http.tls.clientCA.enabled (not .Values.http.tls.enabled) }}
{{- fail "http.tls.clientCA.enabled needs http.tls.enabled" }}
{{- end }}
{{- if and .Values.http.tls.clientCA.enabled (has (int .Values.http.healthPort) (list (int .Values.http.port) (int .Values.grpc.port))) }}
{{- fail "http.healthPort must differ from http.port and grpc.port" }}
{{- end }}
{{- if and .Values.scheduler.enabled .Values.http.tls.enabled (not .Values.scheduler.extender.tls.secretName) (or .Values.http.tls.clientCA.enabled (not .Values.scheduler.extender.tls.insecure)) }}
{{- fail "scheduler.extender.tls.secretName is needed with http.tls.enabled: kube-scheduler needs the CA of gpufitd's certificate (ca.crt) and, with http.tls.clientCA, its own client certificate (tls.crt, tls.key)" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled .Values.http.tls.enabled (not .Values.serviceMonitor.tlsConfig) }}
{{- fail "serviceMonitor.tlsConfig is needed with http.tls.enabled: Prometheus scrapes https and must trust gpufitd's certificate (and present a client certificate with http.tls.clientCA)" }}
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

{{/* port (and scheme) of an HTTP probe; the argument is gpufit.httpProbeTarget's value. */}}
{{- define "gpufit.httpProbePort" -}}
{{- if eq . "health" -}}
port: health
{{- else if eq . "https" -}}
port: http
scheme: HTTPS
{{- else -}}
port: http
{{- end -}}
{{- end }}

{{/* The TCP ports of config.prometheus.servers (the URL's, or 80/443), unique, as JSON. */}}
{{- define "gpufit.prometheusPorts" -}}
{{- $ports := list }}
{{- range (.Values.config.prometheus | default dict).servers }}
{{- $u := urlParse . }}
{{- $port := regexFind ":[0-9]+$" $u.host | trimPrefix ":" }}
{{- if not $port }}
{{- $port = ternary "443" "80" (eq (lower $u.scheme) "https") }}
{{- end }}
{{- $ports = append $ports (int $port) }}
{{- end }}
{{- toJson (uniq $ports) }}
{{- end }}
