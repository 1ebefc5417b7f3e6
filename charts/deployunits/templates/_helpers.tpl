{{/* Labels Helm's conventions add to every object (the kustomize base has none of them). */}}
{{- define "deployunits.chartLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The labels of the workload, its Pods and its Service (as in the base). */}}
{{- define "deployunits.labels" -}}
app.kubernetes.io/name: deployunits
app.kubernetes.io/part-of: deployunits
{{ include "deployunits.chartLabels" . }}
{{- end }}

{{/* The image of both containers. */}}
{{- define "deployunits.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The ServiceAccount as a subject of the bindings. */}}
{{- define "deployunits.subject" -}}
- kind: ServiceAccount
  name: {{ .Values.serviceAccount.name }}
  namespace: {{ .Release.Namespace }}
{{- end }}
