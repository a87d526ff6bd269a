#!/usr/bin/env bash
# `make run`: a working local Tern cluster under ./var — a private PostgreSQL and Redis,
# schema migrations, every service built so far, and the demo user. Ctrl-C or SIGTERM stops
# everything cleanly; the next run reuses ./var.
#
#   deploy/local/run.sh [BUILD_DIR]
#
# Environment: TERN_VAR (default ./var), TERN_PORT_OFFSET (added to every port, default 0,
# so a second cluster can run beside the first), TERN_LOCAL_LISTEN (the address the IMAP,
# POP3, LMTP and SMTP listeners bind, default 127.0.0.1).
#
# REPLICAS (default 1): with 1, one tern-imapd, tern-pop3d and tern-lmtpd listen on the
# public ports themselves. With N >= 2, N replicas of each run behind HAProxy, as on
# Kubernetes behind a TCP load balancer: HAProxy listens on the public ports and speaks PROXY
# protocol v2 to the replicas, which trust it (127.0.0.0/8) and listen on 127.0.0.1 in a
# band of their own: replica i, port TERN_REPLICA_PORT_BASE (default 20000 +
# TERN_PORT_OFFSET) + 16*i + k, k = 0 IMAP, 1 IMAPS, 2 tern-imapd HTTP, 3 POP3, 4 POP3S,
# 5 tern-pop3d HTTP, 6 LMTP, 7 SMTP, 8 tern-lmtpd HTTP. HAProxy sends a replica connections
# only while its /readyz answers 200; a replica that exits is started again after about a
# second with the same flags. HAProxy's statistics page and Prometheus metrics are on
# 127.0.0.1:9107 + TERN_PORT_OFFSET.
#
# For scripts: $var/cluster.env holds shell assignments (REPLICAS, IMAPD_<i>_IMAP_PORT,
# IMAPD_<i>_IMAPS_PORT, IMAPD_<i>_HTTP, POP3D_<i>_{POP3_PORT,POP3S_PORT,HTTP},
# LMTPD_<i>_{LMTP_PORT,SMTP_PORT,HTTP}, HAPROXY_PID, HAPROXY_HTTP, REDIS_PORT), written once
# everything is ready (also with REPLICAS=1, then describing the single front-ends), and
# $var/run/<name>.pid the current pid of each front-end (imapd-0, pop3d-1, ...), of haproxy
# and of redis. Redis is started again too when it exits (in both modes), unless
# $var/run/redis.hold exists (a test keeping it down) or something already answers on its
# port (a test started its own: that one is left running and stopped with the cluster).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
var=${TERN_VAR:-$root/var}
off=${TERN_PORT_OFFSET:-0}
replicas=${REPLICAS:-1}
if ! [[ "$replicas" =~ ^[1-9][0-9]*$ ]]; then
  echo "tern-local: REPLICAS must be a positive number, not '$replicas'" >&2
  exit 1
fi

pg_port=$((15432 + off))
redis_port=$((16379 + off))
authd_port=$((7001 + off)); metad_port=$((7002 + off)); blobd_port=$((7003 + off))
authd_http=$((9101 + off)); metad_http=$((9102 + off)); blobd_http=$((9103 + off))
listen=${TERN_LOCAL_LISTEN:-127.0.0.1}
imap_port=$((1143 + off)); imaps_port=$((1993 + off)); imapd_http=$((9104 + off))
pop3_port=$((1110 + off)); pop3s_port=$((1995 + off)); pop3d_http=$((9105 + off))
lmtp_port=$((2424 + off)); smtp_port=$((2525 + off)); lmtpd_http=$((9106 + off))
haproxy_http=$((9107 + off))
band=${TERN_REPLICA_PORT_BASE:-$((20000 + off))}
if [ "$replicas" -ge 2 ] && [ $((band + 16 * replicas)) -gt 65536 ]; then
  echo "tern-local: $replicas replicas from port $band go past 65535" >&2
  exit 1
fi

# Port k (as in the header) of replica i.
rport() { echo $((band + 16 * $1 + $2)); }

