{{- define "regcred-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "regcred-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "regcred-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "regcred-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: regcred-operator
{{- end }}

{{- define "regcred-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "regcred-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "regcred-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "regcred-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "regcred-operator.sourceNamespace" -}}
{{- default .Release.Namespace .Values.sourceNamespace }}
{{- end }}

{{/* Kubelet delivery: the endpoint's Service, its TLS Secret and the CA ConfigMap the nodes get. */}}
{{- define "regcred-operator.kubeletServiceName" -}}
{{- printf "%s-kubelet" (include "regcred-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "regcred-operator.kubeletTlsSecretName" -}}
{{- default (printf "%s-kubelet-tls" (include "regcred-operator.fullname" .)) .Values.kubeletDelivery.tls.secretName }}
{{- end }}

{{- define "regcred-operator.kubeletCaConfigMapName" -}}
{{- default (printf "%s-kubelet-ca" (include "regcred-operator.fullname" .)) .Values.kubeletDelivery.tls.caConfigMap }}
{{- end }}

{{/* The environment variable prefix the kubelet gives containers for the endpoint's Service. */}}
{{- define "regcred-operator.kubeletServiceEnv" -}}
{{- include "regcred-operator.kubeletServiceName" . | upper | replace "-" "_" }}
{{- end }}

{{/* Pod injection: the webhook's Service, its MutatingWebhookConfiguration, its certificate Secrets. */}}
{{- define "regcred-operator.webhookServiceName" -}}
{{- printf "%s-webhook" (include "regcred-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "regcred-operator.webhookConfigurationName" -}}
{{- include "regcred-operator.fullname" . }}
{{- end }}

{{- define "regcred-operator.webhookCaSecretName" -}}
{{- printf "%s-webhook-ca" (include "regcred-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "regcred-operator.webhookTlsSecretName" -}}
{{- printf "%s-webhook-tls" (include "regcred-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
