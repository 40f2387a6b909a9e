{{/* The chart's name, overridable. */}}
{{- define "journey-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every object's name. Cluster-scoped objects (ClusterRoles,
ClusterRoleBinding) carry it too, so two releases with different names do not
collide.
*/}}
{{- define "journey-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "journey-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "journey-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: journey-operator
{{- end -}}

{{/* Labels selecting the manager's pods; immutable once installed. */}}
{{- define "journey-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "journey-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end -}}

{{/* The ServiceAccount the manager runs as. */}}
{{- define "journey-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "journey-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The operator image: repository@digest when a digest is set, else
repository:tag with the tag defaulting to the chart's appVersion. The manager
gets it as --image too, so every workload it creates runs the same binary.
*/}}
{{- define "journey-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The ClusterRole holding the manager's permissions. */}}
{{- define "journey-operator.managerRoleName" -}}
{{- printf "%s-manager" (include "journey-operator.fullname" .) -}}
{{- end -}}

{{/* The Service the API server calls the admission webhooks through. */}}
{{- define "journey-operator.webhookServiceName" -}}
{{- printf "%s-webhook" (include "journey-operator.fullname" .) -}}
{{- end -}}

{{/* The Secret holding the webhook serving certificate (and, self-managed, the CA). */}}
{{- define "journey-operator.webhookSecretName" -}}
{{- printf "%s-webhook-cert" (include "journey-operator.fullname" .) -}}
{{- end -}}

{{/* The two webhook configurations (cluster-scoped, so they carry the full name). */}}
{{- define "journey-operator.mutatingWebhookName" -}}
{{- printf "%s-mutating-webhook-configuration" (include "journey-operator.fullname" .) -}}
{{- end -}}
{{- define "journey-operator.validatingWebhookName" -}}
{{- printf "%s-validating-webhook-configuration" (include "journey-operator.fullname" .) -}}
{{- end -}}

{{/* Where the manager reads cert-manager's certificate from. */}}
{{- define "journey-operator.webhookCertPath" -}}
/tmp/k8s-webhook-server/serving-certs
{{- end -}}

{{/* Where the manager reads the metrics certificate from (metrics.certSecret). */}}
{{- define "journey-operator.metricsCertPath" -}}
/tmp/k8s-metrics-server/metrics-certs
{{- end -}}

{{/* The ClusterRole that may GET /metrics of the manager. */}}
{{- define "journey-operator.metricsReaderRoleName" -}}
{{- printf "%s-metrics-reader" (include "journey-operator.fullname" .) -}}
{{- end -}}

{{/* The manager's metrics Service. */}}
{{- define "journey-operator.metricsServiceName" -}}
{{- printf "%s-metrics" (include "journey-operator.fullname" . | trunc 55 | trimSuffix "-") -}}
{{- end -}}
