{{/*
Chart name, truncated to 63 characters.
*/}}
{{- define "sidekick.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name. A release whose name contains the chart name ("sidekick", "falcosidekick") is
used as is, so release `sidekick` gives the Service `sidekick`; otherwise `<release>-<name>`.
*/}}
{{- define "sidekick.fullname" -}}
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

{{- define "sidekick.uiFullname" -}}
{{- printf "%s-ui" (include "sidekick.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sidekick.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels. Call with (dict "ctx" $ "component" "core").
*/}}
{{- define "sidekick.labels" -}}
helm.sh/chart: {{ include "sidekick.chart" .ctx }}
{{ include "sidekick.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: {{ include "sidekick.name" .ctx }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- with .ctx.Values.customLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "sidekick.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sidekick.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Annotations block shared by every resource (customAnnotations + extra). Call with (dict "ctx" $ "extra" map).
*/}}
{{- define "sidekick.annotations" -}}
{{- $all := merge (deepCopy (default (dict) .extra)) (deepCopy (default (dict) .ctx.Values.customAnnotations)) }}
{{- if $all }}
annotations:
  {{- toYaml $all | nindent 2 }}
{{- end }}
{{- end }}

{{- define "sidekick.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sidekick.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference. Call with (dict "image" .Values.image "ctx" $).
*/}}
{{- define "sidekick.image" -}}
{{- $repo := .image.repository }}
{{- if .image.registry }}{{ $repo = printf "%s/%s" .image.registry .image.repository }}{{ end }}
{{- if .image.digest }}
{{- printf "%s@%s" $repo .image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default .ctx.Chart.AppVersion (toString .image.tag)) }}
{{- end }}
{{- end }}

