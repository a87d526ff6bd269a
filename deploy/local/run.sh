#!/usr/bin/env bash
# `make run`: a working local Tern cluster under ./var — a private PostgreSQL and Redis,
# schema migrations, every service built so far, and the demo user. Ctrl-C or SIGTERM stops
# everything cleanly; the next run reuses ./var.
#
#   deploy/local/run.sh [BUILD_DIR]
#
# Environment: TERN_VAR (default ./var), TERN_PORT_OFFSET (added to every port, default 0,
# so a second cluster can run beside the first), TERN_LOCAL_LISTEN (the address the IMAP and
# POP3 listeners bind, default 127.0.0.1).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
var=${TERN_VAR:-$root/var}
off=${TERN_PORT_OFFSET:-0}

pg_port=$((15432 + off))
redis_port=$((16379 + off))
authd_port=$((7001 + off)); metad_port=$((7002 + off)); blobd_port=$((7003 + off))
authd_http=$((9101 + off)); metad_http=$((9102 + off)); blobd_http=$((9103 + off))
listen=${TERN_LOCAL_LISTEN:-127.0.0.1}
imap_port=$((1143 + off)); imaps_port=$((1993 + off)); imapd_http=$((9104 + off))
pop3_port=$((1110 + off)); pop3s_port=$((1995 + off)); pop3d_http=$((9105 + off))
lmtp_port=$((2424 + off)); smtp_port=$((2525 + off)); lmtpd_http=$((9106 + off))

mkdir -p "$var"/{log,redis,blobs,tls,secrets}
var=$(cd "$var" && pwd)
pids=()

log() { printf 'tern-local: %s\n' "$*"; }

stop_all() {
  trap - INT TERM EXIT
  log "stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$here/pgctl.sh" stop "$var/pg" || true
  log "stopped"
}
trap 'stop_all; exit 0' INT TERM
trap 'stop_all' EXIT

# Secrets and certificates, made once and kept in ./var.
(
  umask 077
  [ -s "$var/secrets/admin.token" ] || openssl rand -hex 32 >"$var/secrets/admin.token"
  [ -s "$var/secrets/service.token" ] || openssl rand -hex 32 >"$var/secrets/service.token"
  # Key rings: "<key_id> <hex secret>" per line; the first line signs.
  [ -s "$var/secrets/token.key" ] || echo "local1 $(openssl rand -hex 32)" >"$var/secrets/token.key"
  [ -s "$var/secrets/blob.key" ] || echo "local1 $(openssl rand -hex 32)" >"$var/secrets/blob.key"
)
if [ ! -s "$var/tls/tern.pem" ]; then
  log "generating a local CA and a certificate for localhost/127.0.0.1 in $var/tls"
  (
    cd "$var/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
      -subj "/CN=Tern local CA" -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
      -keyout tern.key -out tern.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >ext
    openssl x509 -req -in tern.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile ext -out tern.pem 2>/dev/null
    chmod 600 ca.key tern.key
    rm -f tern.csr ext
  )
fi

# PostgreSQL.
"$here/pgctl.sh" init "$var/pg"
"$here/pgctl.sh" start "$var/pg" "$pg_port"
log "postgresql on 127.0.0.1:$pg_port (data in $var/pg)"

# Redis.
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$var/redis" \
  --pidfile "$var/redis/redis.pid" --appendonly yes --save "" \
  >>"$var/log/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
log "redis on 127.0.0.1:$redis_port"

export TERN_PG_DSN="host=127.0.0.1 port=$pg_port dbname=tern user=tern"
export TERN_REDIS_ADDR="127.0.0.1:$redis_port"
export TERN_GRPC_TLS_CERT="$var/tls/tern.pem"
export TERN_GRPC_TLS_KEY="$var/tls/tern.key"
export TERN_GRPC_TLS_CA="$var/tls/ca.pem"
export TERN_ADMIN_TOKEN_FILE="$var/secrets/admin.token"
export TERN_SERVICE_TOKEN_FILE="$var/secrets/service.token"
export TERN_TOKEN_KEY_FILE="$var/secrets/token.key"
export TERN_BLOB_KEY_FILE="$var/secrets/blob.key"
export TERN_INSTANCE=local

start() {  # name grpc_port http_port [extra flags]
  local name=$1 grpc=$2 http=$3
  shift 3
  "$build/services/$name" --grpc-listen="127.0.0.1:$grpc" --http-listen="127.0.0.1:$http" "$@" \
    >>"$var/log/$(basename "$name").log" 2>&1 &
  pids+=($!)
}

wait_ready() {  # name http_port
  for _ in $(seq 300); do
    if curl -fsS "http://127.0.0.1:$2/readyz" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  log "$1 did not become ready; see $var/log/$1.log"
  curl -sS "http://127.0.0.1:$2/readyz" || true
  exit 1
}

# metad first: it applies the schema migrations.
start metadata/tern-metad "$metad_port" "$metad_http" --migrate-on-start=true \
  --blobd-addr="127.0.0.1:$blobd_port"
wait_ready tern-metad "$metad_http"
start auth/tern-authd "$authd_port" "$authd_http"
start blob/tern-blobd "$blobd_port" "$blobd_http" --blob-dir="$var/blobs"
wait_ready tern-authd "$authd_http"
wait_ready tern-blobd "$blobd_http"