mkdir -p "$var"/{log,redis,blobs,tls,secrets,run}
var=$(cd "$var" && pwd)
# Nothing a previous run left may mislead a script.
rm -f "$var"/run/*.pid "$var/run/redis.hold" "$var/cluster.env" "$var/haproxy.cfg"

log() { printf 'tern-local: %s\n' "$*"; }

# Supervised processes, by name: the command line (quoted for eval), the log file, and what
# happens when it exits: "fatal" ends the run, "restart" starts it again a second later.
declare -A proc_cmd proc_log proc_policy proc_pid restart_due
procs=()

launch() {  # name
  # exec, so that $! (and $var/run/<name>.pid) is the server itself, not a subshell.
  eval "exec ${proc_cmd[$1]}" >>"${proc_log[$1]}" 2>&1 &
  proc_pid[$1]=$!
  echo "$!" >"$var/run/$1.pid"
}

spawn() {  # name policy log_file command [args...]
  local name=$1
  proc_policy[$name]=$2
  proc_log[$name]=$3
  shift 3
  proc_cmd[$name]=$(printf '%q ' "$@")
  procs+=("$name")
  launch "$name"
}

redis_answers() { redis-cli -p "$redis_port" ping >/dev/null 2>&1; }

stop_all() {
  trap - INT TERM EXIT
  log "stopping"
  local i pid
  for ((i = ${#procs[@]} - 1; i >= 0; i--)); do  # HAProxy first, Redis last
    pid=${proc_pid[${procs[i]}]:-}
    [ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null || true
  done
  for name in "${procs[@]}"; do
    pid=${proc_pid[$name]:-}
    [ -z "$pid" ] || wait "$pid" 2>/dev/null || true
  done
  # A redis-server a test started in place of ours (see the header).
  pid=$(cat "$var/redis/redis.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
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
spawn redis restart "$var/log/redis.log" redis-server --port "$redis_port" --bind 127.0.0.1 \
  --dir "$var/redis" --pidfile "$var/redis/redis.pid" --appendonly yes --save ""
for _ in $(seq 100); do
  redis_answers && break
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
  spawn "$(basename "$name")" fatal "$var/log/$(basename "$name").log" \
    "$build/services/$name" --grpc-listen="127.0.0.1:$grpc" --http-listen="127.0.0.1:$http" "$@"
}

wait_ready() {  # name http_port
  for _ in $(seq 300); do
    if curl -fsS "http://127.0.0.1:$2/readyz" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "${proc_pid[$1]}" 2>/dev/null; then
      log "$1 exited while starting; see ${proc_log[$1]}"
      tail -n 5 "${proc_log[$1]}" || true
      exit 1
    fi
    sleep 0.1
  done
  log "$1 did not become ready; see ${proc_log[$1]}"
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
backends=(--tls-cert="$var/tls/tern.pem" --tls-key="$var/tls/tern.key"
  --authd-addr="127.0.0.1:$authd_port" --metad-addr="127.0.0.1:$metad_port"
  --blobd-addr="127.0.0.1:$blobd_port")
# Delivery: LMTP for the MTA in front of the cluster, inbound SMTP for the local domain.
lmtp_flags=(--hostname=localhost --local-domains="${TERN_LOCAL_DOMAINS:-example.test}"
  --postmaster="${TERN_POSTMASTER:-demo@example.test}")
imapd_bin="$build/services/imap/server/tern-imapd"
pop3d_bin="$build/services/pop3/server/tern-pop3d"
lmtpd_bin="$build/services/lmtp/server/tern-lmtpd"

if [ "$replicas" -eq 1 ]; then
  spawn imapd-0 fatal "$var/log/tern-imapd.log" "$imapd_bin" \
    --http-listen="127.0.0.1:$imapd_http" \
    --imap-listen="$listen:$imap_port" --imaps-listen="$listen:$imaps_port" "${backends[@]}"
  wait_ready imapd-0 "$imapd_http"
  spawn pop3d-0 fatal "$var/log/tern-pop3d.log" "$pop3d_bin" \
    --http-listen="127.0.0.1:$pop3d_http" \
    --pop3-listen="$listen:$pop3_port" --pop3s-listen="$listen:$pop3s_port" "${backends[@]}"
  wait_ready pop3d-0 "$pop3d_http"
  spawn lmtpd-0 fatal "$var/log/tern-lmtpd.log" "$lmtpd_bin" \
    --http-listen="127.0.0.1:$lmtpd_http" \
    --lmtp-listen="$listen:$lmtp_port" --smtp-listen="$listen:$smtp_port" "${lmtp_flags[@]}" \
    "${backends[@]}"
  wait_ready lmtpd-0 "$lmtpd_http"
  # Replica 0 is the single front-end, so that cluster.env has one format.
  r_imap=("$imap_port") r_imaps=("$imaps_port") r_imapd_http=("$imapd_http")
  r_pop3=("$pop3_port") r_pop3s=("$pop3s_port") r_pop3d_http=("$pop3d_http")
  r_lmtp=("$lmtp_port") r_smtp=("$smtp_port") r_lmtpd_http=("$lmtpd_http")
else
  r_imap=() r_imaps=() r_imapd_http=() r_pop3=() r_pop3s=() r_pop3d_http=()
  r_lmtp=() r_smtp=() r_lmtpd_http=()
  # Every listener of a replica expects a PROXY header from loopback, i.e. from HAProxy.
  replica=(--proxy-trusted-networks=127.0.0.0/8)
  for ((i = 0; i < replicas; i++)); do
    r_imap+=("$(rport $i 0)") r_imaps+=("$(rport $i 1)") r_imapd_http+=("$(rport $i 2)")
    r_pop3+=("$(rport $i 3)") r_pop3s+=("$(rport $i 4)") r_pop3d_http+=("$(rport $i 5)")
    r_lmtp+=("$(rport $i 6)") r_smtp+=("$(rport $i 7)") r_lmtpd_http+=("$(rport $i 8)")
    spawn "imapd-$i" restart "$var/log/tern-imapd-$i.log" "$imapd_bin" \
      --instance="imapd-$i" "${replica[@]}" --http-listen="127.0.0.1:${r_imapd_http[i]}" \
      --imap-listen="127.0.0.1:${r_imap[i]}" --imaps-listen="127.0.0.1:${r_imaps[i]}" \
      "${backends[@]}"
    spawn "pop3d-$i" restart "$var/log/tern-pop3d-$i.log" "$pop3d_bin" \
      --instance="pop3d-$i" "${replica[@]}" --http-listen="127.0.0.1:${r_pop3d_http[i]}" \
      --pop3-listen="127.0.0.1:${r_pop3[i]}" --pop3s-listen="127.0.0.1:${r_pop3s[i]}" \
      "${backends[@]}"
    spawn "lmtpd-$i" restart "$var/log/tern-lmtpd-$i.log" "$lmtpd_bin" \
      --instance="lmtpd-$i" "${replica[@]}" --http-listen="127.0.0.1:${r_lmtpd_http[i]}" \
      --lmtp-listen="127.0.0.1:${r_lmtp[i]}" --smtp-listen="127.0.0.1:${r_smtp[i]}" \
      "${lmtp_flags[@]}" "${backends[@]}"
  done
  for ((i = 0; i < replicas; i++)); do
    wait_ready "imapd-$i" "${r_imapd_http[i]}"
    wait_ready "pop3d-$i" "${r_pop3d_http[i]}"
    wait_ready "lmtpd-$i" "${r_lmtpd_http[i]}"
  done

  # HAProxy in front, as a TCP load balancer would be on Kubernetes.
  haproxy_backend() {  # name balance ports_array_name http_ports_array_name
    local name=$1 balance=$2 svc=${1%%-*} i
    local -n ports=$3 checks=$4
    cat <<CFG

backend $name
  balance $balance
  option httpchk
  http-check send meth GET uri /readyz
  http-check expect status 200
CFG
    for ((i = 0; i < replicas; i++)); do
      echo "  server $svc-$i 127.0.0.1:${ports[i]} check port ${checks[i]}"
    done
  }
  haproxy_frontend() {  # name port backend
    printf '\nfrontend %s\n  bind %s:%s\n  default_backend %s\n' "$1" "$listen" "$2" "$3"
  }
  {
    cat <<CFG
# Written by deploy/local/run.sh (REPLICAS=$replicas); rewritten on every run.
global
  log stdout format raw local0 info

defaults page
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s

# HAProxy's own page: /stats (add ;csv for CSV), Prometheus /metrics, /healthz.
frontend stats
  bind 127.0.0.1:$haproxy_http
  monitor-uri /healthz
  http-request use-service prometheus-exporter if { path /metrics }
  stats enable
  stats uri /stats
  stats refresh 5s

defaults
  mode tcp
  log global
  option tcplog
  timeout connect 2s
  # RFC 3501 5.4: an idle IMAP session may last 30 minutes (RFC 2177: IDLE is renewed
  # within 29), so neither side of a proxied connection may time out before that.
  timeout client 31m
  timeout server 31m
  timeout check 2s
  # A connection refused by a replica that just died is retried on another one.
  retries 3
  option redispatch 1
  default-server send-proxy-v2 inter 1s fall 2 rise 1 observe layer4 error-limit 1 on-error mark-down
CFG
    haproxy_frontend imap "$imap_port" imapd-imap
    haproxy_backend imapd-imap leastconn r_imap r_imapd_http
    haproxy_frontend imaps "$imaps_port" imapd-imaps
    haproxy_backend imapd-imaps leastconn r_imaps r_imapd_http
    haproxy_frontend pop3 "$pop3_port" pop3d-pop3
    haproxy_backend pop3d-pop3 leastconn r_pop3 r_pop3d_http
    haproxy_frontend pop3s "$pop3s_port" pop3d-pop3s
    haproxy_backend pop3d-pop3s leastconn r_pop3s r_pop3d_http
    haproxy_frontend lmtp "$lmtp_port" lmtpd-lmtp
    haproxy_backend lmtpd-lmtp roundrobin r_lmtp r_lmtpd_http
    haproxy_frontend smtp "$smtp_port" lmtpd-smtp
    haproxy_backend lmtpd-smtp roundrobin r_smtp r_lmtpd_http
  } >"$var/haproxy.cfg"
  if ! haproxy -c -f "$var/haproxy.cfg" >>"$var/log/haproxy.log" 2>&1; then
    log "HAProxy refused $var/haproxy.cfg; see $var/log/haproxy.log"
    tail -n 5 "$var/log/haproxy.log" || true
    exit 1
  fi
  # -db: in the foreground, logging to stdout (a server going up or down is also a warning on
  # stderr, so it shows twice; -q would silence both, as it closes stdout).
  spawn haproxy fatal "$var/log/haproxy.log" haproxy -db -f "$var/haproxy.cfg"
  # Ready when it serves its page (so every listener is bound) and sees every replica up.
  haproxy_up=""
  for _ in $(seq 100); do
    if csv=$(curl -fsS "http://127.0.0.1:$haproxy_http/stats;csv" 2>/dev/null) &&
       awk -F, '$1 !~ /^#/ && NF > 17 && $2 != "FRONTEND" && $2 != "BACKEND" {
                  n++; if ($18 !~ /^UP/) down++ }
                END { exit !(n > 0 && down == 0) }' <<<"$csv"; then
      haproxy_up=1
      break
    fi
    kill -0 "${proc_pid[haproxy]}" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$haproxy_up" ]; then
    log "haproxy did not come up with every replica; see $var/log/haproxy.log"
    exit 1
  fi
fi

echo demo | "$build/services/ctl/ternctl" user add demo@example.test --password-stdin \
  --if-not-exists --authd-addr="127.0.0.1:$authd_port" >/dev/null

{
  echo "REPLICAS=$replicas"
  for ((i = 0; i < replicas; i++)); do
    printf 'IMAPD_%d_IMAP_PORT=%s IMAPD_%d_IMAPS_PORT=%s IMAPD_%d_HTTP=%s\n' \
      "$i" "${r_imap[i]}" "$i" "${r_imaps[i]}" "$i" "${r_imapd_http[i]}"
    printf 'POP3D_%d_POP3_PORT=%s POP3D_%d_POP3S_PORT=%s POP3D_%d_HTTP=%s\n' \
      "$i" "${r_pop3[i]}" "$i" "${r_pop3s[i]}" "$i" "${r_pop3d_http[i]}"
    printf 'LMTPD_%d_LMTP_PORT=%s LMTPD_%d_SMTP_PORT=%s LMTPD_%d_HTTP=%s\n' \
      "$i" "${r_lmtp[i]}" "$i" "${r_smtp[i]}" "$i" "${r_lmtpd_http[i]}"
  done
  if [ "$replicas" -ge 2 ]; then
    echo "HAPROXY_PID=${proc_pid[haproxy]} HAPROXY_HTTP=$haproxy_http"
  else
    echo "HAPROXY_PID= HAPROXY_HTTP="
  fi
  echo "REDIS_PORT=$redis_port"
} >"$var/cluster.env.tmp"
mv "$var/cluster.env.tmp" "$var/cluster.env"

if [ "$replicas" -eq 1 ]; then
  frontends=$(cat <<INFO
  tern-imapd   IMAP 127.0.0.1:$imap_port (STARTTLS), IMAPS 127.0.0.1:$imaps_port
                                  http://127.0.0.1:$imapd_http/{healthz,readyz,metrics}
  tern-pop3d   POP3 127.0.0.1:$pop3_port (STLS), POP3S 127.0.0.1:$pop3s_port
                                  http://127.0.0.1:$pop3d_http/{healthz,readyz,metrics}
  tern-lmtpd   LMTP 127.0.0.1:$lmtp_port, SMTP 127.0.0.1:$smtp_port (STARTTLS; local domain example.test)
                                  http://127.0.0.1:$lmtpd_http/{healthz,readyz,metrics}
INFO
)
else
  frontends=$(
    cat <<INFO
  haproxy      IMAP 127.0.0.1:$imap_port (STARTTLS), IMAPS 127.0.0.1:$imaps_port, POP3 127.0.0.1:$pop3_port (STLS),
               POP3S 127.0.0.1:$pop3s_port, LMTP 127.0.0.1:$lmtp_port, SMTP 127.0.0.1:$smtp_port (STARTTLS; local domain
               example.test), PROXY v2 to $replicas replicas of each front-end (config $var/haproxy.cfg)
                                  http://127.0.0.1:$haproxy_http/{stats,metrics,healthz}
INFO
    for ((i = 0; i < replicas; i++)); do
      cat <<INFO
  imapd-$i      IMAP :${r_imap[i]} IMAPS :${r_imaps[i]}      http://127.0.0.1:${r_imapd_http[i]}/{healthz,readyz,metrics}
  pop3d-$i      POP3 :${r_pop3[i]} POP3S :${r_pop3s[i]}      http://127.0.0.1:${r_pop3d_http[i]}/{healthz,readyz,metrics}
  lmtpd-$i      LMTP :${r_lmtp[i]} SMTP :${r_smtp[i]}       http://127.0.0.1:${r_lmtpd_http[i]}/{healthz,readyz,metrics}
INFO
    done
    echo "               (replicas on 127.0.0.1 expect a PROXY header: connect through haproxy)"
  )
fi

cat <<INFO

Tern is running (logs in $var/log, Ctrl-C stops everything):

  service      gRPC (mTLS)        health and metrics
  tern-authd   127.0.0.1:$authd_port     http://127.0.0.1:$authd_http/{healthz,readyz,metrics}
  tern-metad   127.0.0.1:$metad_port     http://127.0.0.1:$metad_http/{healthz,readyz,metrics}
  tern-blobd   127.0.0.1:$blobd_port     http://127.0.0.1:$blobd_http/{healthz,readyz,metrics}
$frontends
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

# Stay up until a signal, or until a process whose exit is fatal dies. A front-end replica
# (and Redis) is started again a second after it exits, as Kubernetes would.
while :; do
  for name in "${procs[@]}"; do
    if [ -n "${restart_due[$name]:-}" ]; then
      if [ "$name" = redis ] && [ -e "$var/run/redis.hold" ]; then
        continue  # a test keeps Redis down until it removes the file
      fi
      unset "restart_due[$name]"
      if [ "$name" = redis ] && redis_answers; then
        log "redis: another redis-server answers on port $redis_port; leaving it running"
        proc_pid[redis]=""
        continue
      fi
      launch "$name"
      log "$name started again (pid ${proc_pid[$name]})"
      continue
    fi
    pid=${proc_pid[$name]}
    [ -n "$pid" ] || continue
    kill -0 "$pid" 2>/dev/null && continue
    status=0
    wait "$pid" 2>/dev/null || status=$?
    if [ "${proc_policy[$name]}" = restart ]; then
      log "$name exited (pid $pid, status $status); starting it again in 1s"
      proc_pid[$name]=""
      restart_due[$name]=1
    else
      log "$name exited (pid $pid, status $status); see ${proc_log[$name]}"
      exit 1
    fi
  done
  sleep 1 &
  wait $! || true
done 2>>"$var/log/supervisor.log"  # bash's notices of killed children ("Killed ...")
