#!/usr/bin/env bash
# Runs client test scripts against a fresh local cluster (deploy/local/run.sh: PostgreSQL,
# Redis, authd, metad, blobd, imapd, pop3d, lmtpd) on ports shifted by an offset, then stops it.
#
#   with_cluster.sh BUILD_DIR SCRIPT [SCRIPT...]
#
# REPLICAS=N (2 to 4; default 1) runs N replicas of each front-end behind HAProxy (see
# deploy/local/run.sh); the public ports below are then HAProxy's.
#
# Each script runs with the cluster's coordinates in its environment:
#   IMAP_PORT IMAPS_PORT POP3_PORT POP3S_PORT LMTP_PORT SMTP_PORT TERN_CA (CA bundle for the
#   TLS certificate) TERN_VAR
#   IMAPD_HTTP POP3D_HTTP LMTPD_HTTP (the HTTP endpoints of replica 0)
#   everything in $TERN_VAR/cluster.env: REPLICAS, IMAPD_<i>_{IMAP_PORT,IMAPS_PORT,HTTP},
#   POP3D_<i>_{POP3_PORT,POP3S_PORT,HTTP}, LMTPD_<i>_{LMTP_PORT,SMTP_PORT,HTTP} per replica,
#   HAPROXY_PID HAPROXY_HTTP (empty with one replica), REDIS_PORT; a replica's pid is in
#   $TERN_VAR/run/<imapd|pop3d|lmtpd>-<i>.pid, Redis's in $TERN_VAR/redis/redis.pid (killed,
#   it is started again within about 2 s; $TERN_VAR/run/redis.hold keeps it down)
#   IMAPD_BIN POP3D_BIN LMTPD_BIN METAD_BIN TEST_{AUTHD,METAD,BLOBD,REDIS}_ADDR TEST_PG_DSN (to
#   start more processes against the same cluster)
#   TERNCTL (ternctl with the admin environment) NEW_USER (a script that creates a fresh
#   user and prints "address password").
set -euo pipefail
build=$(cd "$1" && pwd)
replicas=${REPLICAS:-1}
case $replicas in
  [1-4]) ;;
  *) echo "with_cluster.sh: REPLICAS must be 1 to 4 (a slot's replica band has 64 ports)"; exit 1 ;;
esac
shift
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tern-test-imap.XXXXXX")
chmod 755 "$tmp"  # PostgreSQL runs as its own user
# OAUTHBEARER: an issuer whose RSA key the tests hold, so they can sign tokens (RFC 7628).
openssl genrsa -out "$tmp/oauth.key" 2048 2>/dev/null
{ echo "kid: test1"; openssl rsa -in "$tmp/oauth.key" -pubout 2>/dev/null; } >"$tmp/oauth.pub"
export TERN_OAUTH_ISSUER=https://issuer.tern.test TERN_OAUTH_KEYS_FILE="$tmp/oauth.pub"
export TEST_OAUTH_KEY="$tmp/oauth.key" TEST_OAUTH_KID=test1
# Short pre-login autologout so a test can watch it; front-ends on every interface so a test
# can connect from a non-loopback address (where plaintext login is refused).
export TERN_IMAP_LOGIN_TIMEOUT=${TERN_IMAP_LOGIN_TIMEOUT:-5s}
export TERN_POP3_LOGIN_TIMEOUT=${TERN_POP3_LOGIN_TIMEOUT:-5s}
# Short-lived session tokens, so the front-end's renewal runs during the tests (and a test
# can outwait a token: transport_test.test_token_renewed_while_idle).
export TERN_SESSION_TTL=${TERN_SESSION_TTL:-20s}
export TERN_LOCAL_LISTEN=${TERN_LOCAL_LISTEN:-0.0.0.0}