# Front-ends: clients see the local certificate (trust $var/tls/ca.pem).
"$build/services/imap/server/tern-imapd" --http-listen="127.0.0.1:$imapd_http" \
  --imap-listen="$listen:$imap_port" --imaps-listen="$listen:$imaps_port" \
  --tls-cert="$var/tls/tern.pem" --tls-key="$var/tls/tern.key" \
  --authd-addr="127.0.0.1:$authd_port" --metad-addr="127.0.0.1:$metad_port" \
  --blobd-addr="127.0.0.1:$blobd_port" >>"$var/log/tern-imapd.log" 2>&1 &
pids+=($!)
wait_ready tern-imapd "$imapd_http"
"$build/services/pop3/server/tern-pop3d" --http-listen="127.0.0.1:$pop3d_http" \
  --pop3-listen="$listen:$pop3_port" --pop3s-listen="$listen:$pop3s_port" \
  --tls-cert="$var/tls/tern.pem" --tls-key="$var/tls/tern.key" \
  --authd-addr="127.0.0.1:$authd_port" --metad-addr="127.0.0.1:$metad_port" \
  --blobd-addr="127.0.0.1:$blobd_port" >>"$var/log/tern-pop3d.log" 2>&1 &
pids+=($!)
wait_ready tern-pop3d "$pop3d_http"
# Delivery: LMTP for the MTA in front of the cluster, inbound SMTP for the local domain.
"$build/services/lmtp/server/tern-lmtpd" --http-listen="127.0.0.1:$lmtpd_http" \
  --lmtp-listen="$listen:$lmtp_port" --smtp-listen="$listen:$smtp_port" \
  --hostname=localhost --local-domains="${TERN_LOCAL_DOMAINS:-example.test}" \
  --postmaster="${TERN_POSTMASTER:-demo@example.test}" \
  --tls-cert="$var/tls/tern.pem" --tls-key="$var/tls/tern.key" \
  --authd-addr="127.0.0.1:$authd_port" --metad-addr="127.0.0.1:$metad_port" \
  --blobd-addr="127.0.0.1:$blobd_port" >>"$var/log/tern-lmtpd.log" 2>&1 &
pids+=($!)
wait_ready tern-lmtpd "$lmtpd_http"

echo demo | "$build/services/ctl/ternctl" user add demo@example.test --password-stdin \
  --if-not-exists --authd-addr="127.0.0.1:$authd_port" >/dev/null

cat <<INFO

Tern is running (logs in $var/log, Ctrl-C stops everything):

  service      gRPC (mTLS)        health and metrics
  tern-authd   127.0.0.1:$authd_port     http://127.0.0.1:$authd_http/{healthz,readyz,metrics}
  tern-metad   127.0.0.1:$metad_port     http://127.0.0.1:$metad_http/{healthz,readyz,metrics}
  tern-blobd   127.0.0.1:$blobd_port     http://127.0.0.1:$blobd_http/{healthz,readyz,metrics}
  tern-imapd   IMAP 127.0.0.1:$imap_port (STARTTLS), IMAPS 127.0.0.1:$imaps_port
                                  http://127.0.0.1:$imapd_http/{healthz,readyz,metrics}
  tern-pop3d   POP3 127.0.0.1:$pop3_port (STLS), POP3S 127.0.0.1:$pop3s_port
                                  http://127.0.0.1:$pop3d_http/{healthz,readyz,metrics}
  tern-lmtpd   LMTP 127.0.0.1:$lmtp_port, SMTP 127.0.0.1:$smtp_port (STARTTLS; local domain example.test)
                                  http://127.0.0.1:$lmtpd_http/{healthz,readyz,metrics}
  postgresql   127.0.0.1:$pg_port    psql -h 127.0.0.1 -p $pg_port -U tern tern
  redis        127.0.0.1:$redis_port    redis-cli -p $redis_port

  demo user    demo@example.test / demo
  ternctl      export the environment below, then e.g. ternctl user list, ternctl mailbox list
               demo@example.test, ternctl import-mbox demo@example.test FILE, ternctl blob-gc
    export TERN_AUTHD_ADDR=127.0.0.1:$authd_port TERN_METAD_ADDR=127.0.0.1:$metad_port \\
      TERN_BLOBD_ADDR=127.0.0.1:$blobd_port TERN_ADMIN_TOKEN_FILE=$var/secrets/admin.token \\
      TERN_TOKEN_KEY_FILE=$var/secrets/token.key TERN_SERVICE_TOKEN_FILE=$var/secrets/service.token \\
      TERN_GRPC_TLS_CERT=$var/tls/tern.pem TERN_GRPC_TLS_KEY=$var/tls/tern.key \\
      TERN_GRPC_TLS_CA=$var/tls/ca.pem PATH=$build/services/ctl:\$PATH

  imap client  curl --cacert $var/tls/ca.pem -u demo@example.test:demo imaps://localhost:$imaps_port/INBOX
  pop3 client  curl --cacert $var/tls/ca.pem -u demo@example.test:demo pop3s://localhost:$pop3s_port/
  deliver      swaks --server 127.0.0.1:$smtp_port --to demo@example.test
               swaks --protocol LMTP --server 127.0.0.1:$lmtp_port --to demo@example.test
INFO
log "ready"

# Stay up until a signal, or until a service dies.
while :; do
  for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "a process exited (pid $pid); see $var/log"
      exit 1
    fi
  done
  sleep 1 &
  wait $! || true
done
