{{/* Names and labels. */}}
{{- define "strata.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "strata.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "strata.selectorLabels" -}}
app.kubernetes.io/name: {{ include "strata.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "strata.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "strata.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "strata.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "strata.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "strata.multi" -}}
{{- if or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled -}}true{{- end -}}
{{- end -}}

{{- define "strata.publicUrl" -}}
{{- if .Values.publicUrl -}}
{{- .Values.publicUrl -}}
{{- else if .Values.ingress.enabled -}}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.ingress.host -}}
{{- end -}}
{{- end -}}

{{/*
Refuses values that would lose data or updates, saying why. Several replicas share nothing but
the database, the bucket and the repositories volume: SQLite and the local object store live in
one pod's files, and a ReadWriteOnce volume mounts on one node.
*/}}
{{- define "strata.validate" -}}
{{- $multi := or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled -}}
{{- if not (has .Values.database.engine (list "sqlite" "postgres")) -}}
{{- fail (printf "database.engine must be sqlite or postgres, not %q" .Values.database.engine) -}}
{{- end -}}
{{- if not (has .Values.storage.backend (list "local" "s3" "gcs" "azure")) -}}
{{- fail (printf "storage.backend must be local, s3, gcs or azure, not %q" .Values.storage.backend) -}}
{{- end -}}
{{- if not (has (toString .Values.encryption.mode) (list "off" "on" "strict")) -}}
{{- fail (printf "encryption.mode must be off, on or strict, not %q" (toString .Values.encryption.mode)) -}}
{{- end -}}
{{- if and $multi (eq .Values.database.engine "sqlite") -}}
{{- fail "more than one replica (replicaCount > 1 or autoscaling) needs database.engine: postgres: SQLite is a file in one pod, and replicas on it would each see their own users, links and refs" -}}
{{- end -}}
{{- if and $multi (eq .Values.storage.backend "local") -}}
{{- fail "more than one replica needs a bucket (storage.backend: s3, gcs or azure): the local object store is one pod's files" -}}
{{- end -}}
{{- if and $multi (ne .Values.persistence.accessMode "ReadWriteMany") -}}
{{- fail (printf "more than one replica needs persistence.accessMode: ReadWriteMany for the shared repositories, not %s: a %s volume mounts on one node only" .Values.persistence.accessMode .Values.persistence.accessMode) -}}
{{- end -}}
{{- if and $multi (not .Values.persistence.enabled) -}}
{{- fail "more than one replica needs persistence.enabled: the git repositories must be on a volume every replica mounts" -}}
{{- end -}}
{{- if and (eq .Values.database.engine "postgres") (not .Values.database.existingSecret) -}}
{{- fail "database.engine: postgres needs database.existingSecret, the Secret holding the database URL" -}}
{{- end -}}
{{- if and (ne .Values.storage.backend "local") (not .Values.storage.bucket) -}}
{{- fail (printf "storage.backend: %s needs storage.bucket" .Values.storage.backend) -}}
{{- end -}}
{{- if and $multi (not .Values.keys.existingSecret) -}}
{{- fail "more than one replica needs keys.existingSecret (jwt-rs256.pem and url-signing-keys): replicas generating their own keys would refuse each other's tokens and signed URLs" -}}
{{- end -}}
{{- if and .Values.podDisruptionBudget.enabled .Values.autoscaling.enabled (le (int .Values.autoscaling.minReplicas) (int .Values.podDisruptionBudget.minAvailable)) -}}
{{- fail "podDisruptionBudget.minAvailable must be below autoscaling.minReplicas: at the minimum, every node drain would be blocked" -}}
{{- end -}}
{{- if and .Values.podDisruptionBudget.enabled (not $multi) -}}
{{- fail "podDisruptionBudget.enabled with one replica would block every node drain: enable it with several replicas" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- fail "autoscaling.minReplicas is larger than autoscaling.maxReplicas" -}}
{{- end -}}
{{- if and $multi (ne (toString .Values.encryption.mode) "off") (not .Values.encryption.existingSecret) -}}
{{- fail "encryption with more than one replica needs encryption.existingSecret: every replica must use the same master key" -}}
{{- end -}}
{{- end -}}
