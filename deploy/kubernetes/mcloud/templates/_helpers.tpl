{{/* The environment name of a setting of common/config.c: MCLOUD_ + the
     name upper-cased, '.' and '-' as '_' (mc_config_env_name). */}}
{{- define "mcloud.env" -}}
MCLOUD_{{ . | upper | replace "." "_" | replace "-" "_" }}
{{- end -}}

{{- define "mcloud.labels" -}}
app.kubernetes.io/name: {{ .service }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/part-of: mcloud
app.kubernetes.io/version: {{ .root.Values.image.tag | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{/* The labels a Service, a PDB and a Deployment select a service's pods by. */}}
{{- define "mcloud.selector" -}}
app.kubernetes.io/name: {{ .service }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "mcloud.image" -}}
{{ .root.Values.image.registry }}/mcloud-{{ .service }}:{{ .root.Values.image.tag }}
{{- end -}}

{{/* Settings every container gets: the ConfigMap (all of it) and the
     credentials of the Secret, key by key. */}}
{{- define "mcloud.envFrom" -}}
envFrom:
  - configMapRef:
      name: {{ .Release.Name }}-settings
{{- end -}}

{{- define "mcloud.credentials" -}}
{{- range $name, $_ := .Values.credentials }}
- name: {{ include "mcloud.env" $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $.Release.Name }}-credentials
      key: {{ include "mcloud.env" $name }}
{{- end }}
{{- end -}}

{{- define "mcloud.podSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
{{- end -}}

{{- define "mcloud.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  capabilities:
    drop: ["ALL"]
{{- end -}}

{{- define "mcloud.probes" -}}
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: {{ .Values.probes.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.failureThreshold }}
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: {{ .Values.probes.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.failureThreshold }}
{{- end -}}
