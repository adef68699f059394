{{/* Labels of every object but the webhook configuration, which the operator rewrites. */}}
{{- define "cheiron.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: cheiron
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "cheiron.selectorLabels" -}}
app.kubernetes.io/name: cheiron
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* "true" when the admission webhook is served: its configuration is cluster-wide, so a
namespaced install never registers one. */}}
{{- define "cheiron.webhook" -}}
{{- and .Values.webhook.enabled (eq .Values.installMode "cluster") -}}
{{- end }}

{{- define "cheiron.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
