{{/* Names, labels and the derived settings every template shares. */}}

{{- define "taskops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-taskops, or the release name alone when it already says taskops. */}}
{{- define "taskops.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Cluster-scoped objects carry the namespace too: two releases of the same
name in different namespaces must not share a ClusterRole. */}}
{{- define "taskops.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "taskops.fullname" .) | trunc 253 }}
{{- end }}

{{- define "taskops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "taskops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "taskops.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "taskops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: taskops
{{- end }}

{{- define "taskops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "taskops.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "taskops.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* "true" when the operator must hold the Lease: whenever two operator pods
can run at once, i.e. more than one replica, or a RollingUpdate (which starts
the new pod before the old one stops). */}}
{{- define "taskops.leaderElection" -}}
{{- $mode := .Values.leaderElection.enabled }}
{{- if eq (toString $mode) "auto" }}
{{- ternary "true" "false" (or (gt (int .Values.replicas) 1) (eq .Values.updateStrategy "RollingUpdate")) }}
{{- else }}
{{- ternary "true" "false" (eq (toString $mode) "true") }}
{{- end }}
{{- end }}

{{- define "taskops.leaseName" -}}
{{- default (printf "%s-leader" (include "taskops.fullname" .)) .Values.leaderElection.leaseName }}
{{- end }}

{{/* The namespace the helm test's TaskJob runs in: one the operator watches. */}}
{{- define "taskops.testNamespace" -}}
{{- if .Values.test.namespace }}
{{- .Values.test.namespace }}
{{- else if or (not .Values.watchNamespaces) (has .Release.Namespace .Values.watchNamespaces) }}
{{- .Release.Namespace }}
{{- else }}
{{- first .Values.watchNamespaces }}
{{- end }}
{{- end }}

{{/* Seconds the operator drains after SIGTERM (taskops.runtime.SHUTDOWN_DRAIN_SECONDS;
tests/test_chart.py keeps the two equal). */}}
{{- define "taskops.drainSeconds" -}}20{{- end }}

{{/* Environment pointing the Kubernetes client at apiServerOverride, if set. */}}
{{- define "taskops.apiServerEnv" -}}
{{- if .Values.apiServerOverride.host }}
- name: KUBERNETES_SERVICE_HOST
  value: {{ .Values.apiServerOverride.host | quote }}
- name: KUBERNETES_SERVICE_PORT
  value: {{ .Values.apiServerOverride.port | quote }}
{{- end }}
{{- end }}

{{/* Checks that a schema cannot express (they span several values). */}}
{{- define "taskops.validate" -}}
{{- $le := .Values.leaderElection }}
{{- if not (gt (float64 $le.leaseDurationSeconds) (float64 $le.renewDeadlineSeconds)) }}
{{- fail (printf "leaderElection.renewDeadlineSeconds (%v) must be less than leaderElection.leaseDurationSeconds (%v)" $le.renewDeadlineSeconds $le.leaseDurationSeconds) }}
{{- end }}
{{- if not (gt (float64 $le.renewDeadlineSeconds) (mulf 1.2 (float64 $le.retryPeriodSeconds))) }}
{{- fail (printf "leaderElection.renewDeadlineSeconds (%v) must be more than 1.2 x leaderElection.retryPeriodSeconds (%v)" $le.renewDeadlineSeconds $le.retryPeriodSeconds) }}
{{- end }}
{{- if and (gt (int .Values.replicas) 1) (eq (include "taskops.leaderElection" .) "false") }}
{{- fail "leaderElection.enabled: false needs replicas: 1 (several active replicas would reconcile the same TaskJobs)" }}
{{- end }}
{{- if eq (int .Values.ports.health) (int .Values.ports.metrics) }}
{{- fail "ports.health and ports.metrics must differ" }}
{{- end }}
{{- $minimum := add .Values.preStopSleepSeconds (include "taskops.drainSeconds" .) 5 }}
{{- if lt (int .Values.terminationGracePeriodSeconds) (int $minimum) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be at least preStopSleepSeconds + %s s of draining + 5 s = %v" .Values.terminationGracePeriodSeconds (include "taskops.drainSeconds" .) $minimum) }}
{{- end }}
{{- end }}
