{{/*
Names. Most helpers take a context dict: (dict "root" $ "component" "authd").
*/}}
{{- define "tern.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tern.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tern.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <fullname>-<component>: the name of a component's workload, Service and ConfigMap. */}}
{{- define "tern.componentName" -}}
{{- printf "%s-%s" (include "tern.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tern.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tern.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{- define "tern.labels" -}}
helm.sh/chart: {{ include "tern.chart" .root }}
{{ include "tern.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: tern
{{- end }}

{{- define "tern.isFrontend" -}}
{{- if has .component (list "imapd" "pop3d" "lmtpd") }}true{{ end }}
{{- end }}

{{/* Pod labels: the component labels plus the tier the front-end Service selects on. */}}
{{- define "tern.podLabels" -}}
{{ include "tern.labels" . }}
tern-tier: {{ if include "tern.isFrontend" . }}frontend{{ else }}backend{{ end }}
{{- end }}

{{/* <registry>/<prefix>/<component>:<tag>, unless the component overrides repository/tag. */}}
{{- define "tern.image" -}}
{{- $g := .root.Values.image }}
{{- $c := index .root.Values .component }}
{{- $repo := $c.image.repository }}
{{- if not $repo }}
{{- $repo = printf "%s/%s" $g.repositoryPrefix .component }}
{{- if $g.registry }}
{{- $repo = printf "%s/%s" (trimSuffix "/" $g.registry) $repo }}
{{- end }}
{{- end }}
{{- printf "%s:%s" $repo (toString ($c.image.tag | default $g.tag | default .root.Chart.AppVersion)) }}
{{- end }}

{{/* Secret names. The required values are checked here, so every user fails early. */}}
{{- define "tern.postgresSecretName" -}}
{{- if .Values.postgresql.existingSecret }}
{{- .Values.postgresql.existingSecret }}
{{- else }}
{{- $_ := required "set postgresql.dsn (libpq connection string) or postgresql.existingSecret" .Values.postgresql.dsn }}
{{- printf "%s-postgres" (include "tern.fullname" .) }}
{{- end }}
{{- end }}

{{- define "tern.postgresSecretKey" -}}
{{- if .Values.postgresql.existingSecret }}{{ .Values.postgresql.existingSecretKey }}{{ else }}dsn{{ end }}
{{- end }}

{{- define "tern.tokenSecretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else }}
{{- printf "%s-tokens" (include "tern.fullname" .) }}
{{- end }}
{{- end }}

{{/*
A key ring value, checked: (dict "name" "secrets.tokenKey" "value" ...). Every line that is
not blank or a # comment must be "<key_id> <hex secret of >= 32 bytes>" (KeyRing::Parse),
so a malformed ring fails the install instead of crash-looping the pods.
*/}}
{{- define "tern.keyRing" -}}
{{- $v := required (printf "set %s (a key ring: echo \"k1 $(openssl rand -hex 32)\") or secrets.existingSecret" .name) .value }}
{{- $keys := 0 }}
{{- range $i, $line := splitList "\n" $v }}
{{- $l := trim $line }}
{{- if and $l (not (hasPrefix "#" $l)) }}
{{- if not (regexMatch "^\\S+[ \\t]+([0-9a-fA-F]{2}){32,}$" $l) }}
{{- fail (printf "%s line %d: want \"<key_id> <hex secret of at least 32 bytes>\", e.g. echo \"k1 $(openssl rand -hex 32)\"" $.name (add1 $i)) }}
{{- end }}
{{- $keys = add1 $keys }}
{{- end }}
{{- end }}
{{- if not $keys }}
{{- fail (printf "%s has no key line" .name) }}
{{- end }}
{{- $v }}
{{- end }}

{{/* The files of the token Secret each component reads (keys of the Secret = file names). */}}
{{- define "tern.secretFiles" -}}
{{- if eq .component "authd" }}token-key service-token admin-token
{{- else if has .component (list "metad" "blobd") }}token-key blob-key service-token admin-token
{{- else if has .component (list "blob-gc" "lmtpd") }}service-token
{{- end }}
{{- end }}

{{/* OAUTHBEARER keys: where they come from ("configMap"/"secret" and the object's name). */}}
{{- define "tern.oauthKeysSource" -}}
{{- $o := .Values.oauth }}
{{- if $o.existingSecret -}}
secret {{ $o.existingSecret }}
{{- else if $o.existingConfigMap -}}
configMap {{ $o.existingConfigMap }}
{{- else -}}
{{- $_ := required "oauth.issuer is set: give the issuer's public keys in oauth.keys, oauth.existingConfigMap or oauth.existingSecret" $o.keys -}}
configMap {{ printf "%s-oauth-keys" (include "tern.fullname" .) }}
{{- end }}
{{- end }}

{{- define "tern.frontendTLSSecretName" -}}
{{- if or .Values.frontendTLS.cert .Values.frontendTLS.key }}
{{- printf "%s-tls" (include "tern.fullname" .) }}
{{- else }}
{{- required "set frontendTLS.secretName (a kubernetes.io/tls Secret) or frontendTLS.cert and frontendTLS.key" .Values.frontendTLS.secretName }}
{{- end }}
{{- end }}

{{- define "tern.redisAddr" -}}
{{- required "set redis.addr (host:port of Redis)" .Values.redis.addr }}
{{- end }}

{{/* host:port of a back-end's gRPC Service, as the front-ends dial it. */}}
{{- define "tern.grpcAddr" -}}
{{- $c := index .root.Values .component }}
{{- printf "%s:%d" (include "tern.componentName" .) (int $c.grpcPort) }}
{{- end }}

{{/* Seconds: preStop sleep + TERN_SHUTDOWN_GRACE + margin, always > TERN_SHUTDOWN_GRACE. */}}
{{- define "tern.terminationGracePeriodSeconds" -}}
{{- $c := index .root.Values .component }}
{{- $margin := max 1 (int .root.Values.terminationGraceMarginSeconds) }}
{{- add (int ($c.preStopSleepSeconds | default 0)) (int $c.shutdownGraceSeconds) $margin }}
{{- end }}

{{/*
The TERN_* settings of one component: the data of its ConfigMap (and, hashed, the
checksum/config annotation that rolls its pods when it changes).
*/}}
{{- define "tern.configData" -}}
{{- $root := .root }}
{{- $comp := .component }}
{{- $c := index $root.Values $comp }}
{{- $secretDir := "/etc/tern/secrets" -}}
TERN_LOG_LEVEL: {{ default $root.Values.logLevel $c.logLevel | quote }}
TERN_HTTP_LISTEN: {{ printf "0.0.0.0:%d" (int $c.metricsPort) | quote }}
TERN_SHUTDOWN_GRACE: {{ printf "%ds" (int $c.shutdownGraceSeconds) | quote }}
{{- if $c.grpcMaxThreads }}
TERN_GRPC_MAX_THREADS: {{ $c.grpcMaxThreads | toString | quote }}
{{- end }}
{{- if $root.Values.grpcTLS.enabled }}
TERN_GRPC_TLS_CERT: /etc/tern/grpc-tls/tls.crt
TERN_GRPC_TLS_KEY: /etc/tern/grpc-tls/tls.key
TERN_GRPC_TLS_CA: /etc/tern/grpc-tls/ca.crt
{{- end }}
{{- if has $comp (list "authd" "metad" "blobd") }}
TERN_GRPC_LISTEN: {{ printf "0.0.0.0:%d" (int $c.grpcPort) | quote }}
{{- $files := splitList " " (include "tern.secretFiles" .) }}
TERN_TOKEN_KEY_FILE: {{ $secretDir }}/token-key
{{- if has "blob-key" $files }}
TERN_BLOB_KEY_FILE: {{ $secretDir }}/blob-key
{{- end }}
TERN_SERVICE_TOKEN_FILE: {{ $secretDir }}/service-token
TERN_ADMIN_TOKEN_FILE: {{ $secretDir }}/admin-token
{{- end }}
{{- if has $comp (list "authd" "metad") }}
TERN_PG_POOL_SIZE: {{ $c.pgPoolSize | toString | quote }}
TERN_REDIS_ADDR: {{ include "tern.redisAddr" $root | quote }}
{{- end }}
{{- if eq $comp "authd" }}
TERN_SESSION_TTL: {{ required "authd.sessionTtl" $c.sessionTtl | toString | quote }}
TERN_DELIVER_TTL: {{ required "authd.deliverTtl" $c.deliverTtl | toString | quote }}
TERN_ALLOW_PLAINTEXT: {{ $c.allowPlaintext | toString | quote }}
{{- $sep := toString $c.detailSeparator }}
{{- if ne (len $sep) 1 }}
{{- fail (printf "authd.detailSeparator must be one character, not %q" $sep) }}
{{- end }}
TERN_DETAIL_SEPARATOR: {{ $sep | quote }}
TERN_LOCKOUT_AFTER: {{ $c.lockoutAfter | int64 | toString | quote }}
TERN_LOCKOUT_WINDOW: {{ required "authd.lockoutWindow" $c.lockoutWindow | toString | quote }}
TERN_FAIL_DELAY: {{ required "authd.failDelay" $c.failDelay | toString | quote }}
TERN_FAIL_DELAY_MAX: {{ required "authd.failDelayMax" $c.failDelayMax | toString | quote }}
{{- with $root.Values.oauth }}
{{- if .issuer }}
TERN_OAUTH_ISSUER: {{ .issuer | quote }}
{{- with .audience }}
TERN_OAUTH_AUDIENCE: {{ . | quote }}
{{- end }}
TERN_OAUTH_USER_CLAIM: {{ required "oauth.userClaim" .userClaim | quote }}
TERN_OAUTH_KEYS_FILE: /etc/tern/oauth/keys.pem
{{- end }}
{{- end }}
{{- end }}
{{- if eq $comp "metad" }}
TERN_MIGRATE_ON_START: {{ $c.migrateOnStart | toString | quote }}
TERN_BLOBD_ADDR: {{ include "tern.grpcAddr" (dict "root" $root "component" "blobd") | quote }}
{{- $appendLimit := $c.appendLimit | int64 }}
{{- if gt $appendLimit ($root.Values.blobd.maxBlobSize | int64) }}
{{- fail (printf "metad.appendLimit (%d) must not exceed blobd.maxBlobSize (%d)" $appendLimit ($root.Values.blobd.maxBlobSize | int64)) }}
{{- end }}
TERN_APPEND_LIMIT: {{ $appendLimit | toString | quote }}
TERN_GC_MIN_EXPUNGED_WINDOW: {{ required "metad.gcMinExpungedWindow" $c.gcMinExpungedWindow | toString | quote }}
{{- end }}
{{- if eq $comp "blobd" }}
TERN_BLOB_DIR: {{ $c.blobDir | quote }}
TERN_MAX_BLOB_SIZE: {{ $c.maxBlobSize | int64 | toString | quote }}
TERN_PUT_RECEIPT_TTL: {{ required "blobd.putReceiptTtl" $c.putReceiptTtl | toString | quote }}
{{- end }}
{{- if include "tern.isFrontend" . }}
TERN_AUTHD_ADDR: {{ include "tern.grpcAddr" (dict "root" $root "component" "authd") | quote }}
{{- if $root.Values.metad.endpoints }}
TERN_METAD_ADDR: {{ join "," $root.Values.metad.endpoints | quote }}
{{- else }}
TERN_METAD_ADDR: {{ include "tern.grpcAddr" (dict "root" $root "component" "metad") | quote }}
{{- end }}
TERN_BLOBD_ADDR: {{ include "tern.grpcAddr" (dict "root" $root "component" "blobd") | quote }}
TERN_REDIS_ADDR: {{ include "tern.redisAddr" $root | quote }}
TERN_TLS_CERT: /etc/tern/tls/tls.crt
TERN_TLS_KEY: /etc/tern/tls/tls.key
{{- with $root.Values.proxyProtocol.trustedNetworks }}
TERN_PROXY_TRUSTED_NETWORKS: {{ join "," . | quote }}
{{- end }}
{{- end }}
{{- if eq $comp "imapd" }}
TERN_IMAP_LISTEN: {{ printf "0.0.0.0:%d" (int $c.ports.imap) | quote }}
TERN_IMAPS_LISTEN: {{ printf "0.0.0.0:%d" (int $c.ports.imaps) | quote }}
{{- /* APPENDLIMIT as advertised must be what metad enforces. */}}
TERN_APPEND_LIMIT: {{ $root.Values.metad.appendLimit | int64 | toString | quote }}
TERN_IMAP_MAX_SESSIONS_PER_USER: {{ $c.maxSessionsPerUser | int | toString | quote }}
TERN_SESSION_LEASE: {{ required "sessionRegistry.lease" $root.Values.sessionRegistry.lease | toString | quote }}
{{- else if eq $comp "pop3d" }}
TERN_POP3_LISTEN: {{ printf "0.0.0.0:%d" (int $c.ports.pop3) | quote }}
TERN_POP3S_LISTEN: {{ printf "0.0.0.0:%d" (int $c.ports.pop3s) | quote }}
TERN_POP3_LOCK_LEASE: {{ required "pop3d.lockLease" $c.lockLease | toString | quote }}
TERN_POP3_LOGIN_DELAY: {{ $c.loginDelay | default "0s" | toString | quote }}
TERN_POP3_MAX_SESSIONS_PER_USER: {{ $c.maxSessionsPerUser | int | toString | quote }}
TERN_SESSION_LEASE: {{ required "sessionRegistry.lease" $root.Values.sessionRegistry.lease | toString | quote }}
{{- else if eq $comp "lmtpd" }}
TERN_LMTP_LISTEN: {{ printf "0.0.0.0:%d" (int $c.ports.lmtp) | quote }}
TERN_SMTP_LISTEN: {{ printf "0.0.0.0:%d" (int $c.ports.smtp) | quote }}
{{- /* Recipient lookups in authd need the service token. */}}
TERN_SERVICE_TOKEN_FILE: {{ $secretDir }}/service-token
TERN_LOCAL_DOMAINS: {{ join "," $c.localDomains | quote }}
{{- with $c.hostname }}
TERN_HOSTNAME: {{ . | quote }}
{{- end }}
{{- $maxSize := $c.maxMessageSize | int64 }}
{{- if gt $maxSize ($root.Values.blobd.maxBlobSize | int64) }}
{{- fail (printf "lmtpd.maxMessageSize (%d) must not exceed blobd.maxBlobSize (%d)" $maxSize ($root.Values.blobd.maxBlobSize | int64)) }}
{{- end }}
TERN_MAX_MESSAGE_SIZE: {{ $maxSize | toString | quote }}
TERN_MAX_RECIPIENTS: {{ $c.maxRecipients | int64 | toString | quote }}
TERN_OVER_QUOTA_PERMANENT: {{ $c.overQuotaPermanent | toString | quote }}
{{- end }}
{{- end }}

{{/* Pod template annotations: config checksum, Prometheus scrape hints, user annotations. */}}
{{- define "tern.podAnnotations" -}}
{{- $c := index .root.Values .component -}}
checksum/config: {{ include "tern.configData" . | sha256sum }}
checksum/secrets: {{ include (print .root.Template.BasePath "/secret.yaml") .root | sha256sum }}
{{- if and (eq .component "authd") .root.Values.oauth.issuer }}
checksum/oauth: {{ .root.Values.oauth | toJson | sha256sum }}
{{- end }}
{{- if .root.Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ $c.metricsPort | toString | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with $c.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pod-level settings shared by every workload. */}}
{{- define "tern.podSpecCommon" -}}
{{- $c := index .root.Values .component -}}
automountServiceAccountToken: false
# Service links would inject TERN_AUTHD_PORT=tcp://... style variables into the
# TERN_* namespace the binaries read.
enableServiceLinks: false
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Container settings shared by every long-running service container. */}}
{{- define "tern.containerCommon" -}}
{{- $c := index .root.Values .component -}}
image: {{ include "tern.image" . }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
securityContext:
  {{- toYaml .root.Values.containerSecurityContext | nindent 2 }}
envFrom:
  - configMapRef:
      name: {{ include "tern.componentName" . }}
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  {{- with .root.Values.probes.liveness }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  {{- with .root.Values.probes.readiness }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with $c.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* TERN_INSTANCE from the pod name (the downward API). */}}
{{- define "tern.instanceEnv" -}}
- name: TERN_INSTANCE
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}

{{- define "tern.pgDsnEnv" -}}
- name: TERN_PG_DSN
  valueFrom:
    secretKeyRef:
      name: {{ include "tern.postgresSecretName" . }}
      key: {{ include "tern.postgresSecretKey" . }}
{{- end }}

{{/* Volume mounts and volumes: /tmp, and the secrets a component reads. */}}
{{- define "tern.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if include "tern.secretFiles" . }}
- name: tokens
  mountPath: /etc/tern/secrets
  readOnly: true
{{- end }}
{{- if and (eq .component "authd") .root.Values.oauth.issuer }}
- name: oauth-keys
  mountPath: /etc/tern/oauth
  readOnly: true
{{- end }}
{{- if include "tern.isFrontend" . }}
- name: frontend-tls
  mountPath: /etc/tern/tls
  readOnly: true
{{- end }}
{{- if .root.Values.grpcTLS.enabled }}
- name: grpc-tls
  mountPath: /etc/tern/grpc-tls
  readOnly: true
{{- end }}
{{- end }}

{{- define "tern.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- with include "tern.secretFiles" . }}
- name: tokens
  secret:
    secretName: {{ include "tern.tokenSecretName" $.root }}
    defaultMode: 0440
    items:
      {{- range splitList " " . }}
      - key: {{ . }}
        path: {{ . }}
      {{- end }}
{{- end }}
{{- if and (eq .component "authd") .root.Values.oauth.issuer }}
{{- $src := splitList " " (include "tern.oauthKeysSource" .root) }}
- name: oauth-keys
  {{- if eq (first $src) "secret" }}
  secret:
    secretName: {{ last $src }}
    defaultMode: 0440
  {{- else }}
  configMap:
    name: {{ last $src }}
    defaultMode: 0444
  {{- end }}
    items:
      - key: {{ .root.Values.oauth.keysKey | default "keys.pem" }}
        path: keys.pem
{{- end }}
{{- if include "tern.isFrontend" . }}
- name: frontend-tls
  secret:
    secretName: {{ include "tern.frontendTLSSecretName" .root }}
    defaultMode: 0440
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- if .root.Values.grpcTLS.enabled }}
- name: grpc-tls
  secret:
    secretName: {{ required "grpcTLS.enabled needs grpcTLS.secretName" .root.Values.grpcTLS.secretName }}
    defaultMode: 0440
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end }}

{{/* A PodDisruptionBudget spec body for a front-end. */}}
{{- define "tern.pdbBudget" -}}
{{- $pdb := (index .root.Values .component).pdb }}
{{- if $pdb.minAvailable -}}
minAvailable: {{ $pdb.minAvailable }}
{{- else -}}
maxUnavailable: {{ $pdb.maxUnavailable | default 1 }}
{{- end }}
{{- end }}