{{- define "sidekick.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
{{- if kindIs "string" . }}
  - name: {{ . | quote }}
{{- else }}
  - name: {{ .name | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Formats one config value as an environment variable string. Returns "" for empty values.
Call with (dict "key" "customfields" "value" $v).
- booleans -> true/false; whole numbers without exponent (5242880, not 5.24288e+06);
- lists -> comma separated; maps -> k:v,k2:v2 (sorted by key).
*/}}
{{- define "sidekick.envValue" -}}
{{- $v := .value }}
{{- if kindIs "bool" $v }}
{{- printf "%t" $v }}
{{- else if or (kindIs "float64" $v) (kindIs "float32" $v) }}
{{- if eq (float64 (int64 $v)) (float64 $v) }}{{ int64 $v }}{{ else }}{{ $v }}{{ end }}
{{- else if or (kindIs "int" $v) (kindIs "int64" $v) }}
{{- $v }}
{{- else if kindIs "slice" $v }}
{{- $parts := list }}
{{- range $v }}{{ $parts = append $parts (include "sidekick.envValue" (dict "key" "" "value" .)) }}{{ end }}
{{- join "," (compact $parts) }}
{{- else if kindIs "map" $v }}
{{- $parts := list }}
{{- range $k := keys $v | sortAlpha }}{{ $parts = append $parts (printf "%s:%s" $k (include "sidekick.envValue" (dict "key" "" "value" (get $v $k)))) }}{{ end }}
{{- join "," $parts }}
{{- else if kindIs "invalid" $v }}
{{- else }}
{{- toString $v }}
{{- end }}
{{- end }}

{{/*
Flattens `config:` into "ENV_NAME: base64" lines for the Secret.
Call with (dict "prefix" "" "values" .Values.config).
Keys that are chart settings rather than service settings are skipped, and so are the variables
named in "skipEnv". Maps under the key:value keys listed in sidekick.kvKeys are written as one variable.
*/}}
{{- define "sidekick.configEnv" -}}
{{- $skip := list "existingSecret" "existingsecret" "extraEnv" "extraenv" "extraArgs" "extraargs" "grafanaDashboard" "extraenvvars" "servercrt" "serverkey" "cacrt" "useirsa" "workloadIdentityServiceAccount" "workloadIdentityClientID" "podIdentityClientID" "podIdentityName" "subscriptionID" "resourceGroupName" }}
{{- $kvKeys := list "customfields" "templatedfields" "extralabels" "extraannotations" "customheaders" "customattributes" "customseveritymap" "headers" "extraattributes" "dropeventthresholds" }}
{{- $renames := dict "ALERTMANAGER_EXPIREAFTER" "ALERTMANAGER_EXPIRESAFTER" "TELEGRAM_MESSAGETHREADID" "TELEGRAM_MESSAGE_THREAD_ID" }}
{{- $prefix := .prefix }}
{{- $skipEnv := default (list) .skipEnv }}
{{- range $k, $v := .values }}
{{- if not (has $k $skip) }}
{{- $name := upper (ternary $k (printf "%s_%s" $prefix $k) (eq $prefix "")) }}
{{- $name = get $renames $name | default $name }}
{{- if and (kindIs "map" $v) (not (has (lower $k) $kvKeys)) }}
{{- include "sidekick.configEnv" (dict "prefix" $name "values" $v "skipEnv" $skipEnv) }}
{{- else }}
{{- $s := include "sidekick.envValue" (dict "key" $k "value" $v) }}
{{- if and (ne $s "") (not (has $name $skipEnv)) }}
{{ $name }}: {{ $s | b64enc | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
IRSA as falcosidekick's chart does it: with config.aws.useirsa (default true) and a rolearn, the role
goes on the ServiceAccount (EKS injects its web identity) and AWS_ROLEARN is not exported, otherwise
Sidekick would assume the role a second time from the role's own credentials.
*/}}
{{- define "sidekick.irsaRoleArn" -}}
{{- $aws := default (dict) (default (dict) .Values.config).aws }}
{{- if and (ne (toString (dig "useirsa" true $aws)) "false") (dig "rolearn" "" $aws) }}{{ $aws.rolearn }}{{ end }}
{{- end }}

{{/*
The ServiceAccount's annotations: serviceAccount.annotations, plus IRSA's role and GKE Workload
Identity's service account (config.gcp.workloadIdentityServiceAccount) as falcosidekick's chart sets them.
*/}}
{{- define "sidekick.serviceAccountAnnotations" -}}
{{- $a := deepCopy (default (dict) .Values.serviceAccount.annotations) }}
{{- with include "sidekick.irsaRoleArn" . }}{{ $_ := set $a "eks.amazonaws.com/role-arn" . }}{{ end }}
{{- with dig "gcp" "workloadIdentityServiceAccount" "" (default (dict) .Values.config) }}{{ $_ := set $a "iam.gke.io/gcp-service-account" . }}{{ end }}
{{- toYaml $a }}
{{- end }}

{{/*
Secret data rendered from config (plus otlp.metrics.extraenvvars when it is a map, as upstream).
*/}}
{{- define "sidekick.secretData" -}}
{{- $config := default (dict) .Values.config }}
{{- $skipEnv := ternary (list "AWS_ROLEARN") (list) (ne (include "sidekick.irsaRoleArn" .) "") }}
{{- include "sidekick.configEnv" (dict "prefix" "" "values" $config "skipEnv" $skipEnv) }}
{{- $extra := dig "otlp" "metrics" "extraenvvars" (dict) $config }}
{{- if kindIs "map" $extra }}
{{- range $k, $v := $extra }}
{{ $k }}: {{ include "sidekick.envValue" (dict "key" $k "value" $v) | b64enc | quote }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sidekick.existingSecret" -}}
{{- default (default "" (default (dict) .Values.config).existingSecret) .Values.existingSecret }}
{{- end }}

{{- define "sidekick.webuiUrl" -}}
{{- printf "http://%s:%v" (include "sidekick.uiFullname" .) (int64 .Values.webui.service.port) }}
{{- end }}

{{- define "sidekick.url" -}}
{{- printf "http://%s.%s.svc.cluster.local:%v" (include "sidekick.fullname" .) .Release.Namespace (int64 .Values.service.port) }}
{{- end }}

{{/*
Ingress object. Call with (dict "ctx" $ "ingress" .Values.ingress "name" fullname "servicePort" port "component" "core").
*/}}
{{- define "sidekick.ingress" -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ .name }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "sidekick.labels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
  {{- with include "sidekick.annotations" (dict "ctx" .ctx "extra" .ingress.annotations) }}{{ . | trim | nindent 2 }}{{- end }}
spec:
  {{- with .ingress.ingressClassName }}
  ingressClassName: {{ . }}
  {{- end }}
  {{- with .ingress.tls }}
  tls:
    {{- range . }}
    - hosts:
        {{- range .hosts }}
        - {{ . | quote }}
        {{- end }}
      {{- with .secretName }}
      secretName: {{ . }}
      {{- end }}
    {{- end }}
  {{- end }}
  rules:
    {{- $root := . }}
    {{- range .ingress.hosts }}
    - {{- with .host }}
      host: {{ . | quote }}
      {{- end }}
      http:
        paths:
          {{- range .paths }}
          - path: {{ .path }}
            pathType: {{ default "Prefix" .pathType }}
            backend:
              service:
                name: {{ $root.name }}
                port:
                  name: http
          {{- end }}
    {{- end }}
{{- end }}