# Ports away from the defaults and below the ephemeral range. Concurrent runs (ctest -j)
# take distinct slots (mkdir is atomic); a stride of 8 keeps their ports apart, because no
# two service ports differ by a small multiple of 8 (7001-7003, 9101-9105, 1993/1995 differ
# by 1..4).
# Another test's cluster can still hold a port by coincidence: then the next slot is tried.
# Replicas (REPLICAS >= 2) listen in a band of 64 ports per slot from 23000 (slot 49: 26136),
# above every slot's shifted service ports (at most 9107 + 12992, HAProxy's page) and below
# the PostgreSQL and Redis ones (from 15432 + 12600) and the ephemeral range.
slots=${TMPDIR:-/tmp}/tern-test-port-slots
mkdir -p "$slots"
slot=""
run_pid=""
cleanup() {
  if [ -n "$run_pid" ]; then
    kill -TERM "$run_pid" 2>/dev/null || true
    wait "$run_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  [ -z "$slot" ] || rm -rf "$slots/$slot"
}
trap cleanup EXIT
take_slot() {  # first free slot after $1
  for s in $(seq "$1" 49); do
    if mkdir "$slots/$s" 2>/dev/null; then echo $$ >"$slots/$s/pid"; slot=$s; return 0; fi
    owner=$(cat "$slots/$s/pid" 2>/dev/null || true)  # a slot left by a run that died
    if [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; then
      rm -rf "$slots/$s"
      if mkdir "$slots/$s" 2>/dev/null; then echo $$ >"$slots/$s/pid"; slot=$s; return 0; fi
    fi
  done
  return 1
}
log="$tmp/run.log"
started=""
next=0
for attempt in 1 2 3; do
  take_slot $next || { echo "no free port slot in $slots"; exit 1; }
  off=$((12600 + slot * 8))
  rm -rf "$tmp/var"
  TERN_VAR="$tmp/var" TERN_PORT_OFFSET=$off REPLICAS=$replicas \
    TERN_REPLICA_PORT_BASE=$((23000 + slot * 64)) \
    "$root/deploy/local/run.sh" "$build" >"$log" 2>&1 &
  run_pid=$!
  for _ in $(seq 600); do
    if grep -q 'tern-local: ready' "$log"; then started=1; break; fi
    kill -0 "$run_pid" 2>/dev/null || break
    sleep 0.2
  done
  [ -n "$started" ] && break
  echo "attempt $attempt: the local cluster did not start on offset $off:"
  tail -n 20 "$log"
  kill -TERM "$run_pid" 2>/dev/null || true
  wait "$run_pid" 2>/dev/null || true
  run_pid=""
  rm -rf "$slots/$slot"
  next=$((slot + 1))
  slot=""
done
[ -n "$started" ] || { echo "the local cluster did not start"; exit 1; }

v="$tmp/var"
export IMAP_PORT=$((1143 + off)) IMAPS_PORT=$((1993 + off)) TERN_CA="$v/tls/ca.pem" TERN_VAR="$v"
set -a  # REPLICAS, the ports of every replica, HAPROXY_PID, ... (deploy/local/run.sh)
. "$v/cluster.env"
set +a
export IMAPD_HTTP=$IMAPD_0_HTTP
export POP3_PORT=$((1110 + off)) POP3S_PORT=$((1995 + off)) POP3D_HTTP=$POP3D_0_HTTP
export POP3D_BIN="$build/services/pop3/server/tern-pop3d"
export LMTP_PORT=$((2424 + off)) SMTP_PORT=$((2525 + off)) LMTPD_HTTP=$LMTPD_0_HTTP
export LMTPD_BIN="$build/services/lmtp/server/tern-lmtpd"
export METAD_BIN="$build/services/metadata/tern-metad"
export TEST_PG_DSN="host=127.0.0.1 port=$((15432 + off)) dbname=tern user=tern"
# What a test needs to start another tern-imapd against the same cluster.
export IMAPD_BIN="$build/services/imap/server/tern-imapd"
export TEST_AUTHD_ADDR=127.0.0.1:$((7001 + off)) TEST_METAD_ADDR=127.0.0.1:$((7002 + off))
export TEST_BLOBD_ADDR=127.0.0.1:$((7003 + off)) TEST_REDIS_ADDR=127.0.0.1:$((16379 + off))
ctl_env="TERN_AUTHD_ADDR=127.0.0.1:$((7001 + off)) TERN_METAD_ADDR=127.0.0.1:$((7002 + off))"
ctl_env+=" TERN_BLOBD_ADDR=127.0.0.1:$((7003 + off)) TERN_ADMIN_TOKEN_FILE=$v/secrets/admin.token"
ctl_env+=" TERN_TOKEN_KEY_FILE=$v/secrets/token.key TERN_SERVICE_TOKEN_FILE=$v/secrets/service.token"
ctl_env+=" TERN_GRPC_TLS_CERT=$v/tls/tern.pem TERN_GRPC_TLS_KEY=$v/tls/tern.key TERN_GRPC_TLS_CA=$v/tls/ca.pem"
cat >"$tmp/ternctl" <<SH
#!/usr/bin/env bash
exec env $ctl_env "$build/services/ctl/ternctl" "\$@"
SH
cat >"$tmp/new_user" <<'SH'
#!/usr/bin/env bash
# Creates a fresh user; prints "address password".
set -euo pipefail
addr="u$(date +%s%N)$RANDOM@example.test"
pass="pw-$RANDOM$RANDOM"
echo "$pass" | "$TERNCTL" user add "$addr" --password-stdin >/dev/null
echo "$addr $pass"
SH
chmod +x "$tmp/ternctl" "$tmp/new_user"
export TERNCTL="$tmp/ternctl" NEW_USER="$tmp/new_user"

status=0
for script in "$@"; do
  echo "=== $script"
  if ! "$script"; then
    echo "=== FAILED: $script"
    status=1
  fi
done
if [ $status -ne 0 ]; then
  for f in "$v"/log/tern-imapd*.log; do
    echo "--- $(basename "$f" .log) log (last 80 lines)"
    tail -n 80 "$f" || true
  done
  if [ "$replicas" -ge 2 ]; then
    echo "--- haproxy log (last 40 lines)"
    tail -n 40 "$v/log/haproxy.log" || true
  fi
fi
exit $status
